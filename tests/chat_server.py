"""A real local HTTP server speaking the OpenAI chat-completions API, with scripted replies.

It binds 127.0.0.1 on a free port and serves `POST /v1/chat/completions` from a thread. Each
request takes the next scripted reply (the last one repeats): a verdict, any text as the message
content (malformed JSON, a wrong schema), an HTTP error status, a delay beyond the client's
timeout, a reply cut at its token budget, or a 400 for requests that ask for `response_format`
(servers without JSON mode).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True, slots=True)
class Scripted:
    """One reply: `content` as the assistant message, or `status` as an HTTP error."""

    content: str = ""
    status: int = 200
    delay: float = 0.0  # seconds before answering
    reject_json_mode: bool = False  # answer 400 when the request carries response_format
    finish_reason: str = "stop"  # "length": the reply was cut at the request's max_tokens


def verdict(choice: str, explanation: str, confidence: int) -> Scripted:
    return Scripted(
        json.dumps({"choice": choice, "explanation": explanation, "confidence": confidence})
    )


class ChatServer:
    """Use as a context manager; `base_url` is what `openai.OpenAI(base_url=...)` takes."""

    def __init__(self, *replies: Scripted) -> None:
        self.replies = list(replies) or [verdict("yes", "looks fine", 90)]
        self.requests: list[dict[str, object]] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def script(self, *replies: Scripted) -> None:
        with self._lock:
            self.replies = list(replies)

    def _next(self, request: dict[str, object]) -> Scripted:
        with self._lock:
            self.requests.append(request)
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_: object) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                try:
                    request = json.loads(self.rfile.read(length))
                except ValueError:
                    self._send(400, {"error": {"message": "body is not JSON"}})
                    return
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                reply = server._next(request)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.reject_json_mode and "response_format" in request:
                    self._send(400, {"error": {"message": "response_format is not supported"}})
                    return
                if reply.status != 200:
                    self._send(reply.status, {"error": {"message": "scripted failure"}})
                    return
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{len(server.requests)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": request.get("model", ""),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": reply.content},
                                "finish_reason": reply.finish_reason,
                            }
                        ],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    },
                )

            def _send(self, status: int, body: dict[str, object]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a slow reply beyond its timeout)

        return Handler

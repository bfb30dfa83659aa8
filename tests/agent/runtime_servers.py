"""Real HTTP servers on 127.0.0.1 for the runtime's tests: an OpenAI-compatible chat-completions
and embeddings server, and JSON tool servers. Each runs in a thread of the test process and
records the requests it got, so tests can assert what the runtime sent (and that a replay sent
nothing).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Route = Callable[[dict], object]  # request body -> response body (JSON)
Answer = Callable[[str, list[dict[str, str]]], str]  # (model, messages) -> reply text


class JsonServer:
    """POST routes answering JSON; `delay` seconds before each answer (for timeouts)."""

    def __init__(self, routes: dict[str, Route], delay: float = 0.0) -> None:
        self.routes = routes
        self.delay = delay
        self.requests: list[tuple[str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append((self.path, body))
                route = server.routes.get(self.path)
                if server.delay:
                    time.sleep(server.delay)
                if route is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(route(body)).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left: what the timeout tests want

            def log_message(self, *_: object) -> None:  # keep test output clean
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> JsonServer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def fake_embedding(text: str, dims: int = 16) -> list[float]:
    """A bag-of-words vector: texts sharing words point the same way."""
    vector = [0.0] * dims
    for word in text.lower().split():
        vector[sum(word.encode()) % dims] += 1.0
    return vector


def openai_server(answer: Answer, delay: float = 0.0) -> JsonServer:
    """Chat completions answered by `answer`, cut at max_tokens words, with usage of 1 prompt
    token plus one per word of the answer; embeddings from words."""

    def chat(body: dict) -> object:
        text = answer(body["model"], body["messages"])
        words = text.split(" ")
        cap = body.get("max_tokens")
        finish = "stop"
        if cap is not None and len(words) > cap:
            text, finish = " ".join(words[:cap]), "length"
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish,
                }
            ],
            "usage": {
                "prompt_tokens": 1,
                "completion_tokens": len(words),
                "total_tokens": 1 + len(words),
            },
        }

    def embeddings(body: dict) -> object:
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return {
            "object": "list",
            "model": body["model"],
            "data": [
                {"object": "embedding", "index": i, "embedding": fake_embedding(t)}
                for i, t in enumerate(inputs)
            ],
            "usage": {"prompt_tokens": 1, "total_tokens": 1},
        }

    return JsonServer({"/v1/chat/completions": chat, "/v1/embeddings": embeddings}, delay)


def last_user(messages: list[dict[str, str]]) -> str:
    return next(m["content"] for m in reversed(messages) if m["role"] == "user")

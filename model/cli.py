"""`aither model`: the embedded model.

    aither model serve [--port P] [--gguf FILE]   an OpenAI-compatible server on 127.0.0.1
    aither model info                             where the model is, its size and how it is served

Reviewers (`aither council serve`), the agent runtime and `aither evolve` use a running `aither
model serve` on the default port when they are given no model URL. Errors print one line and exit
non-zero.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
from pathlib import Path
from typing import Annotated

import typer

from model.embedded import (
    DEFAULT_CONTEXT,
    DEFAULT_MODEL_PORT,
    EMBEDDED_MODEL,
    MAX_CONTEXT,
    ModelMissing,
    gguf_path,
    server_app,
)

app = typer.Typer(help="The embedded model.", no_args_is_help=True)


@app.callback()
def model() -> None:
    """The embedded model (Gemma 3 270M on llama.cpp) and its OpenAI-compatible server."""


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(1)


Gguf = Annotated[
    Path | None, typer.Option("--gguf", help="Serve this GGUF file instead of the embedded model.")
]


@app.command()
def serve(
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="Port on 127.0.0.1 (0: any free).")
    ] = DEFAULT_MODEL_PORT,
    gguf: Gguf = None,
    name: Annotated[
        str, typer.Option("--name", help="The model name clients ask for.")
    ] = EMBEDDED_MODEL,
    threads: Annotated[
        int | None, typer.Option("--threads", min=1, help="CPU threads (default: all cores).")
    ] = None,
    context: Annotated[
        int, typer.Option("--context", min=512, max=MAX_CONTEXT, help="Context window in tokens.")
    ] = DEFAULT_CONTEXT,
    as_json: Annotated[bool, typer.Option("--json", help="The start line as JSON.")] = False,
) -> None:
    """Serve the model with an OpenAI-compatible API (chat completions, structured outputs)."""
    import uvicorn

    try:
        path = gguf_path(gguf)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn's own sockets
        sock.bind(("127.0.0.1", port))
        app_ = server_app(path, name, context, threads)
    except ModelMissing as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    bound = sock.getsockname()[1]
    url = f"http://127.0.0.1:{bound}/v1"
    line = {"event": "serving", "model": name, "gguf": str(path), "url": url}
    if as_json:
        print(json.dumps(line), flush=True)
    else:
        print(f"serving {name} ({path}) at {url}", flush=True)
    config = uvicorn.Config(app_, log_level="warning", lifespan="off")
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: uvicorn has stopped serving
        uvicorn.Server(config).run(sockets=[sock])


@app.command()
def info(
    gguf: Gguf = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Where the model file is (assembling the embedded one on first use) and its size."""
    try:
        path = gguf_path(gguf)
    except ModelMissing as exc:
        raise _fail(str(exc)) from None
    size = path.stat().st_size
    data = {
        "model": EMBEDDED_MODEL if gguf is None else path.stem,
        "gguf": str(path),
        "bytes": size,
        "serveUrl": f"http://127.0.0.1:{DEFAULT_MODEL_PORT}/v1",
    }
    if as_json:
        print(json.dumps(data))
        return
    print(f"model  {data['model']}\ngguf   {path} ({size / 2**20:.0f} MiB)")
    print(f"serve  aither model serve  (then {data['serveUrl']})")

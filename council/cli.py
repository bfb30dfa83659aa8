"""`aither council`: run a council member's reviewer service.

`aither council serve --role ROLE --key NAME|--dev-account N [--rpc URL] [--llm-base-url URL
[--model NAME]] [--no-model]` prints one line per event (or one JSON object per line with
`--json`); errors print one line and exit non-zero. Without `--llm-base-url` the reviewer uses
the embedded model (a running `aither model serve`, else loaded in process); its first line says
which.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from core.errors import AitherError
from core.rpc import DEFAULT_RPC
from council.analysis import parse_role
from council.service import DEFAULT_POLL_INTERVAL, EventSink, ReviewerService
from genesis.dev import dev_key
from model.embedded import Endpoint, ModelMissing, resolve
from wallet.keystore import Keystore

app = typer.Typer(help="Council reviewer service.", no_args_is_help=True)


@app.callback()
def council() -> None:
    """Council members: review proposals in voting and vote on them."""


def _read_password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            lines = password_file.read_text().splitlines()
        except OSError as exc:
            raise ValueError(f"cannot read password file {password_file}: {exc.strerror}") from None
        return lines[0] if lines else ""
    if "AITHER_PASSWORD" in os.environ:
        return os.environ["AITHER_PASSWORD"]
    return typer.prompt("Password", hide_input=True)


def _printer(as_json: bool) -> EventSink:
    def emit(event: str, fields: dict[str, object]) -> None:
        stamp = time.strftime("%H:%M:%S")
        if as_json:
            print(json.dumps({"time": stamp, "event": event, **fields}), flush=True)
            return
        detail = " ".join(f"{k}={v}" for k, v in fields.items())
        print(f"{stamp} {event} {detail}".rstrip(), flush=True)

    return emit


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(1)


@app.command()
def serve(
    role: Annotated[
        str,
        typer.Option(
            "--role",
            help="SecurityAuditor, LatencyProfiler, MemoryOptimizer, "
            "RegressionHunter or StandardsEnforcer.",
        ),
    ],
    key: Annotated[
        str | None, typer.Option("--key", help="Keystore key of the council member.")
    ] = None,
    dev_account: Annotated[
        int | None,
        typer.Option(
            "--dev-account", min=0, help="Sign with dev account N (the dev council is 5..9)."
        ),
    ] = None,
    rpc: Annotated[
        str, typer.Option("--rpc", envvar="AITHER_RPC", help="Node JSON-RPC URL.")
    ] = DEFAULT_RPC,
    model: Annotated[
        str | None, typer.Option("--model", help="Chat model name (with --llm-base-url).")
    ] = None,
    llm_base_url: Annotated[
        str | None,
        typer.Option(
            "--llm-base-url",
            help="OpenAI-compatible base URL (Ollama, vLLM, ...); default: the embedded model.",
        ),
    ] = None,
    no_model: Annotated[
        bool, typer.Option("--no-model", help="Vote by the deterministic analysis alone.")
    ] = False,
    llm_timeout: Annotated[
        float, typer.Option("--llm-timeout", min=1.0, help="Seconds to wait for the model.")
    ] = 60.0,
    password_file: Annotated[
        Path | None,
        typer.Option("--password-file", help="Read the password from this file (first line)."),
    ] = None,
    keystore: Annotated[
        Path | None,
        typer.Option("--keystore", envvar="AITHER_KEYSTORE", help="Keystore directory."),
    ] = None,
    state_file: Annotated[
        Path | None,
        typer.Option(
            "--state-file", help="Where votes are remembered (default ~/.aither/council)."
        ),
    ] = None,
    poll_interval: Annotated[
        float, typer.Option("--poll-interval", min=0.1, help="Seconds between polls.")
    ] = DEFAULT_POLL_INTERVAL,
    once: Annotated[bool, typer.Option("--once", help="One pass over proposals, then exit.")] = (
        False
    ),
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per event.")] = False,
) -> None:
    """Watch proposals in voting, review each once and send this member's vote."""
    events = _printer(as_json)
    try:
        member_role = parse_role(role)
        if model is not None and llm_base_url is None:
            raise ValueError("--model names a model of the server at --llm-base-url: give both")
        if no_model and llm_base_url is not None:
            raise ValueError("--no-model and --llm-base-url contradict each other: give one")
        if (key is None) == (dev_account is None):
            raise ValueError("give the member's --key NAME, or --dev-account N on a dev chain")
        if dev_account is not None:
            signing_key = dev_key(dev_account)
        else:
            assert key is not None
            store = Keystore(keystore)
            store.info(key)  # a missing key is reported before a password is asked for
            signing_key = store.unlock(key, _read_password(password_file))
    except (AitherError, ValueError) as exc:
        raise _fail(str(exc)) from None
    if no_model:
        events("model", {"using": "none", "votes": "deterministic analysis"})
    endpoint = None if no_model else _endpoint(llm_base_url, model, events)
    config = endpoint.config(llm_timeout) if endpoint is not None else None
    try:
        service = ReviewerService(
            rpc,
            signing_key,
            member_role,
            model=config,
            poll_interval=poll_interval,
            state_path=state_file,
            events=events,
        )
    except (AitherError, ValueError) as exc:
        raise _fail(str(exc)) from None
    try:
        service.run(once=once)
    except KeyboardInterrupt:
        service.stop()
    except (AitherError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    finally:
        service.close()
        if endpoint is not None:
            endpoint.close()


def _endpoint(base_url: str | None, model: str | None, events: EventSink) -> Endpoint | None:
    """The reviewer's model, said in one line; None (the analysis decides) when the embedded
    model is wanted and not installed."""
    try:
        endpoint = resolve(base_url, model)
    except ModelMissing as exc:
        events("model", {"using": "none", "reason": str(exc), "votes": "deterministic analysis"})
        return None
    events("model", {"using": endpoint.describe()})
    return endpoint

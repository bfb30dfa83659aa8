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
from model.options import LlmBaseUrl, LlmTimeout, ModelName, check_model_options, choose_model
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
    model: ModelName = None,
    llm_base_url: LlmBaseUrl = None,
    no_model: Annotated[
        bool, typer.Option("--no-model", help="Vote by the deterministic analysis alone.")
    ] = False,
    llm_timeout: LlmTimeout = 60.0,
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
        check_model_options(llm_base_url, model, no_model)
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
    endpoint = choose_model(
        llm_base_url, model, no_model, events, ("votes", "deterministic analysis")
    )
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

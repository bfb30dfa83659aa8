"""`aither evolve AGENT --region R`: the AXON loop (agent/evolve.py) from the command line.

Progress shows per generation (a Rich bar on a terminal, one line per event otherwise); `--json`
prints one JSON object per event and a last `done` object. Errors print one line and exit 1.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from agent.evolve import EvolveError, Evolver, Generation, Settings
from core.amounts import format_amount, parse_amount
from core.errors import AitherError
from core.rpc import DEFAULT_RPC
from model.chat import StructuredChat
from model.options import LlmBaseUrl, LlmTimeout, ModelName, check_model_options, choose_model
from wallet.archive import default_archive
from wallet.client import RpcClient, RpcClientError
from wallet.options import (
    AsJson,
    DevAccount,
    FromName,
    KeystoreDir,
    PasswordFile,
    Rpc,
    console,
    signing_key,
)
from wallet.options import resolve as resolve_agent

app = typer.Typer(add_completion=False)


def _fail(message: str) -> typer.Exit:
    print(f"error: {message}", file=sys.stderr)
    return typer.Exit(1)


class Printer:
    """Events as JSON lines, as plain lines, or as a Rich progress bar on a terminal."""

    def __init__(self, as_json: bool, generations: int) -> None:
        self.as_json = as_json
        self.progress: Progress | None = None
        if not as_json and console.is_terminal:
            self.progress = Progress(
                TextColumn("generation {task.completed}/{task.total}"),
                BarColumn(),
                TextColumn("{task.description}"),
                TimeElapsedColumn(),
                console=console,
            )
            self.task = self.progress.add_task("measuring", total=generations)

    def __call__(self, event: str, fields: dict[str, Any]) -> None:
        if self.as_json:
            print(json.dumps({"event": event, **fields}), flush=True)
            return
        detail = " ".join(f"{k}={v}" for k, v in fields.items())
        if self.progress is None:
            print(f"{time.strftime('%H:%M:%S')} {event} {detail}".rstrip(), flush=True)
            return
        if event in ("decided", "stopped", "model-fallback", "model"):
            self.progress.console.print(f"{event} {detail}", markup=False)
        if event == "decided":
            self.progress.advance(self.task)
        self.progress.update(self.task, description=f"{event} {detail}"[:60])


def _summary(history: list[Generation]) -> Table:
    table = Table("gen", "source", "score", "proposal", "status", "votes", "seconds")
    for g in history:
        choices: dict[str, int] = {}
        for v in g.votes:
            choices[v["choice"]] = choices.get(v["choice"], 0) + 1
        table.add_row(
            str(g.number),
            g.candidate.source,
            f"{g.score_before.value} -> {g.candidate.score.value}",
            g.proposal[:10],
            g.status,
            " ".join(f"{n} {c}" for c, n in sorted(choices.items())) or "-",
            f"{g.seconds:.1f}",
        )
    return table


@app.command()
def evolve(
    agent: Annotated[str, typer.Argument(metavar="AGENT", help="Agent address, name or key.")],
    region: Annotated[str, typer.Option("--region", help="The `council` region to evolve.")],
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="Entry label returning an integer score (higher is better); default: the "
            "tests' milligas (lower is better).",
        ),
    ] = None,
    generations: Annotated[
        int, typer.Option("--generations", min=1, max=1000, help="Generations to run.")
    ] = 3,
    max_deposit: Annotated[
        str | None,
        typer.Option("--max-deposit", help="AVM the run may put up in deposits, in all."),
    ] = None,
    vote_timeout: Annotated[
        float, typer.Option("--vote-timeout", min=1.0, help="Seconds to wait for every vote.")
    ] = 300.0,
    archive: Annotated[
        Path | None,
        typer.Option("--archive", help="Archive file (default ~/.aither/evolve/AGENT-R.jsonl)."),
    ] = None,
    llm_base_url: LlmBaseUrl = None,
    model: ModelName = None,
    no_model: Annotated[
        bool, typer.Option("--no-model", help="Mutation search alone, no model.")
    ] = False,
    llm_timeout: LlmTimeout = 120.0,
    from_name: FromName = None,
    dev_account: DevAccount = None,
    keystore: KeystoreDir = None,
    password_file: PasswordFile = None,
    rpc: Rpc = DEFAULT_RPC,
    as_json: AsJson = False,
) -> None:
    """Evolve an agent's region under the council: measure, ask the model for a patch, check it
    in the sandbox, propose it, wait for the decision, repeat."""
    printer = Printer(as_json, generations)
    try:
        check_model_options(llm_base_url, model, no_model)
        limit = None if max_deposit is None else parse_amount(max_deposit)
        key = signing_key(from_name, dev_account, keystore, password_file)
        target = resolve_agent(agent, keystore, rpc)
    except (AitherError, ValueError) as exc:
        raise _fail(str(exc)) from None
    settings = Settings(
        target,
        region,
        metric,
        generations,
        limit,
        vote_timeout,
        archive=archive or default_archive(target, region),
    )
    endpoint = choose_model(llm_base_url, model, no_model, printer, ("patches", "mutation search"))
    chat = StructuredChat(endpoint.config(llm_timeout)) if endpoint is not None else None
    prompt_tokens = chat.config.prompt_tokens if chat is not None else 0
    history: list[Generation] = []
    stopped = ""
    try:
        with RpcClient(rpc, timeout=30.0) as client:
            evolver = Evolver(client, key, settings, chat, printer, prompt_tokens)
            if printer.progress is not None:
                printer.progress.start()
            try:
                history = evolver.run()
            finally:
                if printer.progress is not None:
                    printer.progress.stop()
            stopped = "" if len(history) == generations else "stopped early"
    except (EvolveError, RpcClientError, AitherError, ValueError) as exc:
        raise _fail(str(exc)) from None
    finally:
        if chat is not None:
            chat.close()
        if endpoint is not None:
            endpoint.close()
    done = {
        "generations": [g.to_json() for g in history],
        "archive": str(settings.archive),
        "spent": format_amount(evolver.spent),
        "complete": not stopped,
    }
    if as_json:
        print(json.dumps({"event": "done", **done}), flush=True)
        return
    console.print(_summary(history))
    console.print(f"archive {settings.archive}; deposits {done['spent']} AVM")

"""The model options every command with a model client shares, and the one line it says first.

--llm-base-url URL [--model NAME]   an OpenAI-compatible server (Ollama, vLLM, OpenAI, ...)
(neither)                           the embedded model: `aither model serve`, else in process
--no-model                          no model at all (each command says what decides instead)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from model.embedded import Endpoint, ModelMissing, resolve

LlmBaseUrl = Annotated[
    str | None,
    typer.Option(
        "--llm-base-url",
        help="OpenAI-compatible base URL (Ollama, vLLM, ...); default: the embedded model.",
    ),
]
ModelName = Annotated[
    str | None, typer.Option("--model", help="Chat model name (with --llm-base-url).")
]
LlmTimeout = Annotated[
    float, typer.Option("--llm-timeout", min=1.0, help="Seconds to wait for the model.")
]

Events = Callable[[str, dict[str, Any]], None]


def check_model_options(base_url: str | None, model: str | None, no_model: bool) -> None:
    """Raises ValueError for options that contradict each other."""
    if model is not None and base_url is None:
        raise ValueError("--model names a model of the server at --llm-base-url: give both")
    if no_model and base_url is not None:
        raise ValueError("--no-model and --llm-base-url contradict each other: give one")


def choose_model(
    base_url: str | None,
    model: str | None,
    no_model: bool,
    events: Events,
    instead: tuple[str, str],
) -> Endpoint | None:
    """The command's model, said in one `model` event; None, saying what decides `instead`
    (such as ("votes", "deterministic analysis")), with --no-model or when the embedded model is
    wanted and not installed."""
    what, without = instead
    if no_model:
        events("model", {"using": "none", what: without})
        return None
    try:
        endpoint = resolve(base_url, model)
    except ModelMissing as exc:
        events("model", {"using": "none", "reason": str(exc), what: without})
        return None
    events("model", {"using": endpoint.describe()})
    return endpoint

"""The LLM plugin: GPU_INFER, SEPARATE_PROMPT, MAP_MODEL_CALL, REDUCE_MODEL_CALL and LOAD_MODEL
through any OpenAI-compatible chat-completions endpoint (the `openai` package).

The client retries with backoff and times out as configured; any error from it is a
PluginFailure. Every answer is Metered with the tokens the endpoint reports (`usage.total_tokens`;
an endpoint that reports none is estimated at 4 characters a token), which the opcode charges as
gas (`avm/gas.py`, model usage). GPU_INFER's `gas_limit=` operand becomes `max_tokens` (the tokens
that much gas buys); an answer cut off there wanted more, so it reports one token over the budget
and the AVM fails the call (§8.5: the call may not exceed GAS_LIMIT). An answer that parses as
JSON becomes structured data, so IR can read `Rdec.action`; anything else is a string.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import openai
from openai.types.chat import ChatCompletionSystemMessageParam, ChatCompletionUserMessageParam

from agent.config import LlmConfig, OpenAIEndpoint
from agent.plugin import plain
from avm.gas import CURRENT, MILLIGAS_PER_GAS
from avm.host import Metered, PluginFailure
from avm.values import Value
from model.chat import CHARS_PER_TOKEN
from model.embedded import Endpoint, ModelMissing, resolve

Message = ChatCompletionSystemMessageParam | ChatCompletionUserMessageParam

MAP_ITEM_PROMPT = "Apply the model to this item and answer with the result only, as JSON if it is "
MAP_ITEM_PROMPT += "a number or a structure."
REDUCE_PROMPT = "Aggregate these partial results ({how}). Answer with JSON only."
EMBEDDED_SYSTEM = "Answer briefly."
PLACEHOLDER_KEY = "unset"  # local servers take any key; real ones answer 401, a PluginFailure


def openai_client(endpoint: OpenAIEndpoint, base_url: str) -> openai.OpenAI:
    """A client for `endpoint` at `base_url` with its key from the environment, timeout and
    retries."""
    return openai.OpenAI(
        base_url=base_url,
        api_key=os.environ.get(endpoint.api_key_env) or PLACEHOLDER_KEY,
        timeout=endpoint.timeout_sec,
        max_retries=endpoint.max_retries,
    )


def as_text(value: Value) -> str:
    """What a model reads for an AVM value: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(plain(value), separators=(",", ":"))


def parse_answer(text: str) -> object:
    """A model's answer as data: JSON when it is JSON (not a bare string), else the text."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    return text if isinstance(data, str) else data


class LlmPlugin:
    """Chat completions for the model opcodes."""

    opcodes = frozenset(
        {"GPU_INFER", "SEPARATE_PROMPT", "MAP_MODEL_CALL", "REDUCE_MODEL_CALL", "LOAD_MODEL"}
    )

    def __init__(self, config: LlmConfig) -> None:
        self.config = config
        self._client: openai.OpenAI | None = None
        self._embedded: Endpoint | None = None
        self._sampling: dict[str, Any] = {}

    def close(self) -> None:
        """Close the client and an embedded model this plugin loaded (a process's exit does it
        too: the server thread is a daemon)."""
        if self._client is not None:
            self._client.close()
        if self._embedded is not None:
            self._embedded.close()

    @property
    def client(self) -> openai.OpenAI:
        """The endpoint's client; for the embedded model, found or loaded on the first call
        (the runtime says which in one line on stderr)."""
        if self._client is None:
            base_url = self.config.endpoint.base_url
            if base_url is None:
                try:
                    self._embedded = resolve(None, None)
                except ModelMissing as exc:
                    raise PluginFailure(str(exc)) from None
                print(f"agent: {self._embedded.describe()}", file=sys.stderr, flush=True)
                base_url = self._embedded.base_url
                sampling = self._embedded.config()
                self._sampling = {
                    "temperature": sampling.temperature,
                    "frequency_penalty": sampling.frequency_penalty,
                    "seed": sampling.seed,
                }
            self._client = openai_client(self.config.endpoint, base_url)
        return self._client

    def call(self, opcode: str, args: tuple[Value, ...]) -> object:
        if opcode == "GPU_INFER":
            model, input_, gas_limit = args
            budget = _token_budget(gas_limit)
            text, tokens = self.complete(model, [_user(as_text(input_))], budget)
            return Metered(parse_answer(text), tokens)  # type: ignore[arg-type]
        if opcode == "SEPARATE_PROMPT":
            input_, objective = args
            messages: list[Message] = [_system(as_text(objective)), _user(as_text(input_))]
            text, tokens = self.complete(None, messages)
            return Metered(parse_answer(text), tokens)  # type: ignore[arg-type]
        if opcode == "MAP_MODEL_CALL":
            model, dataset = args
            items = dataset if type(dataset) is tuple else (dataset,)
            answers = []
            total = 0
            for item in items:
                text, tokens = self.complete(
                    model, [_system(MAP_ITEM_PROMPT), _user(as_text(item))]
                )
                answers.append(parse_answer(text))
                total += tokens
            return Metered(answers, total)  # type: ignore[arg-type]
        if opcode == "REDUCE_MODEL_CALL":
            how, results = args
            reduce: list[Message] = [
                _system(REDUCE_PROMPT.format(how=as_text(how))),
                _user(as_text(results)),
            ]
            text, tokens = self.complete(None, reduce)
            return Metered(parse_answer(text), tokens)  # type: ignore[arg-type]
        if opcode == "LOAD_MODEL":
            return self.config.model_for(args[0])
        raise PluginFailure(f"the LLM plugin does not serve {opcode}")

    def complete(
        self, model: Value, messages: list[Message], budget: int | None = None
    ) -> tuple[str, int]:
        """One chat completion and the tokens it used, at most `budget` (a cut answer counts
        one more). Raises PluginFailure on any error."""
        name = self.config.model_for(model)
        client = self.client
        if self._embedded is not None:
            name = self._embedded.model
            if messages[0]["role"] != "system":  # a base model answers a bare question with
                messages = [_system(EMBEDDED_SYSTEM), *messages]  # nothing
        try:
            response = client.chat.completions.create(
                model=name, messages=messages, max_tokens=budget, **self._sampling
            )
        except openai.OpenAIError as exc:
            raise PluginFailure(f"model {name}: {type(exc).__name__}: {exc}") from None
        if not response.choices:
            raise PluginFailure(f"model {name} answered with no choices")
        choice = response.choices[0]
        text = choice.message.content
        if text is None:
            raise PluginFailure(f"model {name} answered with no text")
        usage = response.usage
        if usage is not None and usage.total_tokens:
            tokens = usage.total_tokens
        else:
            chars = sum(len(str(m["content"])) for m in messages) + len(text)
            tokens = -(-chars // CHARS_PER_TOKEN)
        if budget is not None and choice.finish_reason == "length":
            tokens = max(tokens, budget + 1)  # it wanted more than the budget allowed
        return text, tokens


def _token_budget(gas_limit: Value) -> int | None:
    """The tokens `gas_limit` gas buys a GPU_INFER; None when there is no limit."""
    if type(gas_limit) is not int or gas_limit <= 0:
        return None
    return gas_limit * MILLIGAS_PER_GAS // CURRENT.gpu_infer_per_token


def _user(text: str) -> ChatCompletionUserMessageParam:
    return {"role": "user", "content": text}


def _system(text: str) -> ChatCompletionSystemMessageParam:
    return {"role": "system", "content": text}

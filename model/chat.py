"""Structured chat: one completion whose reply must be a JSON object of a given schema.

Every model client of the project that needs a structured answer (a reviewer's verdict, a patch
from `aither evolve`) goes through `StructuredChat`. It asks the server to constrain the reply to
the schema, in the first form the server takes: OpenAI's `json_schema` (OpenAI, vLLM, llama.cpp's
server, Ollama), llama-cpp-python's `json_object` with a `schema` (the embedded model: a grammar,
so the reply always parses), plain `json_object`, then none (the prompt alone). A server that
refuses one form (HTTP 400 or 422) is asked in the next, and the client remembers what worked.

Every failure raises `ModelUnavailable` with a one-line reason, and the caller falls back to what
it does without a model (and logs that line).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import openai
from openai.types.chat import ChatCompletionSystemMessageParam, ChatCompletionUserMessageParam

API_KEY_ENVS = ("AITHER_LLM_API_KEY", "OPENAI_API_KEY")
CHARS_PER_TOKEN = 4  # OpenAI's rule of thumb: how prompts are bounded, and usage estimated

Message = ChatCompletionSystemMessageParam | ChatCompletionUserMessageParam
JsonSchema = dict[str, Any]

# A JSON-schema pattern for a model's prose (an explanation, a rationale): sentences of at most
# 240 characters, not a flood of digits or symbols (a small model's failure under a grammar).
SENTENCES = "^[A-Z][A-Za-z0-9 ,.;:()'%+-]{15,240}[.]$"

# The forms a schema-constrained reply is asked in, most standard first.
FORMS = ("json_schema", "json_object+schema", "json_object", "prompt only")


class ModelUnavailable(Exception):
    """No usable answer from the model; `reason` is one line for a log and a vote."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """One model and how it is asked. A small model (the embedded one) is given short prompts and
    sampled with some temperature and a fixed seed: greedy decoding makes it repeat itself."""

    model: str
    base_url: str
    timeout: float = 60.0  # seconds for one request
    max_retries: int = 1
    prompt_tokens: int = 3000  # what a caller's prompt is bounded to
    temperature: float = 0.0
    frequency_penalty: float = 0.0
    seed: int | None = None


def system(text: str) -> ChatCompletionSystemMessageParam:
    return {"role": "system", "content": text}


def user(text: str) -> ChatCompletionUserMessageParam:
    return {"role": "user", "content": text}


def clip(text: str, tokens: int) -> str:
    """`text` cut to about `tokens` tokens, marked where it was cut."""
    limit = tokens * CHARS_PER_TOKEN
    return text if len(text) <= limit else text[: limit - 20] + "\n... (cut)"


def _response_format(form: str, name: str, schema: JsonSchema) -> dict[str, Any] | None:
    if form == "json_schema":
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
    if form == "json_object+schema":
        return {"type": "json_object", "schema": schema}
    if form == "json_object":
        return {"type": "json_object"}
    return None


def parse_object(content: str | None) -> dict[str, Any]:
    """A reply's text as a JSON object. Raises ModelUnavailable saying what is wrong."""
    if not content or not content.strip():
        raise ModelUnavailable("empty reply")
    try:
        data = json.loads(content)
    except json.JSONDecodeError as exc:
        raise ModelUnavailable(f"reply is not JSON ({exc.msg} at char {exc.pos})") from None
    except ValueError as exc:  # not text json can read at all (such as invalid UTF-8)
        raise ModelUnavailable(f"reply is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ModelUnavailable("reply is JSON but not an object")
    return data


def _about_the_form(exc: openai.APIStatusError) -> bool:
    """Whether a refusal names the structured-output form (and not, say, the prompt's size):
    only then is the next form worth asking in."""
    text = str(exc).lower()
    return any(word in text for word in ("response_format", "json_schema", "json_object"))


class StructuredChat:
    """A chat-completions client for one model; `ask` is safe to call from one thread."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config
        api_key = next((os.environ[e] for e in API_KEY_ENVS if os.environ.get(e)), "none")
        self._client = openai.OpenAI(
            base_url=config.base_url,
            api_key=api_key,
            timeout=config.timeout,
            max_retries=config.max_retries,
        )
        self._form = 0  # index into FORMS: the first form this server has not refused

    def close(self) -> None:
        self._client.close()

    def ask(
        self, messages: list[Message], name: str, schema: JsonSchema, max_tokens: int
    ) -> dict[str, Any]:
        """The reply as a JSON object (the caller checks it against `schema`: a server may
        ignore the constraint). Raises ModelUnavailable with the reason on any failure."""
        try:
            while True:
                try:
                    return parse_object(self._ask(messages, name, schema, max_tokens))
                except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
                    if self._form == len(FORMS) - 1 or not _about_the_form(exc):
                        raise
                    self._form += 1  # the server refused this form: the next one
        except openai.APITimeoutError:
            raise ModelUnavailable(f"no reply within {self.config.timeout:g} s") from None
        except openai.APIConnectionError as exc:
            raise ModelUnavailable(f"cannot reach {self.config.base_url} ({exc})") from None
        except openai.APIStatusError as exc:
            raise ModelUnavailable(f"HTTP {exc.status_code} from the model server") from None
        except openai.OpenAIError as exc:
            raise ModelUnavailable(f"{type(exc).__name__}: {exc}") from None

    def _ask(
        self, messages: list[Message], name: str, schema: JsonSchema, max_tokens: int
    ) -> str | None:
        response_format = _response_format(FORMS[self._form], name, schema)
        completion = self._client.chat.completions.create(
            model=self.config.model,
            messages=messages,
            temperature=self.config.temperature,
            frequency_penalty=self.config.frequency_penalty,
            seed=self.config.seed if self.config.seed is not None else openai.omit,
            max_tokens=max_tokens,
            extra_body={"response_format": response_format} if response_format else None,
        )
        if not completion.choices:
            raise ModelUnavailable("reply has no choices")
        choice = completion.choices[0]
        if choice.finish_reason == "length":
            raise ModelUnavailable(f"reply cut at {max_tokens} tokens (over its budget)")
        return choice.message.content

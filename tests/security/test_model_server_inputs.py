"""What a stranger's request costs `aither model serve`: a body is bounded, and a schema whose
grammar llama.cpp would unroll past its parser's limit (which aborts the whole process) is refused
with HTTP 400 before the model sees it; the server goes on serving."""

from __future__ import annotations

import httpx
import pytest

from model.embedded import EMBEDDED_MODEL, MAX_REQUEST_BYTES, MAX_SCHEMA_REPEAT


def chat(url: str, body: dict[str, object]) -> httpx.Response:
    return httpx.post(url + "/chat/completions", json=body, timeout=60)


def request(schema: dict[str, object]) -> dict[str, object]:
    return {
        "model": EMBEDDED_MODEL,
        "messages": [{"role": "user", "content": "Say yes."}],
        "max_tokens": 16,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}},
    }


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "maxLength": 100_000},
        {"type": "object", "properties": {"a": {"type": "string", "pattern": "^a{0,9999}$"}}},
        {"type": "array", "items": {"type": "string"}, "minItems": MAX_SCHEMA_REPEAT + 1},
    ],
)
def test_a_schema_too_large_for_a_grammar_is_refused_and_the_server_lives(
    model_url: str, schema: dict[str, object]
) -> None:
    refused = chat(model_url, request(schema))
    assert refused.status_code == 400
    assert f"repeats over {MAX_SCHEMA_REPEAT} times" in refused.json()["error"]["message"]
    # Still serving: a small schema gets its JSON object.
    ok = chat(model_url, request({"type": "object", "properties": {"a": {"type": "boolean"}},
                                  "required": ["a"]}))  # fmt: skip
    assert ok.status_code == 200, ok.text
    assert isinstance(ok.json()["choices"][0]["message"]["content"], str)


def test_a_body_over_the_bound_is_refused(model_url: str) -> None:
    body = request({"type": "boolean"})
    body["messages"] = [{"role": "user", "content": "x" * MAX_REQUEST_BYTES}]
    refused = chat(model_url, body)
    assert refused.status_code == 400
    assert f"over {MAX_REQUEST_BYTES} bytes" in refused.json()["error"]["message"]
    assert httpx.get(model_url + "/models", timeout=10).status_code == 200

"""What a stranger's request costs `aither model serve` (llama.cpp behind its `ModelGate`):
a body is bounded in size and nesting; a schema whose grammar llama.cpp would unroll past its
parser's limit, a caller's own grammar or tools (each of which can abort the whole process) are
refused with HTTP 400 before the model sees them; only the model list and chat completions are
served, and never to a web page (CORS would let any page call it). The server goes on serving."""

from __future__ import annotations

import httpx
import pytest

from model.embedded import (
    EMBEDDED_MODEL,
    MAX_REQUEST_BYTES,
    MAX_REQUEST_DEPTH,
    MAX_SCHEMA_REPEAT,
    json_depth,
)


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
        {"type": "string", "pattern": "^a{0, 9999}$"},  # the converter reads spaces away too
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


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("grammar", 'root ::= "a"'),
        ("tools", [{"type": "function", "function": {"name": "f", "parameters": {}}}]),
        ("functions", [{"name": "f", "parameters": {}}]),
    ],
)
def test_a_callers_own_grammar_or_tools_are_refused(
    model_url: str, field: str, value: object
) -> None:
    body = request({"type": "boolean"})
    body[field] = value
    refused = chat(model_url, body)
    assert refused.status_code == 400
    assert f"this server does not take {field}" in refused.json()["error"]["message"]


def test_only_the_model_list_and_chat_are_served_and_never_to_a_web_page(model_url: str) -> None:
    base = model_url.removesuffix("/v1")
    for method, path in [("POST", "/v1/completions"), ("GET", "/docs"), ("POST", "/v1/models")]:
        assert httpx.request(method, base + path, json={}, timeout=10).status_code == 404
    page = httpx.get(model_url + "/models", headers={"Origin": "http://evil.example"}, timeout=10)
    assert page.status_code == 403
    assert "requests from web pages are refused" in page.json()["error"]["message"]


def test_a_body_nested_too_deep_is_refused_before_it_is_parsed(model_url: str) -> None:
    body = b'{"model": "x", "messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    refused = httpx.post(model_url + "/chat/completions", content=body, timeout=60)
    assert refused.status_code == 400
    assert f"nests deeper than {MAX_REQUEST_DEPTH}" in refused.json()["error"]["message"]


def test_json_depth_counts_brackets_outside_strings_only() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[{{{"}], "c": "\\"}') == 3
    assert json_depth(b"[]") == 1 and json_depth(b'"["') == 0

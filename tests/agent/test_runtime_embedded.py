"""The agent runtime with no model configured: the embedded model, and one line saying so.

No stub here: GPU_INFER reaches Gemma 3 270M (a running `aither model serve`, else loaded in this
process) through the real `openai` client."""

from __future__ import annotations

import pytest

from agent.config import parse_config
from agent.llm import LlmPlugin
from avm.host import Metered
from model.embedded import EMBEDDED_MODEL


def test_no_llm_table_means_the_embedded_model(capsys: pytest.CaptureFixture[str]) -> None:
    config = parse_config({})
    assert config.llm is not None
    assert (config.llm.endpoint.base_url, config.llm.endpoint.model) == (None, EMBEDDED_MODEL)
    plugin = LlmPlugin(config.llm)
    try:
        answer = plugin.call("GPU_INFER", ("AnyModel", "Name a colour.", 60))
        assert isinstance(answer, Metered)
        assert answer.units > 0 and answer.value not in (None, "")
        said = capsys.readouterr().err.splitlines()
        assert len(said) == 1 and said[0].startswith(f"agent: model {EMBEDDED_MODEL} (embedded, ")
        plugin.call("GPU_INFER", ("AnyModel", "Name a fruit.", 60))
        assert capsys.readouterr().err == ""  # said once, at the first call
    finally:
        plugin.close()


def test_a_table_without_base_url_is_the_embedded_model_under_its_own_name() -> None:
    config = parse_config({"plugins": {"llm": {"timeout_sec": 5}}})
    assert config.llm is not None and config.llm.endpoint.base_url is None
    assert config.llm.endpoint.timeout_sec == 5

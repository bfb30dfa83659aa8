"""The local host's payments and balances, per-agent state files, and the embedder choice."""

from __future__ import annotations

from pathlib import Path

import pytest

from avm.assembler import assemble
from avm.host import World
from avm.interpreter import execute
from avm.runtime.config import EmbedConfig, EmbedKind, OpenAIEndpoint
from avm.runtime.embeddings import LocalEmbedder, OpenAIEmbedder, embedder_for
from avm.runtime.errors import RuntimeConfigError
from avm.runtime.host import LocalHost, Payment, chain_token
from avm.runtime.plugin import PluginRouter
from avm.runtime.state import AgentState

AGENT = b"\x0a" * 20
BOB = b"\x0b" * 20


class Balances:
    def __init__(self, amounts: dict[tuple[bytes, str], int]) -> None:
        self.amounts = amounts
        self.reads: list[tuple[bytes, str]] = []

    def balance(self, address: bytes, token: str) -> int:
        self.reads.append((address, token))
        return self.amounts.get((address, token), 0)


def local_host(balances: Balances) -> LocalHost:
    return LocalHost(World(), AGENT, AGENT, PluginRouter([]), balances)


PAY = """
:pay
  PAY_AGENT ARGS[0], ARGS[1] -> ok
  BALANCE "AVM_CREDITS" -> mine
  BALANCE "AVM", ARGS[0] -> theirs
  RETURN [ok, mine, theirs]
:payThenRevert
  PAY_AGENT ARGS[0], ARGS[1] -> ok
  REVERT "changed my mind"
"""


def test_payments_are_queued_seen_in_balances_and_rolled_back_on_a_trap() -> None:
    code = assemble(PAY).code
    balances = Balances({(AGENT, ""): 100, (BOB, ""): 5})
    host = local_host(balances)
    result = execute(code, host, "pay", [BOB, 30])
    assert result.ok and result.value == (True, 70, 35)
    assert host.payments == [Payment(BOB, 30, "")]
    assert balances.reads == [(AGENT, ""), (BOB, "")]  # each read once, then adjusted
    result = execute(code, host, "pay", [BOB, 71])  # 70 left after the queued payment
    assert result.ok and result.value == (False, 70, 35)
    result = execute(code, host, "payThenRevert", [BOB, 10])
    assert not result.ok and host.payments == [Payment(BOB, 30, "")]


def test_token_names_map_to_the_chains() -> None:
    assert chain_token("AVM_CREDITS") == chain_token("AVM") == chain_token("") == ""
    assert chain_token("USDX") == "USDX"


def test_agent_state_round_trips_and_reports_damage(tmp_path: Path) -> None:
    state = AgentState(tmp_path, AGENT)
    assert state.load() == {}
    state.save({b"k2": b"v2", b"k1": b"v1"})
    assert state.load() == {b"k1": b"v1", b"k2": b"v2"}
    state.save_code(b"\x98code")
    assert state.code_path.read_bytes() == b"\x98code"
    state.path.write_bytes(b"\xc1garbage")
    with pytest.raises(RuntimeConfigError, match="damaged agent state"):
        state.load()


def test_local_embedder_is_chosen_when_installed_and_the_endpoint_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = OpenAIEndpoint("http://127.0.0.1:9/v1", "text-embedding-3-small")
    assert isinstance(embedder_for(EmbedConfig(EmbedKind.LOCAL, endpoint)), LocalEmbedder)
    assert isinstance(embedder_for(EmbedConfig(EmbedKind.OPENAI, endpoint)), OpenAIEmbedder)
    monkeypatch.setattr(LocalEmbedder, "available", classmethod(lambda cls: False))
    assert isinstance(embedder_for(EmbedConfig(EmbedKind.LOCAL, endpoint)), OpenAIEmbedder)
    # With nothing to fall back on, the local embedder is kept: its first call says what to do.
    assert isinstance(embedder_for(EmbedConfig(EmbedKind.LOCAL)), LocalEmbedder)

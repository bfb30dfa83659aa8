"""Each plugin against real servers on 127.0.0.1, and the failure path an AVM program takes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from runtime_servers import JsonServer, last_user, openai_server

from agent.chain import ChainPlugin
from agent.config import EmbedConfig, EmbedKind, OpenAIEndpoint, parse_config
from agent.embeddings import EmbeddingsPlugin, OpenAIEmbedder, to_fixed_vector
from agent.errors import RuntimeConfigError
from agent.llm import LlmPlugin
from agent.local import LocalPlugin, reduce_numbers
from agent.plugin import PluginRouter, as_value
from agent.registry import build_router
from agent.tools import ToolsPlugin
from avm.assembler import assemble
from avm.gas import MILLIGAS_PER_GAS, V1
from avm.host import Metered, PluginFailure
from avm.interpreter import Result, execute
from avm.memory_host import MemoryHost
from avm.trace import TraceEntry
from avm.values import FIXED_SCALE, AvmMap, size_of


def sentiment(model: str, messages: list[dict[str, str]]) -> str:
    """A stand-in model: positive words score 0.9, others 0.1; JSON when asked for a decision."""
    text = last_user(messages)
    if model == "decision":
        return json.dumps({"action": "BUY", "size": 2})
    if model == "chatty":
        return "one two three four five six seven eight"
    return "0.9" if "moon" in text or "great" in text else "0.1"


def llm_config(url: str, timeout: float = 5.0, retries: int = 0) -> dict:
    return {
        "plugins": {
            "llm": {
                "kind": "openai",
                "base_url": f"{url}/v1",
                "model": "default-model",
                "timeout_sec": timeout,
                "max_retries": retries,
                "models": {"DecisionModel": "decision", "Chatty": "chatty"},
            }
        }
    }


def test_config_parses_every_table_and_names_bad_keys() -> None:
    config = parse_config(
        {
            **llm_config("http://x"),
            "tools": {
                "Twitter": {"kind": "http", "url": "http://t"},
                "Critic": {"kind": "python", "entry": "pkg.mod:fn"},
            },
            "chain": {"web3_url": "http://c"},
            "swarm": {"responses_tool": "Twitter"},
            "runtime": {"max_wait_sec": 1},
        }
    )
    assert config.llm is not None and config.llm.model_for("DecisionModel") == "decision"
    assert config.llm.model_for("unknown") == "default-model"
    assert [t.name for t in config.tools] == ["Critic", "Twitter"]
    assert config.web3_url == "http://c" and config.max_wait_sec == 1.0
    with pytest.raises(RuntimeConfigError, match=r"\[tools.T\] kind"):
        parse_config({"tools": {"T": {"kind": "ftp"}}})
    with pytest.raises(RuntimeConfigError, match="module:function"):
        parse_config({"tools": {"T": {"kind": "python", "entry": "nocolon"}}})
    with pytest.raises(RuntimeConfigError, match="base_url"):
        parse_config({"plugins": {"embed": {"kind": "openai"}}})
    with pytest.raises(RuntimeConfigError, match="responses_tool"):
        parse_config({"swarm": {"responses_tool": "missing"}})


def test_llm_plugin_answers_text_json_and_maps_over_a_dataset_with_their_tokens() -> None:
    with openai_server(sentiment) as server:
        llm = LlmPlugin(parse_config(llm_config(server.url)).llm)  # type: ignore[arg-type]
        # The test server reports 1 prompt token plus one per word of the answer.
        assert llm.call("GPU_INFER", ("LLama", "to the moon", None)) == Metered(0.9, 2)
        decision = llm.call("GPU_INFER", ("DecisionModel", "x", 200))
        assert decision == Metered({"action": "BUY", "size": 2}, 5)
        mapped = llm.call("MAP_MODEL_CALL", ("s", ("great coin", "meh", "moon")))
        assert mapped == Metered([0.9, 0.1, 0.9], 6)  # the tokens of all three calls
        assert llm.call("LOAD_MODEL", ("Chatty",)) == "chatty"
        # The IR model name is mapped, and gas_limit became max_tokens (1 gas per token).
        path, body = server.requests[1]
        assert path == "/v1/chat/completions"
        assert body["model"] == "decision" and body["max_tokens"] == 200


METERED = """
:infer
  GPU_INFER ARGS[0], "talk", out=answer, gas_limit=ARGS[1]
  JUMP_IF_PLUGIN_FAILED over
  RETURN answer
:over
  RETURN "over budget"
:families
  SEPARATE_PROMPT "the moon", "Rate it" -> a
  MAP_MODEL_CALL "s", ["moon", "meh"] -> b
  REDUCE_MODEL_CALL "improve", [a] -> c
  RETURN [a, b, c]
"""


def opcode_entry(result: Result, opcode: str) -> TraceEntry:
    return next(e for e in result.trace or () if e.opcode == opcode)


def test_model_tokens_are_charged_as_gas_and_gas_limit_caps_them() -> None:
    per_byte = V1.gpu_infer_per_byte * size_of("talk")
    with openai_server(sentiment) as server:
        router = build_router(parse_config(llm_config(server.url)))
        code = assemble(METERED).code
        ok = execute(code, MemoryHost(plugins=router), "infer", ["Chatty", 100], trace=True)
        assert ok.ok and ok.value == "one two three four five six seven eight"
        entry = opcode_entry(ok, "GPU_INFER")
        assert ("usage", 9) in entry.notes  # 1 prompt token + 8 words
        assert entry.gas == V1.simple + per_byte + 9 * V1.gpu_infer_per_token
        # gas_limit=3 buys 3 tokens: the answer is cut, the call fails, the budget is spent.
        over = execute(code, MemoryHost(plugins=router), "infer", ["Chatty", 3], trace=True)
        assert over.ok and over.value == "over budget"
        entry = opcode_entry(over, "GPU_INFER")
        assert entry.gas == V1.simple + per_byte + 3 * MILLIGAS_PER_GAS
        assert "over gas_limit=3" in str(dict(entry.notes)["plugin_failed"])
        assert server.requests[-1][1]["max_tokens"] == 3
        each = execute(code, MemoryHost(plugins=router), "families", trace=True)
    assert each.ok, each.trap
    separate, mapped, reduced = (
        opcode_entry(each, name)
        for name in ("SEPARATE_PROMPT", "MAP_MODEL_CALL", "REDUCE_MODEL_CALL")
    )
    assert ("usage", 2) in separate.notes and ("usage", 4) in mapped.notes
    assert ("usage", 2) in reduced.notes
    assert (
        separate.gas
        == V1.call_plugin_base
        + V1.call_plugin_per_byte * size_of("the moon")
        + 2 * V1.separate_prompt_per_token
    )
    assert mapped.gas == V1.simple + 2 * V1.map_model_call_per_item + 4 * (
        V1.map_model_call_per_token
    )


TIMEOUT_PROGRAM = """
:main
  GPU_INFER "LLama", "hello", out=answer
  JUMP_IF_PLUGIN_FAILED slow
  RETURN answer
:slow
  LOG "model timed out"
  RETURN "fallback"
"""


def test_a_model_that_times_out_takes_the_plugin_failed_path() -> None:
    with openai_server(sentiment, delay=2.0) as server:
        router = build_router(parse_config(llm_config(server.url, timeout=0.3, retries=1)))
        started = time.monotonic()
        result = execute(assemble(TIMEOUT_PROGRAM).code, MemoryHost(plugins=router), "main")
        elapsed = time.monotonic() - started
    assert result.ok, result.trap
    assert result.value == "fallback" and result.logs == ("model timed out",)
    assert len(server.requests) == 2  # the first try and one retry
    assert elapsed < 2.0  # gave up on its timeout, did not wait for the answer


def test_unreachable_endpoint_and_unserved_opcode_are_plugin_failures() -> None:
    router = build_router(parse_config(llm_config("http://127.0.0.1:9", timeout=0.5)))
    with pytest.raises(PluginFailure, match="APIConnectionError"):
        router.call("GPU_INFER", ("m", "x", None))
    with pytest.raises(PluginFailure, match="no plugin serves CALC_EMBED"):
        router.call("CALC_EMBED", ("x", "m"))


def test_reduce_is_numeric_locally_and_asks_the_model_otherwise() -> None:
    scale = FIXED_SCALE
    assert reduce_numbers("average", (scale, 0, scale // 2)) == scale // 2
    assert reduce_numbers("max", (1, 5, 3)) == 5
    assert reduce_numbers("majority", ("up", "down", "up")) == "up"
    with pytest.raises(PluginFailure, match="numbers"):
        reduce_numbers("sum", ("a",))
    assert reduce_numbers("improve", (1,)) is None
    with openai_server(sentiment) as server:
        config = parse_config(llm_config(server.url))
        router = build_router(config)
        assert router.call("REDUCE_MODEL_CALL", ("average", (2, 4))) == 3
        assert server.requests == []  # no model for a numeric aggregation
        assert router.call("REDUCE_MODEL_CALL", ("improve", ("great",))) == Metered(900_000, 2)
        assert len(server.requests) == 1
    with pytest.raises(PluginFailure, match=r"needs \[plugins.llm\]"):
        LocalPlugin(1.0).call("REDUCE_MODEL_CALL", ("improve", (1,)))


def test_wait_sleeps_at_most_the_configured_cap_and_hpc_is_refused_clearly() -> None:
    local = LocalPlugin(max_wait_sec=0.05)
    started = time.monotonic()
    assert local.call("WAIT", (30,)) is None
    assert time.monotonic() - started < 1.0
    for opcode in ("ALLOCATE_GPU", "SQL_FETCH"):
        with pytest.raises(PluginFailure, match=r"local runs"):
            local.call(opcode, ("a", "b", 0))
    assert local.call("RELEASE_GPU", ("gpu0",)) is None


def test_openai_embeddings_become_unit_fixed_point_vectors() -> None:
    with openai_server(sentiment) as server:
        endpoint = OpenAIEndpoint(f"{server.url}/v1", "text-embedding-3-small")
        plugin = EmbeddingsPlugin(OpenAIEmbedder(endpoint))
        vector = plugin.call("CALC_EMBED", ("hello world", "text-embedding-3-small"))
    assert isinstance(vector, list) and len(vector) == 16
    assert all(type(x) is int for x in vector)
    norm = sum(x * x for x in vector)
    assert abs(norm - FIXED_SCALE * FIXED_SCALE) < 16 * FIXED_SCALE  # unit length, rounded
    with pytest.raises(PluginFailure, match="zero vector"):
        to_fixed_vector([0.0, 0.0])
    assert EmbedConfig(EmbedKind.OPENAI, endpoint).fallback == endpoint


def critic(request: dict[str, object]) -> object:
    """A Python tool entry point (named in the tests' plugins config)."""
    if request["func"] == "explode":
        raise RuntimeError("critic crashed")
    return {"ok": True, "seen": request["args"], "op": request["op"]}


def tools_config(url: str, timeout: float = 5.0) -> dict:
    return {
        "tools": {
            "TwitterAPI": {"kind": "http", "url": f"{url}/twitter", "timeout_sec": timeout},
            "TradingAPI": {"kind": "http", "url": f"{url}/trade", "timeout_sec": timeout},
            "Missing": {"kind": "http", "url": f"{url}/nothing-here"},
            "CriticModule": {"kind": "python", "entry": f"{__name__}:critic"},
            "Broken": {"kind": "python", "entry": "no_such_module_here:fn"},
        },
        "swarm": {"responses_tool": "TwitterAPI"},
        "hpc": {"tool": "TradingAPI"},
    }


def tool_routes() -> dict:
    return {
        "/twitter": lambda body: (
            [f"{t} to the moon" for t in body["args"]] if body["op"] == "read" else [0.5, 0.7]
        ),
        "/trade": lambda body: {"accepted": body["args"]},
    }


def test_a_python_tool_can_be_a_file_beside_the_config(tmp_path: Path) -> None:
    (tmp_path / "mytool.py").write_text("def answer(request):\n    return [request['op'], 42]\n")
    config = parse_config(
        {"tools": {"Mine": {"kind": "python", "entry": "mytool.py:answer"}}}, "x.toml", tmp_path
    )
    assert config.tools[0].target == f"{tmp_path / 'mytool.py'}:answer"
    assert ToolsPlugin(config).call("READ_FROM_TOOL", ("Mine", None)) == ["read", 42]


def test_http_and_python_tools_get_one_json_request_each() -> None:
    with JsonServer(tool_routes()) as server:
        tools = ToolsPlugin(parse_config(tools_config(server.url)))
        assert tools.call("READ_FROM_TOOL", ("TwitterAPI", ("ETH",))) == ["ETH to the moon"]
        assert tools.call("WRITE_TO_TOOL", ("TradingAPI", AvmMap.of([("a", 1)]))) == {
            "accepted": {"a": 1}
        }
        assert tools.call("WAIT_FOR_RESPONSE", ("REQ_SENTIMENT",)) == [0.5, 0.7]
        assert tools.call("HPC_EXTENDED_ANALYSIS", (7, 50, 2)) == {"accepted": [7, 50, 2]}
        assert server.requests[0] == (
            "/twitter",
            {"op": "read", "tool": "TwitterAPI", "func": None, "args": ["ETH"]},
        )
        assert tools.call("CALL_PLUGIN", ("CriticModule", "validate", (1, b"\x01"))) == {
            "ok": True,
            "seen": [1, "0x01"],
            "op": "call",
        }
        assert tools.call("GET_TOOLS_LIST", ()) == [
            "Broken",
            "CriticModule",
            "Missing",
            "TradingAPI",
            "TwitterAPI",
        ]
        for call, match in [
            (("CALL_PLUGIN", ("CriticModule", "explode", ())), "critic crashed"),
            (("CALL_PLUGIN", ("Broken", "f", ())), "cannot load tool entry"),
            (("READ_FROM_TOOL", ("Missing", None)), "HTTP 404"),
            (("READ_FROM_TOOL", ("Nobody", None)), "no tool 'Nobody'"),
        ]:
            with pytest.raises(PluginFailure, match=match):
                tools.call(*call)
    with pytest.raises(PluginFailure, match=r"no HPC gateway \(\[hpc\] tool\)"):
        ToolsPlugin(parse_config({})).call("HPC_MIGRATE", ("subnet", 1, 0))


TOOL_PROGRAM = """
:main
  READ_FROM_TOOL "TwitterAPI", ["BTC"] -> tweets
  JUMP_IF_PLUGIN_FAILED fail
  RETURN tweets
:fail
  RETURN "tool failed"
"""


def test_a_tool_that_times_out_takes_the_plugin_failed_path() -> None:
    with JsonServer(tool_routes(), delay=1.0) as server:
        router = build_router(parse_config(tools_config(server.url, timeout=0.2)))
        result = execute(assemble(TOOL_PROGRAM).code, MemoryHost(plugins=router), "main")
    assert result.ok and result.value == "tool failed"


def eth_node(height: int) -> JsonServer:
    """A minimal Ethereum JSON-RPC endpoint, enough for web3.py's reads."""
    answers = {
        "eth_blockNumber": hex(height),
        "eth_chainId": "0x1",
        "eth_getBalance": hex(5 * 10**18),
        "eth_getBlockByNumber": {
            "number": hex(height),
            "hash": "0x" + "ab" * 32,
            "parentHash": "0x" + "cd" * 32,
            "timestamp": "0x10",
            "gasUsed": "0x0",
        },
    }

    def rpc(body: dict) -> object:
        return {"jsonrpc": "2.0", "id": body["id"], "result": answers[body["method"]]}

    return JsonServer({"/": rpc})


def test_chain_plugin_reads_through_web3_and_refuses_writes() -> None:
    with eth_node(42) as node:
        chain = ChainPlugin(node.url)
        assert chain.call("CHAIN_OP", ("Ethereum", "blockNumber", None)) == 42
        address = "0x" + "11" * 20
        assert chain.call("WEB3_OP", ("Ethereum", "get_balance", address)) == 5 * 10**18
        block = chain.call("CHAIN_OP", ("Ethereum", "getBlock", "latest"))
        assert as_value(block).get("number") == 42  # type: ignore[union-attr]
        with pytest.raises(PluginFailure, match="only reads"):
            chain.call("WEB3_OP", ("Ethereum", "swapTokens", None))
    with pytest.raises(PluginFailure, match="an address is"):
        chain.call("CHAIN_OP", ("Ethereum", "getBalance", "not-an-address"))


def test_router_turns_plugin_data_into_avm_values() -> None:
    class Floaty:
        opcodes = frozenset({"GPU_INFER"})

        def call(self, opcode: str, args: tuple) -> object:
            return {"score": 0.25, "tags": ["a"]}

    value = PluginRouter([Floaty()]).call("GPU_INFER", ())
    assert value == AvmMap.of([("score", FIXED_SCALE // 4), ("tags", ("a",))])
    with pytest.raises(PluginFailure, match="no AVM value"):
        as_value(object())

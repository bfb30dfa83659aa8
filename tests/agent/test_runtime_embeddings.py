"""The real local embedding model (all-MiniLM-L6-v2 from the `embeddings` extra) behind the AVM's
document store: the §4 RAG bot retrieves the right document from a small collection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from runtime_servers import last_user, openai_server

from agent.config import EmbedConfig, EmbedKind, parse_config
from agent.embeddings import EmbeddingsPlugin, LocalEmbedder, embedder_for
from agent.registry import build_router
from avm.assembler import assemble_file
from avm.interpreter import execute
from avm.memory_host import MemoryHost
from avm.values import FIXED_SCALE

RAG = Path(__file__).resolve().parents[1] / "integration" / "agent_examples" / "rag_bot.air"

DOCS = {
    "avm": "The Agent Virtual Machine runs gas-metered IR programs for AI agents.",
    "council": "A council of reviewers votes on proposals that change an agent's code.",
    "swarm": "Swarm channels carry end-to-end encrypted messages between agents.",
    "bread": "Sourdough bread needs flour, water, salt and a starter culture.",
    "tides": "Ocean tides are caused by the gravitational pull of the moon.",
}
QUESTIONS = {
    "How do I bake a loaf with a starter?": "bread",
    "Who approves changes to an agent's program?": "council",
    "Why does the sea rise and fall every day?": "tides",
}


@pytest.fixture(scope="module")
def local_plugin() -> EmbeddingsPlugin:
    embedder = embedder_for(EmbedConfig(EmbedKind.LOCAL))
    assert isinstance(embedder, LocalEmbedder), "the embeddings extra is not installed"
    return EmbeddingsPlugin(embedder)


def test_local_model_gives_384_dimension_unit_fixed_point_vectors(
    local_plugin: EmbeddingsPlugin,
) -> None:
    vector = local_plugin.call("CALC_EMBED", ("hello agents", "all-MiniLM-L6-v2"))
    assert isinstance(vector, list) and len(vector) == 384
    assert all(type(x) is int and abs(x) <= FIXED_SCALE for x in vector)
    again = local_plugin.call("CALC_EMBED", ("hello agents", "all-MiniLM-L6-v2"))
    assert again == vector  # the same text embeds the same on the same machine


def answer_with_top_document(model: str, messages: list[dict[str, str]]) -> str:
    _question, docs = json.loads(last_user(messages))
    return f"{docs[0]['id']}: {docs[0]['text']}"


def test_rag_bot_retrieves_the_right_document_with_the_real_model(
    local_plugin: EmbeddingsPlugin,
) -> None:
    code = assemble_file(str(RAG)).code
    with openai_server(answer_with_top_document) as server:
        config = parse_config(
            {
                "plugins": {
                    "embed": {"kind": "local"},
                    "llm": {"base_url": f"{server.url}/v1", "model": "m", "max_retries": 0},
                }
            }
        )
        host = MemoryHost(plugins=build_router(config))
        host.install(host.self_address(), code)
        for doc_id, text in DOCS.items():
            stored = execute(code, host, "ingest", [doc_id, text], 10_000_000)
            assert stored.ok and stored.value is True, stored.trap
        for question, expected in QUESTIONS.items():
            result = execute(code, host, "retrievalPhase", [question], 10_000_000)
            assert result.ok, result.trap
            conversation = result.value.get("conversation")  # type: ignore[union-attr]
            reply = conversation[-1].get("content")
            assert reply.startswith(f"{expected}:"), (question, reply)

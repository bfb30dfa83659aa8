"""Plugins by name: the plugins file's tables become the router the local host asks."""

from __future__ import annotations

from agent.chain import ChainPlugin
from agent.config import RuntimeConfig
from agent.embeddings import EmbeddingsPlugin, embedder_for
from agent.llm import LlmPlugin
from agent.local import LocalPlugin
from agent.plugin import Plugin, PluginRouter
from agent.tools import ToolsPlugin


def build_router(config: RuntimeConfig) -> PluginRouter:
    """One plugin per configured table; LocalPlugin first, so numeric REDUCE_MODEL_CALL needs no
    model. Nothing connects or loads here: each plugin does so on its first call."""
    llm = LlmPlugin(config.llm) if config.llm is not None else None
    plugins: list[Plugin] = [LocalPlugin(config.max_wait_sec, llm)]
    if llm is not None:
        plugins.append(llm)
    if config.embed is not None:
        plugins.append(EmbeddingsPlugin(embedder_for(config.embed)))
    plugins.append(ToolsPlugin(config))
    if config.web3_url is not None:
        plugins.append(ChainPlugin(config.web3_url))
    return PluginRouter(plugins)

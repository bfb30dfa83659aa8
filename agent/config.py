"""The plugins file: which LLM, embedding model, tools and chain a local agent may use.

```toml
[runtime]
max_wait_sec = 10             # WAIT sleeps at most this long

[plugins.llm]                 # GPU_INFER, SEPARATE_PROMPT, MAP_MODEL_CALL, REDUCE_MODEL_CALL
kind = "openai"
base_url = "http://127.0.0.1:8000/v1"   # without base_url (or without this table): the
                              # embedded model (`aither model serve`, else loaded in process)
model = "gpt-4o-mini"         # used for any IR model name not in [plugins.llm.models]
api_key_env = "OPENAI_API_KEY"
timeout_sec = 30
max_retries = 2

[plugins.llm.models]          # IR model name -> endpoint model name
LLama = "llama-3.1-8b-instruct"

[plugins.embed]               # CALC_EMBED, DOC_EMBED
kind = "local"                # the bundled all-MiniLM-L6-v2; or "openai"
base_url = "..."              # optional: the OpenAI embeddings endpoint to fall back to
model = "text-embedding-3-small"

[tools.TwitterAPI]            # READ_FROM_TOOL, WRITE_TO_TOOL, CALL_PLUGIN
kind = "http"
url = "http://127.0.0.1:9000/twitter"

[tools.CriticModule]
kind = "python"
entry = "mypackage.critic:handle"   # or "critic.py:handle", a file beside this one

[swarm]
wait_timeout_sec = 30         # WAIT_FOR_RESPONSE without a timeout operand waits this long
min_responses = 1             # ... or until this many answers came
reward_timeout_blocks = 1000  # an escrowed reward returns if unpaid this many blocks later
responses_tool = "SwarmInbox" # answers WAIT_FOR_TASK, and WAIT_FOR_RESPONSE when the node
                              # does not hold the agent's swarm key (see agent.swarm)

[hpc]                         # HPC_MIGRATE / HPC_EXTENDED_ANALYSIS sent to a tool
tool = "HpcGateway"

[chain]                       # CHAIN_OP / WEB3_OP: read calls through web3.py
web3_url = "http://127.0.0.1:8545"
```
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from agent.errors import RuntimeConfigError
from agent.swarm import SwarmSettings
from model.embedded import EMBEDDED_MODEL

DEFAULT_TIMEOUT_SEC = 30.0
DEFAULT_RETRIES = 2
DEFAULT_MAX_WAIT_SEC = 10.0
DEFAULT_API_KEY_ENV = "OPENAI_API_KEY"


class EmbedKind(Enum):
    LOCAL = "local"
    OPENAI = "openai"


class ToolKind(Enum):
    HTTP = "http"
    PYTHON = "python"


@dataclass(frozen=True, slots=True)
class OpenAIEndpoint:
    """An OpenAI-compatible endpoint; the key is read from the environment, never the file.
    No `base_url`: the embedded model."""

    base_url: str | None
    model: str
    api_key_env: str = DEFAULT_API_KEY_ENV
    timeout_sec: float = DEFAULT_TIMEOUT_SEC
    max_retries: int = DEFAULT_RETRIES


@dataclass(frozen=True, slots=True)
class LlmConfig:
    endpoint: OpenAIEndpoint
    models: tuple[tuple[str, str], ...] = ()  # IR model name -> endpoint model name

    def model_for(self, name: object) -> str:
        """The endpoint's model for an IR model name (the default model for unknown names)."""
        if isinstance(name, str):
            return dict(self.models).get(name, self.endpoint.model)
        return self.endpoint.model


@dataclass(frozen=True, slots=True)
class EmbedConfig:
    kind: EmbedKind
    fallback: OpenAIEndpoint | None = None  # the endpoint itself when kind is OPENAI


@dataclass(frozen=True, slots=True)
class ToolConfig:
    name: str
    kind: ToolKind
    target: str  # the URL of an HTTP tool, "module:function" of a Python one
    timeout_sec: float = DEFAULT_TIMEOUT_SEC


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    llm: LlmConfig | None = None
    embed: EmbedConfig | None = None
    tools: tuple[ToolConfig, ...] = ()
    web3_url: str | None = None
    responses_tool: str | None = None
    hpc_tool: str | None = None
    max_wait_sec: float = DEFAULT_MAX_WAIT_SEC
    swarm: SwarmSettings = field(default_factory=SwarmSettings)
    source: str = field(default="(defaults)", compare=False)

    def tool(self, name: str) -> ToolConfig | None:
        return next((t for t in self.tools if t.name == name), None)


def load_config(path: Path | None) -> RuntimeConfig:
    """Read a plugins file; None gives a runtime with no plugins (every plugin call fails).

    Raises RuntimeConfigError naming the file and the offending key.
    """
    if path is None:
        return RuntimeConfig()
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise RuntimeConfigError(f"{path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RuntimeConfigError(f"{path}: not valid TOML: {exc}") from None
    return parse_config(data, str(path), path.parent)


def parse_config(
    data: dict[str, object], source: str = "(config)", base: Path | None = None
) -> RuntimeConfig:
    """Build a RuntimeConfig from parsed TOML; see the module docstring for the layout.

    A Python tool's "file.py:function" is resolved against `base` (the file's directory)."""
    where = _Where(source, base or Path.cwd())
    plugins = where.table(data, "plugins")
    runtime = where.table(data, "runtime")
    chain = where.table(data, "chain")
    swarm = where.table(data, "swarm")
    hpc = where.table(data, "hpc")
    tools_table = where.table(data, "tools")
    llm = _llm(where, where.table(plugins, "llm", "plugins") if "llm" in plugins else {})
    embed = _embed(where, where.table(plugins, "embed", "plugins")) if "embed" in plugins else None
    tools = tuple(
        _tool(where, name, where.table(tools_table, name, "tools")) for name in sorted(tools_table)
    )
    config = RuntimeConfig(
        llm=llm,
        embed=embed,
        tools=tools,
        web3_url=where.optional_str(chain, "web3_url", "chain"),
        responses_tool=where.optional_str(swarm, "responses_tool", "swarm"),
        hpc_tool=where.optional_str(hpc, "tool", "hpc"),
        max_wait_sec=where.number(runtime, "max_wait_sec", "runtime", DEFAULT_MAX_WAIT_SEC),
        swarm=_swarm(where, swarm),
        source=source,
    )
    for table, name in (
        ("[swarm] responses_tool", config.responses_tool),
        ("[hpc] tool", config.hpc_tool),
    ):
        if name is not None and config.tool(name) is None:
            raise RuntimeConfigError(
                f"{source}: {table} names {name!r}, which has no [tools.*] table"
            )
    return config


@dataclass(frozen=True, slots=True)
class _Where:
    """Typed reads from parsed TOML with errors that name the file and the key."""

    source: str
    base: Path

    def fail(self, message: str) -> RuntimeConfigError:
        return RuntimeConfigError(f"{self.source}: {message}")

    def table(self, data: dict, key: str, parent: str = "") -> dict:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(f"[{parent + '.' if parent else ''}{key}] must be a table")
        return value

    def string(self, data: dict, key: str, table: str) -> str:
        value = data.get(key)
        if not isinstance(value, str) or not value:
            raise self.fail(f'[{table}] needs {key} = "..."')
        return value

    def optional_str(self, data: dict, key: str, table: str) -> str | None:
        return self.string(data, key, table) if key in data else None

    def number(self, data: dict, key: str, table: str, default: float) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise self.fail(f"[{table}] {key} must be a non-negative number")
        return float(value)

    def count(self, data: dict, key: str, table: str, default: int) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(f"[{table}] {key} must be a non-negative integer")
        return value

    def endpoint(self, data: dict, table: str, embedded: bool = False) -> OpenAIEndpoint:
        """The endpoint in `table`; with `embedded`, one without base_url is the embedded model."""
        retries = self.count(data, "max_retries", table, DEFAULT_RETRIES)
        local = embedded and "base_url" not in data
        return OpenAIEndpoint(
            base_url=None if local else self.string(data, "base_url", table),
            model=self.string(data, "model", table)
            if "model" in data or not local
            else EMBEDDED_MODEL,
            api_key_env=data.get("api_key_env", DEFAULT_API_KEY_ENV),
            timeout_sec=self.number(data, "timeout_sec", table, DEFAULT_TIMEOUT_SEC),
            max_retries=retries,
        )


def _llm(where: _Where, data: dict) -> LlmConfig:
    if data.get("kind", "openai") != "openai":
        raise where.fail(f'[plugins.llm] kind {data.get("kind")!r} is unknown (use "openai")')
    models = where.table(data, "models", "plugins.llm")
    for name, target in models.items():
        if not isinstance(target, str):
            raise where.fail(f"[plugins.llm.models] {name} must name a model")
    endpoint = where.endpoint(data, "plugins.llm", embedded=True)
    return LlmConfig(endpoint, tuple(sorted(models.items())))


def _embed(where: _Where, data: dict) -> EmbedConfig:
    try:
        kind = EmbedKind(data.get("kind", "local"))
    except ValueError:
        raise where.fail(
            f'[plugins.embed] kind {data.get("kind")!r} is unknown (use "local" or "openai")'
        ) from None
    has_endpoint = "base_url" in data
    if kind is EmbedKind.OPENAI and not has_endpoint:
        raise where.fail('[plugins.embed] kind = "openai" needs base_url and model')
    fallback = where.endpoint(data, "plugins.embed") if has_endpoint else None
    return EmbedConfig(kind, fallback)


def _swarm(where: _Where, data: dict) -> SwarmSettings:
    defaults = SwarmSettings()
    settings = SwarmSettings(
        where.number(data, "wait_timeout_sec", "swarm", defaults.wait_timeout_sec),
        where.count(data, "min_responses", "swarm", defaults.min_responses),
        where.count(data, "reward_timeout_blocks", "swarm", defaults.reward_timeout_blocks),
    )
    if settings.min_responses < 1 or settings.reward_timeout_blocks < 1:
        raise where.fail("[swarm] min_responses and reward_timeout_blocks must be at least 1")
    return settings


def _tool(where: _Where, name: str, data: dict) -> ToolConfig:
    table = f"tools.{name}"
    try:
        kind = ToolKind(data.get("kind"))
    except ValueError:
        raise where.fail(f'[{table}] kind must be "http" or "python"') from None
    target = where.string(data, "url" if kind is ToolKind.HTTP else "entry", table)
    if kind is ToolKind.PYTHON:
        module, colon, function = target.rpartition(":")
        if not colon or not module or not function:
            raise where.fail(f'[{table}] entry must be "module:function", not {target!r}')
        if module.endswith(".py"):
            target = f"{(where.base / module).resolve()}:{function}"
    timeout = where.number(data, "timeout_sec", table, DEFAULT_TIMEOUT_SEC)
    return ToolConfig(name, kind, target, timeout)

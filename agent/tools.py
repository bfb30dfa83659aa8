"""The tools plugin: READ_FROM_TOOL, WRITE_TO_TOOL, CALL_PLUGIN, GET_TOOLS_LIST; the swarm
waits (WAIT_FOR_RESPONSE, WAIT_FOR_TASK) when `[swarm] responses_tool` names a tool; and
HPC_MIGRATE / HPC_EXTENDED_ANALYSIS when `[hpc] tool` names one (an HPC gateway is, to a local
run, one more JSON service).

Every tool gets one JSON request `{"op": "read" | "write" | "call" | "wait" | "hpc", "tool": NAME,
"func": ..., "args": ...}` and answers with JSON, which becomes the opcode's result. An HTTP tool
gets it as the body of a POST to its URL (a non-2xx status or a body that is not JSON fails); a
Python tool is a function `module:function` called with the request as a dict.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from pathlib import Path

import httpx

from agent.config import RuntimeConfig, ToolConfig, ToolKind
from agent.plugin import plain
from avm.host import PluginFailure
from avm.values import Value

ToolFunction = Callable[[dict[str, object]], object]


def load_entry(entry: str) -> ToolFunction:
    """The function named by "module:function" or "/path/file.py:function". Raises
    PluginFailure if it cannot be loaded."""
    module_name, _, attr = entry.rpartition(":")
    try:
        if module_name.endswith(".py"):
            spec = importlib.util.spec_from_file_location(Path(module_name).stem, module_name)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {module_name}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
        function = getattr(module, attr)
    except (ImportError, AttributeError, OSError, SyntaxError) as exc:
        raise PluginFailure(f"cannot load tool entry {entry}: {exc}") from None
    if not callable(function):
        raise PluginFailure(f"tool entry {entry} is not callable")
    return function


class ToolsPlugin:
    opcodes = frozenset(
        {
            "READ_FROM_TOOL",
            "WRITE_TO_TOOL",
            "CALL_PLUGIN",
            "GET_TOOLS_LIST",
            "WAIT_FOR_RESPONSE",
            "WAIT_FOR_TASK",
            "HPC_MIGRATE",
            "HPC_EXTENDED_ANALYSIS",
        }
    )

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self.http = httpx.Client()
        self.functions: dict[str, ToolFunction] = {}

    def call(self, opcode: str, args: tuple[Value, ...]) -> object:
        if opcode == "GET_TOOLS_LIST":
            return [t.name for t in self.config.tools]
        if opcode in ("WAIT_FOR_RESPONSE", "WAIT_FOR_TASK"):
            if self.config.responses_tool is None:
                raise PluginFailure(f"{opcode} needs [swarm] responses_tool in the plugins file")
            return self.request(self.config.responses_tool, "wait", opcode, args[0])
        if opcode in ("HPC_MIGRATE", "HPC_EXTENDED_ANALYSIS"):
            if self.config.hpc_tool is None:
                raise PluginFailure(f"{opcode}: no HPC gateway ([hpc] tool) is configured")
            return self.request(self.config.hpc_tool, "hpc", opcode, args)
        if opcode == "READ_FROM_TOOL":
            return self.request(args[0], "read", None, args[1])
        if opcode == "WRITE_TO_TOOL":
            return self.request(args[0], "write", None, args[1])
        if opcode == "CALL_PLUGIN":
            return self.request(args[0], "call", args[1], args[2])
        raise PluginFailure(f"the tools plugin does not serve {opcode}")

    def request(self, name: Value, op: str, func: Value, payload: Value) -> object:
        if type(name) is not str:
            raise PluginFailure(f"a tool name is a str, not {type(name).__name__}")
        tool = self.config.tool(name)
        if tool is None:
            raise PluginFailure(f"no tool {name!r} in the plugins file")
        body = {"op": op, "tool": name, "func": plain(func), "args": plain(payload)}
        if tool.kind is ToolKind.HTTP:
            return self._post(tool, body)
        function = self.functions.get(name)
        if function is None:
            function = self.functions[name] = load_entry(tool.target)
        try:
            return function(body)
        except PluginFailure:
            raise
        except Exception as exc:  # a tool's own bug must not crash the agent
            raise PluginFailure(f"tool {name}: {type(exc).__name__}: {exc}") from None

    def _post(self, tool: ToolConfig, body: dict[str, object]) -> object:
        try:
            response = self.http.post(tool.target, json=body, timeout=tool.timeout_sec)
        except httpx.TimeoutException:
            raise PluginFailure(
                f"tool {tool.name} timed out after {tool.timeout_sec:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise PluginFailure(f"tool {tool.name}: {type(exc).__name__}: {exc}") from None
        if not response.is_success:
            raise PluginFailure(f"tool {tool.name} answered HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            raise PluginFailure(f"tool {tool.name} answered without JSON") from None

"""`aither agent run`, `replay` and `tick` through the Typer app against a real dev node: local
state between runs, trace files, replays that reproduce the trace hash with every plugin and the
node gone, scheduled tasks, and one-line errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from typer.testing import CliRunner

from agent.cli import app
from agent.schedule import Schedule
from agent.state import AgentState
from agent.tracefile import TraceFile
from genesis.dev import DEV_TIMESTAMP, dev_key

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "agent"))
from runtime_servers import JsonServer, last_user, openai_server

if TYPE_CHECKING:
    from conftest import DevNode

pytestmark = pytest.mark.slow

AGENT = """
:main
  KV_FETCH "runs" -> runs
  IF runs == NULL THEN
    SET runs = 0
  ENDIF
  ADD runs, 1 -> runs
  KV_STORE "runs", runs
  READ_FROM_TOOL "News", ["AVM"] -> news
  GPU_INFER "LLama", news, out=summary, gas_limit=50
  JUMP_IF_PLUGIN_FAILED noModel
  CHECK_BALANCE "AVM_CREDITS", 100 -> rich
  LOG summary
  RETURN [runs, summary, rich]
:noModel
  LOG "model failed"
  RETURN [runs, NULL, false]
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    program = tmp_path / "agent.air"
    program.write_text(AGENT)
    return {"program": program, "state": tmp_path / "state", "trace": tmp_path / "trace.json"}


def write_plugins(path: Path, llm_url: str, tool_url: str, timeout: float = 5.0) -> Path:
    path.write_text(
        f"""
[plugins.llm]
kind = "openai"
base_url = "{llm_url}/v1"
model = "test-model"
timeout_sec = {timeout}
max_retries = 0

[tools.News]
kind = "http"
url = "{tool_url}/news"
"""
    )
    return path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def summarise(model: str, messages: list[dict[str, str]]) -> str:
    return "summary of " + last_user(messages)


def test_run_keeps_state_writes_a_trace_and_replay_reproduces_it_without_the_node(
    dev_node: DevNode, files: dict[str, Path], tmp_path: Path
) -> None:
    tool = JsonServer({"/news": lambda body: [f"{body['args'][0]} ships an agent runtime"]})
    with openai_server(summarise) as llm, tool:
        plugins = write_plugins(tmp_path / "plugins.toml", llm.url, tool.url)
        common = ["--dev-account", "0", "--rpc", dev_node.url, "--plugins", str(plugins)]
        common += ["--state-dir", str(files["state"]), "--entry", "main"]
        code, out = run("run", str(files["program"]), *common, "--json")
        assert code == 0, out
        first = json.loads(out)
        assert first["value"][0] == 1 and first["value"][2] is True
        assert first["value"][1] == 'summary of ["AVM ships an agent runtime"]'
        words = len(first["value"][1].split(" "))
        assert first["plugin_calls"][1]["units"] == 1 + words  # the model's tokens, as gas
        code, out = run("run", str(files["program"]), *common, "--trace", str(files["trace"]))
        assert code == 0, out
        assert "plugin READ_FROM_TOOL: ok" in out and "plugin GPU_INFER: ok" in out
        requests_before_replay = len(llm.requests) + len(tool.requests)
    state_file = files["state"] / dev_key(0).address.hex() / "storage.bin"
    assert state_file.exists()  # the counter survived between the two runs
    trace = TraceFile.read(files["trace"])
    assert [c.opcode for c in trace.calls] == ["READ_FROM_TOOL", "GPU_INFER"]
    assert [e.question for e in trace.node] == ["aither_getBalance"]
    assert trace.storage  # the second run started from the first run's storage

    dev_node.stop()  # every server is shut down now
    code, out = run("replay", str(files["trace"]), "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["matches"] and report["trace_hash"] == trace.trace_hash.hex()
    assert report["value"][0] == 2
    assert requests_before_replay == len(llm.requests) + len(tool.requests)


def test_a_failed_plugin_replays_with_the_same_hash_and_tampering_is_caught(
    dev_node: DevNode, files: dict[str, Path], tmp_path: Path
) -> None:
    tool = JsonServer({"/news": lambda body: ["slow news"]})
    with openai_server(summarise, delay=1.5) as llm, tool:
        plugins = write_plugins(tmp_path / "plugins.toml", llm.url, tool.url, timeout=0.2)
        code, out = run(
            "run", str(files["program"]), "--dev-account", "1", "--rpc", dev_node.url,
            "--plugins", str(plugins), "--state-dir", str(files["state"]), "--entry", "main",
            "--trace", str(files["trace"]), "--json",
        )  # fmt: skip
    assert code == 0, out
    assert json.loads(out)["value"] == [1, None, False]
    code, out = run("replay", str(files["trace"]))
    assert code == 0 and "replay matches" in out, out

    data = json.loads(files["trace"].read_text())
    data["calls"][0]["result"] = data["calls"][0]["result"].replace("736c6f77", "66617374")
    files["trace"].write_text(json.dumps(data))  # "slow" news became "fast" news
    code, out = run("replay", str(files["trace"]))
    assert code == 1 and "replay DIFFERS" in out, out


TASKS = """
:setup
  SCHEDULE_TASK "report", 3600 -> ok
  RETURN ok
:report
  KV_FETCH "reports" -> n
  IF n == NULL THEN
    SET n = 0
  ENDIF
  ADD n, 1 -> n
  KV_STORE "reports", n
  RETURN n
"""


def test_tick_runs_each_due_task_once_and_moves_it_to_its_next_period(
    dev_node: DevNode, tmp_path: Path
) -> None:
    program = tmp_path / "tasks.air"
    program.write_text(TASKS)
    state = tmp_path / "state"
    common = ["--dev-account", "2", "--rpc", dev_node.url, "--state-dir", str(state)]
    code, out = run("run", str(program), *common, "--entry", "setup")
    assert code == 0 and "task report: every 3600 s" in out, out
    schedules = AgentState(state, dev_key(2).address).load_schedules()
    # Registered from the run's block time: the dev chain's genesis, long past, so it is due.
    assert schedules == [Schedule("report", 3600, DEV_TIMESTAMP + 3600)]

    traces = tmp_path / "traces"
    code, out = run("tick", str(program), *common, "--trace-dir", str(traces))
    assert code == 0 and "task report" in out and "ok; value 1" in out, out
    (moved,) = AgentState(state, dev_key(2).address).load_schedules()
    assert moved.task == "report" and moved.interval_sec == 3600
    assert (moved.next_due - DEV_TIMESTAMP) % 3600 == 0 and moved.next_due > DEV_TIMESTAMP + 3600
    code, out = run("tick", str(program), *common)
    assert code == 0 and out.strip() == "no task is due", out  # one run per period, not more

    (trace,) = traces.iterdir()
    code, out = run("replay", str(trace))
    assert code == 0 and "replay matches" in out, out


def test_errors_are_one_line_without_a_traceback(files: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "nope.air"
    cases = [
        (["run", str(missing), "--dev-account", "0"], "nope.air"),
        (["run", str(files["program"])], "--key NAME or --dev-account N"),
        (["run", str(files["program"]), "--dev-account", "0", "--rpc", "http://127.0.0.1:9"],
         "cannot reach a node"),
        (["run", str(files["program"]), "--dev-account", "0", "--plugins", str(missing)],
         "nope.air"),
        (["run", str(files["program"]), "--dev-account", "0", "--agent", "0x12"],
         "address"),
        (["tick", str(missing), "--dev-account", "0"], "nope.air"),
        (["replay", str(missing)], "nope.air"),
    ]  # fmt: skip
    bad_trace = tmp_path / "bad.json"
    bad_trace.write_text('{"format": "something else"}')
    cases.append((["replay", str(bad_trace)], "not a readable trace file"))
    for args, message in cases:
        code, out = run(*args)
        assert code == 1, (args, out)
        assert message in out and "Traceback" not in out, (args, out)
        assert len(out.strip().splitlines()) == 1, out

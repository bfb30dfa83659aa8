"""`aither avm` commands (the Typer sub-app), run in-process."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from avm.cli import app

runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "avm" / "examples"
COUNTDOWN = """
:main
  SET n = ARGS[0]
:loop
  SUB n, 1 -> n
  JUMP_IF n, loop
  LOG "done"
  RETURN "finished"
"""


def _source(tmp_path: Path, text: str = COUNTDOWN) -> Path:
    path = tmp_path / "prog.air"
    path.write_text(text)
    return path


def test_assemble_writes_a_code_object_and_disasm_reads_it(tmp_path: Path) -> None:
    src = _source(tmp_path)
    out = tmp_path / "prog.avm"
    result = runner.invoke(app, ["assemble", str(src), "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert out.read_bytes()[:1] == b"\x98"
    disasm = runner.invoke(app, ["disasm", str(out)])
    assert disasm.exit_code == 0
    assert f";; code id {summary['code_id']}" in disasm.stdout
    again = tmp_path / "again.air"
    again.write_text(disasm.stdout)
    second = json.loads(runner.invoke(app, ["assemble", str(again), "--json"]).stdout)
    assert second["code_id"] == summary["code_id"]


def test_assemble_prints_warnings_for_the_trading_agent() -> None:
    result = runner.invoke(app, ["assemble", str(EXAMPLES / "trading_agent.air")])
    assert result.exit_code == 0
    assert "did you mean PATCH_SANDBOX_MAX?" in result.stderr


def test_run_with_trace_and_json(tmp_path: Path) -> None:
    src = _source(tmp_path)
    result = runner.invoke(
        app, ["run", str(src), "--entry", "main", "--arg", "3", "--json", "--trace"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["value"] == "finished" and report["logs"] == ["done"]
    assert report["trace"][0]["opcode"] == "GET" and len(report["trace_hash"]) == 64
    text = runner.invoke(app, ["run", str(src), "--entry", "main", "--arg", "2", "--trace"])
    assert "JUMP_IF" in text.stdout and "ok; value" in text.stdout


def test_errors_are_one_line_with_nonzero_exit(tmp_path: Path) -> None:
    bad = _source(tmp_path, "ADDD 1, 2\n")
    result = runner.invoke(app, ["assemble", str(bad)])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert "prog.air:1:1" in result.stderr and "did you mean ADD" in result.stderr
    missing = runner.invoke(app, ["disasm", str(tmp_path / "nope.avm")])
    assert missing.exit_code == 1 and "No such file" in missing.stderr
    garbage = tmp_path / "garbage.avm"
    garbage.write_bytes(b"\x98\x00\x01")
    assert runner.invoke(app, ["disasm", str(garbage)]).exit_code == 1


def test_run_reports_a_trap_with_nonzero_exit(tmp_path: Path) -> None:
    src = _source(tmp_path)
    result = runner.invoke(app, ["run", str(src), "--entry", "main", "--arg", "1000", "--gas", "3"])
    assert result.exit_code == 1
    assert "out_of_gas" in result.stdout
    nowhere = runner.invoke(app, ["run", str(src), "--entry", "nowhere"])
    assert nowhere.exit_code == 1 and "unknown_label" in nowhere.stdout


TESTED = """
:bump
  KV_FETCH "n" -> n
  ADD n, 1 -> n
  KV_STORE "n", n
  RETURN n
:boom
  REVERT "no"
.region STRATEGY council
:strategy
  SET ACC = 1
  RET
.endregion
.test bumps
  entry bump
  storage "n" = 41
  expect 42
  expect_storage "n" = 42
.endtest
.test wrong_storage
  entry bump
  storage "n" = 1
  expect_storage "n" = 3
.endtest
.test reverts STRATEGY
  entry boom
  expect_revert
.endtest
"""


def test_assemble_lists_the_regions_and_the_test_blocks(tmp_path: Path) -> None:
    result = runner.invoke(app, ["assemble", str(_source(tmp_path, TESTED))])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[1:] == [
        "  region STRATEGY council: instructions 5..6",
        "  test bumps: entry bump",
        "  test wrong_storage: entry bump",
        "  test reverts: entry boom, region STRATEGY",
    ]
    plain = runner.invoke(app, ["assemble", str(_source(tmp_path))])
    assert plain.stdout.splitlines()[1:] == ["  no regions", "  no .test blocks"]


def test_test_runs_each_test_block_and_exits_1_when_one_fails(tmp_path: Path) -> None:
    src = _source(tmp_path, TESTED)
    result = runner.invoke(app, ["test", str(src)])
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "pass  bumps  gas 1 (335 milligas)",
        "FAIL  wrong_storage  gas 1 (335 milligas): storage 'n' is 2, expected 3",
        "pass  reverts  gas 0 (0 milligas)",
        "2 passed, 1 failed",
    ]
    report = json.loads(runner.invoke(app, ["test", str(src), "--json"]).stdout)
    assert (report["passed"], report["failed"]) == (2, 1)
    assert report["tests"][1] == {
        "name": "wrong_storage",
        "passed": False,
        "gas_used": 1,
        "gas_used_milligas": 335,
        "reason": "storage 'n' is 2, expected 3",
    }


def test_test_passes_a_program_whose_tests_all_pass_and_reads_code_objects(
    tmp_path: Path,
) -> None:
    passing = _source(tmp_path, TESTED.split(".test wrong_storage")[0])
    out = tmp_path / "prog.avm"
    assert runner.invoke(app, ["assemble", str(passing), "--out", str(out)]).exit_code == 0
    result = runner.invoke(app, ["test", str(out)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["pass  bumps  gas 1 (335 milligas)", "1 passed, 0 failed"]
    bare = runner.invoke(app, ["test", str(_source(tmp_path))])
    assert bare.exit_code == 0 and bare.stdout.strip().endswith("prog.air: no .test blocks")
    broken = runner.invoke(app, ["test", str(_source(tmp_path, "ADDD 1, 2\n"))])
    assert broken.exit_code == 1 and "did you mean ADD" in broken.stderr
    assert broken.stderr.strip().count("\n") == 0

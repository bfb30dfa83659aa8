"""`aither avm`: assemble, disassemble, test and run AVM programs locally (no node).

Mounted by the node CLI as a Typer sub-app. Errors print one line and exit non-zero.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from avm.assembler import Assembly, assemble, parse_constant
from avm.code import CodeObject
from avm.disassembler import disassemble
from avm.gas import DEFAULT_GAS, MILLIGAS_PER_GAS
from avm.interpreter import execute, run_tests
from avm.memory_host import MemoryHost
from avm.trace import trace_hash
from avm.validation import decode_code
from avm.values import Value, to_python
from core.errors import AitherError

app = typer.Typer(
    help="Assemble, disassemble, test and run AVM programs locally.", no_args_is_help=True
)

CODE_MAGIC = b"\x98"  # a code object's encoding starts with an 8-element msgpack array


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(1)


def _load(path: Path) -> tuple[CodeObject, Assembly | None]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _fail(f"{path}: {exc.strerror or exc}") from None
    try:
        if data[:1] == CODE_MAGIC:
            return decode_code(data), None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise _fail(f"{path}: neither IR text (UTF-8) nor a code object") from None
        asm = assemble(text, str(path))
        return asm.code, asm
    except AitherError as exc:
        raise _fail(str(exc)) from None


def _warn(asm: Assembly | None) -> list[str]:
    warnings = [str(w) for w in asm.warnings] if asm else []
    for w in warnings:
        typer.echo(w, err=True)
    return warnings


def _summary(code: CodeObject) -> dict[str, object]:
    return {
        "code_id": code.code_id.hex(),
        "size": len(code.to_bytes()),
        "instructions": len(code.instructions),
        "registers": list(code.registers),
        "labels": {lb.name: lb.pc for lb in code.labels if not lb.name.startswith("%")},
        "regions": [
            {"name": r.name, "policy": r.policy.value, "start": r.start, "end": r.end}
            for r in code.regions
        ],
        "tests": [t.name for t in code.tests],
        "opcodes": list(code.opcodes_used),
    }


@app.command("assemble")
def assemble_cmd(
    file: Path = typer.Argument(..., help="IR source (.air)"),
    out: Path | None = typer.Option(None, "--out", "-o", help="write the code object here"),
    as_json: bool = typer.Option(False, "--json", help="print a JSON summary"),
) -> None:
    """Assemble IR text into a code object; print its code id, regions and .test blocks."""
    code, asm = _load(file)
    warnings = _warn(asm)
    if out is not None:
        try:
            out.write_bytes(code.to_bytes())
        except OSError as exc:
            raise _fail(f"{out}: {exc.strerror or exc}") from None
    if as_json:
        typer.echo(json.dumps({**_summary(code), "warnings": warnings}, indent=2))
    else:
        typer.echo(
            f"{code.code_id.hex()}  {len(code.instructions)} instructions, "
            f"{len(code.to_bytes())} bytes" + (f" -> {out}" if out else "")
        )
        for line in _contents(code):
            typer.echo(f"  {line}")


def _contents(code: CodeObject) -> list[str]:
    """A line per region (name, policy, instructions) and per `.test` block (name, entry)."""
    lines = [
        f"region {r.name} {r.policy.value}: instructions {r.start}..{r.end - 1}"
        for r in code.regions
    ] or ["no regions"]
    tests = [
        f"test {t.name}: entry {t.entry}" + (f", region {t.region}" if t.region else "")
        for t in code.tests
    ]
    return lines + (tests or ["no .test blocks"])


@app.command("disasm")
def disasm_cmd(
    file: Path = typer.Argument(..., help="a code object or IR source"),
    as_json: bool = typer.Option(False, "--json", help="print JSON with the text and a summary"),
) -> None:
    """Print a code object as readable IR (assembling it again gives the same code id)."""
    code, _ = _load(file)
    text = disassemble(code)
    if as_json:
        typer.echo(json.dumps({**_summary(code), "text": text}, indent=2))
    else:
        typer.echo(text, nl=False)


def _gas_text(milligas: int) -> str:
    """Gas as `aither avm run` prints it: whole gas (rounded up) and the exact milligas."""
    return f"gas {-(-milligas // MILLIGAS_PER_GAS)} ({milligas} milligas)"


@app.command("test")
def test_cmd(
    file: Path = typer.Argument(..., help="IR source or a code object with .test blocks"),
    as_json: bool = typer.Option(False, "--json", help="print the results as JSON"),
) -> None:
    """Run the program's .test blocks in fresh sandboxes: a line each, exit 1 if one fails.

    The chain's sandbox runs them the same way for a proposal (avm.interpreter.run_tests)."""
    code, asm = _load(file)
    _warn(asm)
    outcomes = run_tests(code, code.tests)
    failed = [o for o in outcomes if not o.passed]
    if as_json:
        report = {
            "file": str(file),
            "code_id": code.code_id.hex(),
            "passed": len(outcomes) - len(failed),
            "failed": len(failed),
            "tests": [
                {
                    "name": o.name,
                    "passed": o.passed,
                    "gas_used": -(-o.gas_used // MILLIGAS_PER_GAS),
                    "gas_used_milligas": o.gas_used,
                    "reason": o.reason,
                }
                for o in outcomes
            ],
        }
        typer.echo(json.dumps(report, indent=2))
    elif not outcomes:
        typer.echo(f"{file}: no .test blocks")
    else:
        for o in outcomes:
            status = "pass" if o.passed else "FAIL"
            reason = f": {o.reason}" if o.reason else ""
            typer.echo(f"{status}  {o.name}  {_gas_text(o.gas_used)}{reason}")
        typer.echo(f"{len(outcomes) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


def _parse_arg(text: str) -> Value:
    try:
        return parse_constant(text)
    except AitherError as exc:
        raise _fail(f"argument {text!r}: {exc}") from None


@app.command("run")
def run_cmd(
    file: Path = typer.Argument(..., help="IR source or a code object"),
    entry: str = typer.Option(..., "--entry", "-e", help="label to start at"),
    args: list[str] = typer.Option([], "--arg", "-a", help="an argument as an IR literal"),
    gas: int = typer.Option(
        DEFAULT_GAS // MILLIGAS_PER_GAS, "--gas", help="gas limit (1 gas = 1000 milligas)"
    ),
    trace: bool = typer.Option(False, "--trace", help="print every instruction"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
) -> None:
    """Run a program on an in-memory host, from ENTRY, and print the result and gas."""
    code, asm = _load(file)
    _warn(asm)
    if gas < 0:
        raise _fail("--gas must not be negative")
    values = [_parse_arg(a) for a in args]
    host = MemoryHost()
    host.install(host.self_address(), code)
    result = execute(code, host, entry, values, gas * MILLIGAS_PER_GAS, trace=trace)
    report: dict[str, object] = {
        "ok": result.ok,
        "value": to_python(result.value),
        "gas_used_milligas": result.gas_used,
        "gas_used": -(-result.gas_used // MILLIGAS_PER_GAS),
        "trap": str(result.trap) if result.trap else None,
        "logs": [to_python(v) for v in result.logs],
    }
    if result.trace is not None:
        report["trace_hash"] = trace_hash(result.trace).hex()
    if as_json:
        if result.trace is not None:
            report["trace"] = [e.to_json() for e in result.trace]
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        if result.trace is not None:
            for e in result.trace:
                ins = ", ".join(json.dumps(to_python(v), default=str) for v in e.inputs)
                outs = ", ".join(json.dumps(to_python(v), default=str) for v in e.outputs)
                line = f"{e.pc:5d}  {e.opcode:<22} gas {e.gas:>7}  in [{ins}]"
                if outs:
                    line += f"  out [{outs}]"
                if e.trap:
                    line += f"  TRAP {e.trap}"
                typer.echo(line)
        for log in result.logs:
            typer.echo(f"log: {json.dumps(to_python(log), default=str)}")
        status = "ok" if result.ok else f"trap: {result.trap}"
        typer.echo(
            f"{status}; value {json.dumps(to_python(result.value), default=str)}; gas used "
            f"{report['gas_used']} ({result.gas_used} milligas)"
        )
    if not result.ok:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - for `python -m avm.cli`
    app(prog_name="aither avm")


if __name__ == "__main__":  # pragma: no cover
    main()

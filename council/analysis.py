"""Each council role's deterministic analysis of a code-change proposal.

Pure functions over the proposal JSON that `aither_getProposal` serves: the region's IR before and
after is assembled with the AVM assembler (as a fragment: a region body may jump to labels outside
it) and compared instruction by instruction. Every role returns an `Analysis`: its findings, each
with a severity, and the choice the findings call for, with a one-paragraph explanation.

The same proposal always gives the same analysis, so members of one role agree unless their model
reviews differ, and a vote can be audited by re-running the analysis.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from avm.assembler import Assembler, Assembly
from avm.code import CodeObject, Instruction, OperandKind
from avm.disassembler import literal
from avm.errors import AvmError
from avm.gas import CURRENT as GAS_SCHEDULE
from avm.instructions import OPCODES
from avm.lexer import Tok, tokenize_line
from avm.opcodes import Control
from core.errors import AitherError
from ledger.governance.params import Role
from ledger.governance.payloads import Choice

# How cautious each choice is: yes < abstain < no < veto (the payload's numbering differs).
CAUTION = {Choice.YES: 0, Choice.ABSTAIN: 1, Choice.NO: 2, Choice.VETO: 3}


def parse_role(text: str) -> Role:
    """A reviewing role from its name in any case, with or without separators
    (`security-auditor`): one of REVIEW_ROLES (a custom role has no analysis of its own)."""
    key = re.sub(r"[^a-z]", "", text.lower())
    for role in REVIEW_ROLES:
        if role.value.lower() == key:
            return role
    names = ", ".join(role.value for role in REVIEW_ROLES)
    raise ValueError(f"unknown role {text!r}; use one of {names}")


def parse_choice(text: str) -> Choice:
    try:
        return Choice(text.lower())
    except ValueError:
        raise ValueError(f"unknown choice {text!r}; use yes, no, abstain or veto") from None


class Severity(enum.IntEnum):
    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


@dataclass(frozen=True, slots=True)
class Finding:
    """One observation: `code` is a stable short name for scripts, `message` is for people."""

    severity: Severity
    code: str
    message: str

    def __str__(self) -> str:
        return f"[{self.severity.name.lower()}] {self.message}"


@dataclass(frozen=True, slots=True)
class Analysis:
    role: Role
    choice: Choice
    findings: tuple[Finding, ...]
    explanation: str

    @property
    def worst(self) -> Severity:
        return max((f.severity for f in self.findings), default=Severity.INFO)


class ProposalFormatError(AitherError):
    """Proposal JSON that does not have the shape the council expects."""


# -- the proposal, as served over RPC ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SandboxResult:
    """One test the chain ran against the patched code. Gas is None for a test that is new."""

    test: str
    passed: bool
    gas_before: int | None
    gas_after: int | None
    storage_before: int | None = None  # optional: bytes of agent storage after the test
    storage_after: int | None = None


@dataclass(frozen=True, slots=True)
class CastVote:
    member: str
    choice: str
    explanation: str


@dataclass(frozen=True, slots=True)
class Proposal:
    """The fields of `aither_getProposal` the council reads (the JSON keys are camelCase)."""

    id: str
    kind: str
    status: str
    agent: str
    region: str
    rationale: str
    old_ir: str
    new_ir: str
    tests: str
    sandbox: tuple[SandboxResult, ...]
    votes: tuple[CastVote, ...]

    @property
    def id_bytes(self) -> bytes:
        return bytes.fromhex(self.id[2:])

    def voted_by(self, address: str) -> bool:
        """True if `address` (any case) appears among the proposal's votes."""
        return any(v.member.lower() == address.lower() for v in self.votes)

    @classmethod
    def from_json(cls, obj: object) -> Proposal:
        """Read one proposal object. Raises ProposalFormatError naming the bad field."""
        if not isinstance(obj, Mapping):
            raise ProposalFormatError("a proposal is a JSON object")
        pid = obj.get("id")
        if not isinstance(pid, str) or re.fullmatch(r"0x[0-9a-fA-F]{64}", pid) is None:
            raise ProposalFormatError(f"proposal id {pid!r} is not 0x-hex of 32 bytes")
        sandbox = obj.get("sandbox") or []
        votes = obj.get("votes") or []
        if not isinstance(sandbox, list) or not isinstance(votes, list):
            raise ProposalFormatError(f"proposal {pid}: sandbox and votes must be lists")
        return cls(
            id=pid.lower(),
            kind=_text(obj, "kind", pid),
            status=_text(obj, "status", pid),
            agent=_text(obj, "agent", pid),
            region=_text(obj, "region", pid),
            rationale=_text(obj, "rationale", pid),
            old_ir=_text(obj, "oldIr", pid),
            new_ir=_text(obj, "newIr", pid),
            tests=_text(obj, "tests", pid),
            sandbox=tuple(_sandbox_result(entry, pid) for entry in sandbox),
            votes=tuple(_cast_vote(entry, pid) for entry in votes),
        )


def _text(obj: Mapping[str, object], key: str, pid: str) -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ProposalFormatError(f"proposal {pid}: {key} must be text")
    return value


def _quantity(value: object, what: str) -> int | None:
    """An integer from JSON: a number or 0x-hex (the node writes quantities as hex)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]+", value):
        return int(value, 16)
    raise ProposalFormatError(f"{what} must be an integer, got {value!r}")


def _sandbox_result(entry: object, pid: str) -> SandboxResult:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("test"), str):
        raise ProposalFormatError(f"proposal {pid}: a sandbox entry needs a test name")
    name = entry["test"]
    where = f"proposal {pid}: sandbox {name}"
    return SandboxResult(
        name,
        entry.get("passed") is True,
        _quantity(entry.get("gasBefore"), f"{where} gasBefore"),
        _quantity(entry.get("gasAfter"), f"{where} gasAfter"),
        _quantity(entry.get("storageBefore"), f"{where} storageBefore"),
        _quantity(entry.get("storageAfter"), f"{where} storageAfter"),
    )


def _cast_vote(entry: object, pid: str) -> CastVote:
    if not isinstance(entry, Mapping) or not isinstance(entry.get("member"), str):
        raise ProposalFormatError(f"proposal {pid}: a vote needs a member address")
    return CastVote(
        entry["member"], str(entry.get("choice", "")), str(entry.get("explanation", ""))
    )


# -- the assembled IR ----------------------------------------------------------------------------

PAYMENT_OPCODES = frozenset({"PAY_AGENT", "SWARM_BROADCAST", "SEND_SWARM_MSG"})
PERMISSION_OPCODES = frozenset({"CHECK_PERMISSIONS", "CHECK_SIG", "SECURITY_CHECK"})
# CALLER read before a payment is the "only the owner may" guard pattern.
GUARD_OPCODES = PERMISSION_OPCODES | {"CALLER"}
SELF_MODIFY_OPCODES = frozenset(
    {"SELF_MODIFY", "SELF_MODIFY_SANDBOX", "REVERT_CODE", "SELF_OBSERVER_MODE"}
)
AGENT_CREATION_OPCODES = frozenset({"FORK_AGENT", "CROSSOVER"})
# The chain host refuses opcodes whose result other nodes cannot reproduce (model calls, tools).
NONDETERMINISTIC_OPCODES = frozenset(name for name, s in OPCODES.items() if not s.deterministic)
STORAGE_WRITE_OPCODES = frozenset({"KV_STORE", "SAVE_EXECUTION_STATE", "DOC_STORE"})
ALLOCATING_OPCODES = frozenset({"APPEND", "APPEND_MESSAGE", "CONCAT", "PUT", "LIST", "MAP"})
COMPARISON_OPCODES = frozenset({"LT", "LE", "GT", "GE", "EQ", "NE"})
REGION_START = "(region start)"
_STRING = re.compile(r'x?"(?:[^"\\\n]|\\.)*"')


@dataclass(frozen=True, slots=True)
class Loop:
    """A backward jump and the instructions it repeats."""

    label: str
    start: int
    end: int  # the pc of the backward jump
    has_exit: bool
    bounded: bool
    line: int


@dataclass(frozen=True, slots=True)
class Program:
    """One side of the diff: a region body assembled, with what the roles ask of it."""

    code: CodeObject
    warnings: tuple[str, ...]
    lines: Mapping[int, int]  # pc -> source line
    comment_lines: int

    @property
    def opcode_counts(self) -> Counter[str]:
        return Counter(ins.opcode for ins in self.code.instructions)

    @property
    def user_labels(self) -> dict[str, int]:
        """Labels written in the source (generated ones, for IF blocks, start with `%`)."""
        return {lb.name: lb.pc for lb in self.code.labels if not lb.name.startswith("%")}

    def blocks(self) -> dict[str, tuple[str, ...]]:
        """Instruction texts from each user label to the next, comparable across assemblies."""
        starts = sorted(set(self.user_labels.values()) | {0})
        n = len(self.code.instructions)
        by_pc: dict[int, list[str]] = {}
        for name, pc in self.user_labels.items():
            by_pc.setdefault(pc, []).append(name)
        blocks: dict[str, tuple[str, ...]] = {}
        for i, start in enumerate(starts):
            end = starts[i + 1] if i + 1 < len(starts) else n
            body = tuple(self.text(pc, start) for pc in range(start, end))
            for name in by_pc.get(start, [REGION_START] if body else []):
                blocks[name] = body
        return blocks

    def text(self, pc: int, base: int) -> str:
        """One instruction as text; generated labels as offsets, since their numbers shift."""
        ins = self.code.instructions[pc]
        parts = []
        for op in ins.operands:
            if op.kind is OperandKind.REG:
                parts.append(self.code.registers[int(op.ref)])
            elif op.kind is OperandKind.CONST:
                parts.append(literal(self.code.constants[int(op.ref)]))
            elif str(op.ref).startswith("%"):
                target = self.code.label_pc(str(op.ref))
                parts.append(f"@{'?' if target is None else target - base}")
            else:
                parts.append(str(op.ref))
        out = "" if ins.out is None else f" -> {self.code.registers[ins.out]}"
        return f"{ins.opcode} {', '.join(parts)}{out}".strip()

    def successors(self, pc: int) -> list[int]:
        """Control-flow successors inside the region (jumps out of it are not followed)."""
        ins = self.code.instructions[pc]
        spec = OPCODES[ins.opcode]
        target = _label_target(self.code, ins)
        nxt = [pc + 1] if pc + 1 < len(self.code.instructions) else []
        if spec.control in (Control.STOP, Control.RET):
            return []
        if spec.control is Control.NEXT:
            return nxt
        jump = [target] if target is not None else []
        if ins.opcode == "JUMP":
            return jump
        return jump + nxt  # conditional branches, and CALL (which comes back)

    def reachable(self, entries: Iterable[int]) -> set[int]:
        seen: set[int] = set()
        todo = [pc for pc in entries if 0 <= pc < len(self.code.instructions)]
        while todo:
            pc = todo.pop()
            if pc in seen:
                continue
            seen.add(pc)
            todo.extend(self.successors(pc))
        return seen

    def guarded(self) -> list[bool]:
        """For each pc: does every path from the region start pass a permission check first?"""
        n = len(self.code.instructions)
        preds: list[list[int]] = [[] for _ in range(n)]
        for pc in range(n):
            for succ in self.successors(pc):
                preds[succ].append(pc)
        # A must-analysis: start optimistic everywhere but the entry, and only ever lower.
        guard_in = [True] * n
        guard_out = [True] * n
        changed = True
        while changed:
            changed = False
            for pc in range(n):
                new_in = False if pc == 0 else all(guard_out[p] for p in preds[pc])
                new_out = new_in or self.code.instructions[pc].opcode in GUARD_OPCODES
                if (new_in, new_out) != (guard_in[pc], guard_out[pc]):
                    guard_in[pc], guard_out[pc] = new_in, new_out
                    changed = True
        return guard_in

    def loops(self) -> list[Loop]:
        """Every backward jump, with whether it can leave and whether a counter bounds it."""
        found = []
        for pc, ins in enumerate(self.code.instructions):
            if OPCODES[ins.opcode].control is not Control.BRANCH:
                continue
            target = _label_target(self.code, ins)
            if target is None or target > pc:
                continue
            body = range(target, pc + 1)
            label = next(
                (name for name, at in self.user_labels.items() if at == target), f"pc {target}"
            )
            has_exit = ins.opcode != "JUMP" or any(
                self._leaves(at, body) for at in body if at != pc
            )
            found.append(
                Loop(
                    label,
                    target,
                    pc,
                    has_exit,
                    has_exit and self._counted(body),
                    self.lines.get(pc, 0),
                )
            )
        return found

    def _leaves(self, pc: int, body: range) -> bool:
        ins = self.code.instructions[pc]
        control = OPCODES[ins.opcode].control
        if control in (Control.STOP, Control.RET):
            return True
        if control is Control.BRANCH:
            target = _label_target(self.code, ins)
            return target is None or target not in body
        return False

    def _counted(self, body: range) -> bool:
        """A register stepped by a constant and compared in the loop, or a gas budget compared."""
        code = self.code
        counters = set()
        compared: set[int] = set()
        for pc in body:
            ins = code.instructions[pc]
            regs = [int(op.ref) for op in ins.operands if op.kind is OperandKind.REG]
            consts = [
                code.constants[int(op.ref)] for op in ins.operands if op.kind is OperandKind.CONST
            ]
            stepped = [c for c in consts if type(c) is int and c != 0]
            if ins.opcode in ("ADD", "SUB") and ins.out in regs and stepped:
                counters.add(ins.out)
            if ins.opcode in COMPARISON_OPCODES or ins.opcode in ("JUMP_IF", "JUMP_IF_FALSE"):
                compared.update(regs)
        if counters & compared:
            return True
        return any("gas" in code.registers[r].lower() for r in compared)

    def static_gas(self) -> int:
        """The sum of each instruction's static price in milligas (dynamic parts excluded)."""
        total = 0
        for ins in self.code.instructions:
            price = getattr(GAS_SCHEDULE, OPCODES[ins.opcode].gas, 0)
            total += price if isinstance(price, int) else 0
        return total


def _label_target(code: CodeObject, ins: Instruction) -> int | None:
    for op in ins.operands:
        if op.kind is OperandKind.LABEL:
            return code.label_pc(str(op.ref))
    return None


def assemble_region(text: str, file: str) -> Program:
    """Assemble a region body. Raises AvmError (with file:line:col) when it does not assemble."""
    assembly: Assembly = Assembler(file, fragment=True).run(text)
    comment_lines = sum(1 for line in text.split("\n") if ";" in _STRING.sub("", line))
    return Program(
        assembly.code,
        tuple(w.message for w in assembly.warnings),
        assembly.lines(),
        comment_lines,
    )


def added_test_entries(text: str) -> dict[str, str]:
    """Test name -> entry label, from the `.test` blocks a proposal adds (no label check)."""
    entries: dict[str, str] = {}
    current: str | None = None
    for n, line in enumerate(text.split("\n"), 1):
        tokens = tokenize_line(line, "<tests>", n)
        first = tokens[0]
        if first.kind is Tok.DIRECTIVE and first.text == ".test" and len(tokens) > 1:
            current = tokens[1].text
        elif first.kind is Tok.DIRECTIVE and first.text == ".endtest":
            current = None
        elif current is not None and first.kind is Tok.IDENT and first.text.lower() == "entry":
            entries[current] = tokens[1].text
    return entries


# -- the diff both sides share -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Diff:
    old: Program
    new: Program
    changed_labels: tuple[str, ...]  # labels whose block is new or differs
    removed_labels: tuple[str, ...]

    @property
    def added_opcodes(self) -> Counter[str]:
        return self.new.opcode_counts - self.old.opcode_counts

    @property
    def removed_opcodes(self) -> Counter[str]:
        return self.old.opcode_counts - self.new.opcode_counts

    def changed_pcs(self) -> set[int]:
        """The pcs of the new program that lie in a changed block."""
        starts = sorted(set(self.new.user_labels.values()) | {0})
        n = len(self.new.code.instructions)
        changed_starts = {
            0 if name == REGION_START else self.new.user_labels[name]
            for name in self.changed_labels
        }
        pcs: set[int] = set()
        for i, start in enumerate(starts):
            if start in changed_starts:
                pcs.update(range(start, starts[i + 1] if i + 1 < len(starts) else n))
        return pcs


class DiffError(Exception):
    """The new IR does not assemble; carries the assembler's message."""


def diff(proposal: Proposal) -> Diff:
    """Assemble both sides. Raises DiffError when the new IR does not assemble; an old IR that
    does not (a parameter proposal has none) counts as empty."""
    try:
        new = assemble_region(proposal.new_ir, "<newIr>")
    except AvmError as exc:
        raise DiffError(str(exc)) from None
    try:
        old = assemble_region(proposal.old_ir, "<oldIr>")
    except AvmError:
        old = assemble_region("", "<oldIr>")
    old_blocks, new_blocks = old.blocks(), new.blocks()
    changed = tuple(sorted(name for name, b in new_blocks.items() if old_blocks.get(name) != b))
    removed = tuple(sorted(set(old_blocks) - set(new_blocks)))
    return Diff(old, new, changed, removed)


# -- the roles -----------------------------------------------------------------------------------


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{op} x{n}" if n > 1 else op for op, n in sorted(counter.items()))


def _pct(before: int, after: int) -> float:
    return 100.0 * (after - before) / before if before else (0.0 if after == before else 100.0)


def security_auditor(proposal: Proposal, d: Diff) -> list[Finding]:
    """Opcodes added and removed, permission and payment paths touched, loops that may not end."""
    findings: list[Finding] = []
    added, removed = d.added_opcodes, d.removed_opcodes
    if added or removed:
        findings.append(
            Finding(
                Severity.INFO,
                "opcodes",
                f"opcodes added: {_counts(added) or 'none'}; removed: {_counts(removed) or 'none'}",
            )
        )
    changed = d.changed_pcs()
    guarded = d.new.guarded()
    code = d.new.code
    lost_checks = {op: n for op, n in removed.items() if op in PERMISSION_OPCODES}
    if lost_checks:
        findings.append(
            Finding(
                Severity.CRITICAL,
                "permission-removed",
                f"permission checks removed: {_counts(Counter(lost_checks))}",
            )
        )
    new_external = sorted(set(added) & NONDETERMINISTIC_OPCODES)
    if new_external:
        findings.append(
            Finding(
                Severity.CRITICAL,
                "nondeterministic",
                f"adds opcodes the chain host refuses (not reproducible by every node): "
                f"{', '.join(new_external)}",
            )
        )
    for pc, ins in enumerate(code.instructions):
        if ins.opcode not in PAYMENT_OPCODES or pc not in changed:
            continue
        line = d.new.lines.get(pc, 0)
        if added[ins.opcode] and not guarded[pc]:
            findings.append(
                Finding(
                    Severity.HIGH,
                    "payment-unguarded",
                    f"{ins.opcode} at line {line} is a new payment path that no permission check "
                    "(CHECK_PERMISSIONS, CHECK_SIG, SECURITY_CHECK, CALLER) precedes",
                )
            )
        else:
            findings.append(
                Finding(
                    Severity.MEDIUM,
                    "payment-touched",
                    f"{ins.opcode} at line {line} is in a changed block"
                    + (" behind a permission check" if guarded[pc] else ""),
                )
            )
    for pc, ins in enumerate(code.instructions):
        if ins.opcode in PERMISSION_OPCODES and pc in changed and not lost_checks:
            findings.append(
                Finding(
                    Severity.MEDIUM,
                    "permission-touched",
                    f"{ins.opcode} at line {d.new.lines.get(pc, 0)} is in a changed block",
                )
            )
    for group, code_name, what in (
        (SELF_MODIFY_OPCODES, "self-modify-added", "self-modification"),
        (AGENT_CREATION_OPCODES, "agent-creation-added", "agent creation"),
    ):
        gained = sorted(set(added) & group)
        if gained:
            findings.append(Finding(Severity.HIGH, code_name, f"adds {what}: {', '.join(gained)}"))
    old_unbounded = {lp.label for lp in d.old.loops() if not lp.bounded}
    for lp in d.new.loops():
        if lp.bounded:
            continue
        if lp.label in old_unbounded:
            findings.append(
                Finding(
                    Severity.INFO,
                    "loop-preexisting",
                    f"the loop at {lp.label} (line {lp.line}) was already unbounded before",
                )
            )
        elif not lp.has_exit:
            findings.append(
                Finding(
                    Severity.CRITICAL,
                    "loop-no-exit",
                    f"the loop back to {lp.label} (line {lp.line}) has no way out: every call "
                    "burns its whole gas limit",
                )
            )
        else:
            findings.append(
                Finding(
                    Severity.HIGH,
                    "loop-unbounded",
                    f"the loop back to {lp.label} (line {lp.line}) has no counter stepped and "
                    "compared inside it, nor a gas budget check",
                )
            )
    if not any(f.severity > Severity.INFO for f in findings):
        findings.append(
            Finding(Severity.INFO, "no-security-change", "no permission, payment or loop change")
        )
    return findings


# Gas regressions beyond these percentages (on the worst test) call for caution.
GAS_REGRESSION_MEDIUM_PCT = 5.0
GAS_REGRESSION_HIGH_PCT = 20.0


def latency_profiler(proposal: Proposal, d: Diff) -> list[Finding]:
    """Gas per test from the sandbox, and static instruction counts and prices."""
    findings: list[Finding] = []
    measured = [r for r in proposal.sandbox if r.gas_before is not None and r.gas_after is not None]
    worst: tuple[float, SandboxResult] | None = None
    for r in measured:
        assert r.gas_before is not None and r.gas_after is not None
        pct = _pct(r.gas_before, r.gas_after)
        if worst is None or pct > worst[0]:
            worst = (pct, r)
    if worst is None:
        findings.append(
            Finding(Severity.LOW, "no-gas-figures", "no sandbox test has gas before and after")
        )
    else:
        pct, r = worst
        severity = (
            Severity.HIGH
            if pct > GAS_REGRESSION_HIGH_PCT
            else Severity.MEDIUM
            if pct > GAS_REGRESSION_MEDIUM_PCT
            else Severity.INFO
        )
        before = sum(r.gas_before or 0 for r in measured)
        after = sum(r.gas_after or 0 for r in measured)
        findings.append(
            Finding(
                severity,
                "gas-regression" if pct > GAS_REGRESSION_MEDIUM_PCT else "gas",
                f"worst test {r.test}: gas {r.gas_before} -> {r.gas_after} ({pct:+.1f}%); "
                f"all {len(measured)} tests {before} -> {after} ({_pct(before, after):+.1f}%)",
            )
        )
    new_tests = [r.test for r in proposal.sandbox if r.gas_before is None]
    if new_tests:
        findings.append(
            Finding(Severity.INFO, "new-tests", f"no earlier gas for new tests: {new_tests}")
        )
    old_n, new_n = len(d.old.code.instructions), len(d.new.code.instructions)
    old_gas, new_gas = d.old.static_gas(), d.new.static_gas()
    static_pct = _pct(old_gas, new_gas)
    findings.append(
        Finding(
            Severity.MEDIUM
            if worst is None and static_pct > GAS_REGRESSION_HIGH_PCT and old_gas
            else Severity.INFO,
            "static",
            f"instructions {old_n} -> {new_n}; static price {old_gas} -> {new_gas} milligas "
            f"({static_pct:+.1f}%)",
        )
    )
    return findings


CODE_GROWTH_MEDIUM_PCT = 50.0


def memory_optimizer(proposal: Proposal, d: Diff) -> list[Finding]:
    """Storage written (per the sandbox when it reports it, and statically), code and constants."""
    findings: list[Finding] = []

    def loop_ops(program: Program, bounded: bool | None = None) -> Counter[str]:
        return Counter(
            program.code.instructions[pc].opcode
            for lp in program.loops()
            if bounded is None or lp.bounded is bounded
            for pc in range(lp.start, lp.end + 1)
        )

    old_loop_ops = loop_ops(d.old)
    grown = loop_ops(d.new) - old_loop_ops
    unbounded = loop_ops(d.new, bounded=False) - old_loop_ops
    stores = {op: n for op, n in grown.items() if op in STORAGE_WRITE_OPCODES}
    if stores:
        # A counted loop writes a bounded number of entries; an unbounded one, any number.
        endless = any(op in unbounded for op in stores)
        findings.append(
            Finding(
                Severity.HIGH if endless else Severity.MEDIUM,
                "storage-in-loop",
                f"storage writes inside {'an unbounded' if endless else 'a counted'} loop "
                f"(storage grows per iteration): {_counts(Counter(stores))}",
            )
        )
    allocs = {op: n for op, n in grown.items() if op in ALLOCATING_OPCODES}
    if allocs:
        findings.append(
            Finding(
                Severity.MEDIUM,
                "allocation-in-loop",
                f"values built inside a loop: {_counts(Counter(allocs))}",
            )
        )
    writes = {op: n for op, n in d.added_opcodes.items() if op in STORAGE_WRITE_OPCODES}
    if writes and not stores:
        findings.append(
            Finding(
                Severity.LOW, "storage-added", f"adds storage writes: {_counts(Counter(writes))}"
            )
        )
    sized = [
        r for r in proposal.sandbox if r.storage_before is not None and r.storage_after is not None
    ]
    if sized:
        before = sum(r.storage_before or 0 for r in sized)
        after = sum(r.storage_after or 0 for r in sized)
        pct = _pct(before, after)
        findings.append(
            Finding(
                Severity.MEDIUM if pct > CODE_GROWTH_MEDIUM_PCT else Severity.INFO,
                "storage-delta",
                f"storage after the tests {before} -> {after} bytes ({pct:+.1f}%)",
            )
        )
    old_code, new_code = d.old.code, d.new.code
    old_size, new_size = len(old_code.to_bytes()), len(new_code.to_bytes())
    growth = _pct(old_size, new_size)
    findings.append(
        Finding(
            Severity.MEDIUM if growth > CODE_GROWTH_MEDIUM_PCT and old_size else Severity.INFO,
            "code-size",
            f"code {old_size} -> {new_size} bytes ({growth:+.1f}%); constants "
            f"{len(old_code.constants)} -> {len(new_code.constants)}; registers "
            f"{len(old_code.registers)} -> {len(new_code.registers)}",
        )
    )
    return findings


def regression_hunter(proposal: Proposal, d: Diff) -> list[Finding]:
    """Sandbox results, and whether the tests reach every changed label."""
    findings: list[Finding] = []
    failed = [r.test for r in proposal.sandbox if not r.passed]
    if failed:
        findings.append(
            Finding(Severity.HIGH, "tests-failed", f"sandbox tests failed: {', '.join(failed)}")
        )
    elif not proposal.sandbox:
        findings.append(
            Finding(Severity.HIGH, "untested", "the sandbox ran no test: the change is untested")
        )
    else:
        findings.append(
            Finding(Severity.INFO, "tests-passed", f"all {len(proposal.sandbox)} tests passed")
        )
    try:
        entries = added_test_entries(proposal.tests)
    except AvmError as exc:
        entries = {}
        findings.append(Finding(Severity.MEDIUM, "tests-unreadable", f"added tests: {exc}"))
    labels = d.new.user_labels
    starts = [labels[e] for e in entries.values() if e in labels]
    # A test whose entry is outside the region (the region's own tests, named only in the
    # sandbox, or an added test entering elsewhere) is taken to come in at the region start.
    outside = [e for e in entries.values() if e not in labels]
    if outside or any(r.test not in entries for r in proposal.sandbox):
        starts.append(0)
    reached = d.new.reachable(starts) if proposal.sandbox or entries else set()
    uncovered = [
        name
        for name in d.changed_labels
        if (0 if name == REGION_START else labels[name]) not in reached
    ]
    if d.changed_labels:
        if uncovered and len(uncovered) == len(d.changed_labels):
            severity = Severity.HIGH
        elif uncovered:
            severity = Severity.MEDIUM
        else:
            severity = Severity.INFO
        findings.append(
            Finding(
                severity,
                "coverage",
                f"changed labels {list(d.changed_labels)}; not reached by any test: "
                f"{uncovered or 'none'}",
            )
        )
    if d.removed_labels:
        findings.append(
            Finding(Severity.INFO, "labels-removed", f"labels removed: {list(d.removed_labels)}")
        )
    if entries:
        findings.append(
            Finding(Severity.INFO, "tests-added", f"adds tests: {', '.join(sorted(entries))}")
        )
    return findings


LABEL_STYLE = re.compile(r"[a-z][A-Za-z0-9_]*|[A-Z][A-Z0-9_]*")
COMMENTED_CHANGE = 5  # instructions added before a change is expected to explain itself


def standards_enforcer(proposal: Proposal, d: Diff) -> list[Finding]:
    """Assembler lints, comments, naming, unreachable code."""
    findings: list[Finding] = []
    new_warnings = sorted(set(d.new.warnings) - set(d.old.warnings))
    for message in new_warnings:
        findings.append(Finding(Severity.MEDIUM, "lint", message))
    grown = len(d.new.code.instructions) - len(d.old.code.instructions)
    if grown >= COMMENTED_CHANGE and d.new.comment_lines <= d.old.comment_lines:
        findings.append(
            Finding(
                Severity.LOW,
                "comments",
                f"adds {grown} instructions and no comment saying why",
            )
        )
    for name in sorted(set(d.new.user_labels) - set(d.old.user_labels)):
        if LABEL_STYLE.fullmatch(name) is None:
            findings.append(
                Finding(
                    Severity.LOW,
                    "naming",
                    f"label {name} is neither lowerCamel/snake_case nor UPPER_CASE",
                )
            )
    for name in sorted(set(d.new.code.registers) - set(d.old.code.registers)):
        if not name.startswith("%") and (len(name) < 2 or name.upper() in OPCODES):
            findings.append(
                Finding(
                    Severity.LOW,
                    "naming",
                    f"register {name} is too short or shadows an opcode name",
                )
            )
    entries = [0, *d.new.user_labels.values()]
    reached = d.new.reachable(entries)
    dead = [pc for pc in range(len(d.new.code.instructions)) if pc not in reached]
    if dead:
        findings.append(
            Finding(
                Severity.LOW,
                "unreachable",
                f"{len(dead)} unreachable instructions from line {d.new.lines.get(dead[0], 0)}",
            )
        )
    if not findings:
        findings.append(Finding(Severity.INFO, "clean", "no lint, naming or comment issue"))
    return findings


ROLE_CHECKS: dict[Role, Callable[[Proposal, Diff], list[Finding]]] = {
    Role.SECURITY_AUDITOR: security_auditor,
    Role.LATENCY_PROFILER: latency_profiler,
    Role.MEMORY_OPTIMIZER: memory_optimizer,
    Role.REGRESSION_HUNTER: regression_hunter,
    Role.STANDARDS_ENFORCER: standards_enforcer,
}
# The roles a reviewer can take: those with an analysis.
REVIEW_ROLES = tuple(ROLE_CHECKS)


def decide(role: Role, findings: Iterable[Finding]) -> Choice:
    """The choice the worst finding calls for. Only the SecurityAuditor vetoes (a veto burns the
    proposer's deposit, so it is kept for changes that are harmful, not merely worse)."""
    worst = max((f.severity for f in findings), default=Severity.INFO)
    if worst is Severity.CRITICAL:
        return Choice.VETO if role is Role.SECURITY_AUDITOR else Choice.NO
    if worst is Severity.HIGH:
        return Choice.NO
    if worst is Severity.MEDIUM:
        return Choice.ABSTAIN
    return Choice.YES


_VERDICT = {
    Choice.YES: "no finding stands against it",
    Choice.ABSTAIN: "findings need a person's judgment",
    Choice.NO: "findings stand against it",
    Choice.VETO: "a finding makes it harmful",
}


def analyze(role: Role, proposal: Proposal) -> Analysis:
    """Run `role`'s checks on `proposal` and decide. Never raises on bad IR: that is a finding."""
    if not proposal.old_ir.strip() and not proposal.new_ir.strip():
        findings = [
            Finding(
                Severity.MEDIUM,
                "no-code",
                f"a {proposal.kind or 'non-code'} proposal carries no IR to analyze",
            )
        ]
    else:
        try:
            findings = ROLE_CHECKS[role](proposal, diff(proposal))
        except DiffError as exc:
            findings = [Finding(Severity.CRITICAL, "does-not-assemble", f"new IR: {exc}")]
    choice = decide(role, findings)
    ordered = sorted(findings, key=lambda f: -f.severity)
    explanation = (
        f"{role.value} votes {choice.value} on {proposal.kind or 'the'} change to "
        f"{proposal.region or 'the target'}: {_VERDICT[choice]}. "
        + "; ".join(str(f) for f in ordered)
        + "."
    )
    return Analysis(role, choice, tuple(ordered), explanation)

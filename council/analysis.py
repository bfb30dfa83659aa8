"""Each council role's deterministic analysis of a code-change proposal.

Pure functions over a proposal (`council.proposal`) and what it changes (`council.diff`); a
protocol change without IR that carries a shadow replay of recent blocks (a "gas" proposal) is
read from the replay instead (`SHADOW_CHECKS`). Every role returns an `Analysis`: its findings,
each with a severity, and the choice the findings call for, with a one-paragraph explanation.

The same proposal always gives the same analysis, so members of one role agree unless their model
reviews differ, and a vote can be audited by re-running the analysis.
"""

from __future__ import annotations

import enum
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from avm.errors import AvmError
from avm.instructions import OPCODES
from council.diff import (
    AGENT_CREATION_OPCODES,
    ALLOCATING_OPCODES,
    NONDETERMINISTIC_OPCODES,
    PAYMENT_OPCODES,
    PERMISSION_OPCODES,
    REGION_START,
    SELF_MODIFY_OPCODES,
    STORAGE_WRITE_OPCODES,
    Diff,
    DiffError,
    Program,
    added_test_entries,
    diff,
)
from council.proposal import Proposal, SandboxResult, ShadowDiff, ShadowSummary
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


# Gas regressions beyond these percentages (on the worst test, or over a whole shadow replay)
# call for caution.
GAS_REGRESSION_MEDIUM_PCT = 5
GAS_REGRESSION_HIGH_PCT = 20


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


# -- a protocol change without IR: the shadow replay of recent blocks ------------------------------

MAX_QUOTED_ERROR = 160  # characters of a replayed transaction's error quoted in a finding


def _replayed(s: ShadowSummary) -> str:
    if not s.transactions:
        return f"the shadow replay of blocks {s.first_block}..{s.last_block} had no transaction"
    return (
        f"the shadow replay of blocks {s.first_block}..{s.last_block} "
        f"({s.transactions} transactions)"
    )


def _delta_text(before: int, after: int) -> str:
    """`after` against `before` in percent with one decimal, in integers (truncated)."""
    if not before:
        return "+0.0%" if not after else "from zero"
    tenths = abs(after - before) * 1000 // before
    return f"{'-' if after < before else '+'}{tenths // 10}.{tenths % 10}%"


def _change(d: ShadowDiff) -> str:
    if d.ok_before:
        error = d.error if len(d.error) <= MAX_QUOTED_ERROR else d.error[:MAX_QUOTED_ERROR] + "..."
        return f"succeeded and now fails ({error or 'no error given'})"
    return "failed and now succeeds"


def shadow_regressions(s: ShadowSummary) -> list[Finding]:
    """RegressionHunter: every outcome change in the replay is a regression."""
    if not s.transactions:
        return [
            Finding(
                Severity.MEDIUM,
                "shadow-empty",
                f"{_replayed(s)}: the proposed schedule is untried on real transactions",
            )
        ]
    if not s.outcome_changes:
        return [
            Finding(
                Severity.INFO,
                "shadow-outcomes-same",
                f"{_replayed(s)}: no outcome changes; {s.gas_changes} gas changes",
            )
        ]
    first = next((d for d in s.diffs if d.outcome_changed), None)
    named = (
        f"first: tx {first.tx} in block {first.block} {_change(first)}"
        if first is not None
        else "none listed"
    )
    return [
        Finding(
            Severity.HIGH,
            "shadow-outcome-changed",
            f"{_replayed(s)}: {s.outcome_changes} transactions change outcome; {named}",
        )
    ]


def shadow_gas(s: ShadowSummary) -> list[Finding]:
    """LatencyProfiler: the total gas of the replayed transactions, before against after."""
    if not s.transactions:
        return [Finding(Severity.LOW, "no-gas-figures", f"{_replayed(s)}: no gas figures")]
    before, after = s.gas_before, s.gas_after
    rise = after - before
    # Integer thresholds: rise / before > pct / 100, with `before` 0 and any rise the highest.
    if rise * 100 > GAS_REGRESSION_HIGH_PCT * before:
        severity = Severity.HIGH
    elif rise * 100 > GAS_REGRESSION_MEDIUM_PCT * before:
        severity = Severity.MEDIUM
    else:
        severity = Severity.INFO
    trend = "rises" if rise > 0 else "falls" if rise < 0 else "is unchanged"
    message = (
        f"{_replayed(s)}: gas {trend}, {before} -> {after} milligas "
        f"({_delta_text(before, after)}); {s.gas_changes} transactions change gas"
    )
    largest = next((d for d in s.diffs if not d.outcome_changed), None)
    if largest is not None:
        message += (
            f"; largest: tx {largest.tx} in block {largest.block} {largest.gas_before} -> "
            f"{largest.gas_after} ({_delta_text(largest.gas_before, largest.gas_after)})"
        )
    return [
        Finding(
            severity, "shadow-gas-regression" if severity > Severity.INFO else "shadow-gas", message
        )
    ]


def shadow_noted(s: ShadowSummary) -> list[Finding]:
    """The other roles: nothing of theirs to read in a schedule; the replay is noted."""
    return [
        Finding(
            Severity.INFO,
            "shadow",
            f"protocol change, no IR: {_replayed(s)} shows {s.outcome_changes} outcome changes "
            f"and {s.gas_changes} gas changes, gas {s.gas_before} -> {s.gas_after} milligas",
        )
    ]


SHADOW_CHECKS: dict[Role, Callable[[ShadowSummary], list[Finding]]] = {
    Role.LATENCY_PROFILER: shadow_gas,
    Role.REGRESSION_HUNTER: shadow_regressions,
}


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
    if proposal.old_ir.strip() or proposal.new_ir.strip():
        try:
            findings = ROLE_CHECKS[role](proposal, diff(proposal))
        except DiffError as exc:
            findings = [Finding(Severity.CRITICAL, "does-not-assemble", f"new IR: {exc}")]
    elif proposal.shadow is not None:
        findings = SHADOW_CHECKS.get(role, shadow_noted)(proposal.shadow)
    else:
        findings = [
            Finding(
                Severity.MEDIUM,
                "no-code",
                f"a {proposal.kind or 'non-code'} proposal carries no IR to analyze"
                + (" and no shadow replay yet" if proposal.kind == "gas" else ""),
            )
        ]
    choice = decide(role, findings)
    ordered = sorted(findings, key=lambda f: -f.severity)
    explanation = (
        f"{role.value} votes {choice.value} on {proposal.kind or 'the'} change to "
        f"{proposal.region or 'the target'}: {_VERDICT[choice]}. "
        + "; ".join(str(f) for f in ordered)
        + "."
    )
    return Analysis(role, choice, tuple(ordered), explanation)

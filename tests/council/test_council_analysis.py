"""Each role's deterministic analysis, on real region bodies assembled by the AVM assembler."""

from __future__ import annotations

import pytest

from council.analysis import REVIEW_ROLES, Severity, analyze, parse_choice, parse_role
from council.proposal import Proposal, ProposalFormatError
from council.review import MAX_EXPLANATION_BYTES, ModelVerdict, bound, combine
from ledger.governance.params import Role
from ledger.governance.payloads import Choice, VotePayload

OLD = """\
:strategy
  ;; sell above the threshold, buy below it
  KV_FETCH "price" -> Rprice
  IF Rprice > 10 THEN
    SET Rside = "sell"
  ELSE
    SET Rside = "buy"
  ENDIF
  RETURN Rside
"""
# A harmless change: a new threshold and a comment.
HARMLESS = OLD.replace("Rprice > 10", "Rprice > 12").replace(";; sell", ";; tuned: sell")
PAYS = OLD.replace("  RETURN Rside", '  PAY_AGENT "HPCBot", 10, "AVM"\n  RETURN Rside')
PAYS_GUARDED = OLD.replace(
    '  KV_FETCH "price"', '  CHECK_PERMISSIONS "trader", "pay"\n  KV_FETCH "price"'
).replace("  RETURN Rside", '  PAY_AGENT "HPCBot", 10, "AVM"\n  RETURN Rside')
SPINS = OLD.replace("  RETURN Rside", ':spin\n  KV_FETCH "tick" -> Rtick\n  JUMP spin')
POLLS = OLD.replace(
    "  RETURN Rside",
    ':poll\n  KV_FETCH "flag" -> Rflag\n  JUMP_IF_FALSE Rflag, poll\n  RETURN Rside',
)
COUNTS = OLD.replace(
    "  RETURN Rside",
    "  SET Rleft = 5\n:retry\n  SUB Rleft, 1 -> Rleft\n  IF Rleft > 0 THEN\n    JUMP retry\n"
    "  ENDIF\n  RETURN Rside",
)
STORES_IN_LOOP = OLD.replace(
    "  RETURN Rside",
    ':fill\n  KV_STORE "log", Rside\n  JUMP_IF_FALSE Rdone, fill\n  RETURN Rside',
)
GUARDED_OLD = OLD.replace('  KV_FETCH "price"', '  CHECK_SIG Rkey, Rsig, Rmsg\n  KV_FETCH "price"')
TYPO = OLD.replace("RETURN Rside", "RETURN Rsdie")
PASSING = [{"test": "sells_high", "passed": True, "gasBefore": "0x3e8", "gasAfter": "0x3e8"}]


def proposal(
    new_ir: str,
    old_ir: str = OLD,
    sandbox: list[dict[str, object]] | None = None,
    tests: str = "",
    kind: str = "region",
) -> Proposal:
    return Proposal.from_json(
        {
            "id": "0x" + "ab" * 32,
            "kind": kind,
            "status": "voting",
            "agent": "0x" + "11" * 20,
            "region": "STRATEGY",
            "rationale": "tune the strategy",
            "oldIr": old_ir,
            "newIr": new_ir,
            "tests": tests,
            "sandbox": PASSING if sandbox is None else sandbox,
            "tally": {"yes": "0x0", "no": "0x0", "abstain": "0x0", "veto": "0x0", "quorum": False},
            "votes": [],
        }
    )


def codes(role: Role, p: Proposal) -> set[str]:
    return {f.code for f in analyze(role, p).findings}


@pytest.mark.parametrize("role", REVIEW_ROLES)
def test_harmless_change_gets_a_yes_from_every_role(role: Role) -> None:
    result = analyze(role, proposal(HARMLESS))
    assert result.choice is Choice.YES, result.explanation
    assert result.worst <= Severity.LOW
    assert result.explanation.startswith(f"{role.value} votes yes")


def test_unguarded_payment_is_a_security_no() -> None:
    result = analyze(Role.SECURITY_AUDITOR, proposal(PAYS))
    assert result.choice is Choice.NO
    assert {"payment-unguarded", "opcodes"} <= {f.code for f in result.findings}
    assert "PAY_AGENT at line 9" in result.explanation
    assert "opcodes added: PAY_AGENT" in result.explanation


def test_payment_behind_a_permission_check_asks_for_judgment() -> None:
    result = analyze(Role.SECURITY_AUDITOR, proposal(PAYS_GUARDED))
    assert result.choice is Choice.ABSTAIN
    assert "payment-touched" in {f.code for f in result.findings}
    assert "behind a permission check" in result.explanation


def test_a_loop_with_no_way_out_is_vetoed() -> None:
    result = analyze(Role.SECURITY_AUDITOR, proposal(SPINS))
    assert result.choice is Choice.VETO
    assert "loop-no-exit" in {f.code for f in result.findings}
    assert "spin" in result.explanation


def test_a_loop_without_a_counter_is_a_no_and_a_counted_one_passes() -> None:
    assert analyze(Role.SECURITY_AUDITOR, proposal(POLLS)).choice is Choice.NO
    assert "loop-unbounded" in codes(Role.SECURITY_AUDITOR, proposal(POLLS))
    counted = analyze(Role.SECURITY_AUDITOR, proposal(COUNTS))
    assert counted.choice is Choice.YES, counted.explanation
    assert not {"loop-unbounded", "loop-no-exit"} & {f.code for f in counted.findings}


def test_an_unbounded_loop_that_was_already_there_is_only_noted() -> None:
    result = analyze(Role.SECURITY_AUDITOR, proposal(POLLS.replace("flag", "flags"), POLLS))
    assert "loop-preexisting" in {f.code for f in result.findings}
    assert result.choice is Choice.YES


def test_removing_a_permission_check_is_vetoed() -> None:
    result = analyze(Role.SECURITY_AUDITOR, proposal(OLD, old_ir=GUARDED_OLD))
    assert result.choice is Choice.VETO
    assert "permission checks removed: CHECK_SIG" in result.explanation


def test_nondeterministic_opcodes_are_vetoed() -> None:
    new = OLD.replace("  RETURN Rside", '  CALL_PLUGIN "p", "f", [] -> Rx\n  RETURN Rside')
    result = analyze(Role.SECURITY_AUDITOR, proposal(new))
    assert result.choice is Choice.VETO
    assert "CALL_PLUGIN" in result.explanation


def test_ir_that_does_not_assemble_is_vetoed_by_security_and_refused_by_others() -> None:
    bad = OLD.replace("KV_FETCH", "KV_FECTH")
    assert analyze(Role.SECURITY_AUDITOR, proposal(bad)).choice is Choice.VETO
    other = analyze(Role.LATENCY_PROFILER, proposal(bad))
    assert other.choice is Choice.NO
    assert "did you mean KV_FETCH" in other.explanation


def test_gas_regression_beyond_twenty_percent_is_a_no() -> None:
    slower = [{"test": "sells_high", "passed": True, "gasBefore": 1000, "gasAfter": 1500}]
    result = analyze(Role.LATENCY_PROFILER, proposal(HARMLESS, sandbox=slower))
    assert result.choice is Choice.NO
    assert "gas 1000 -> 1500 (+50.0%)" in result.explanation
    slight = [{"test": "sells_high", "passed": True, "gasBefore": 1000, "gasAfter": 1100}]
    assert analyze(Role.LATENCY_PROFILER, proposal(HARMLESS, sandbox=slight)).choice is (
        Choice.ABSTAIN
    )
    faster = [{"test": "sells_high", "passed": True, "gasBefore": 1000, "gasAfter": 700}]
    assert analyze(Role.LATENCY_PROFILER, proposal(HARMLESS, sandbox=faster)).choice is Choice.YES


def test_latency_reports_static_counts() -> None:
    result = analyze(Role.LATENCY_PROFILER, proposal(PAYS))
    assert "instructions 7 -> 8" in result.explanation
    assert "static price 600 -> 3600 milligas" in result.explanation


def test_storage_written_in_a_loop_is_a_memory_no() -> None:
    result = analyze(Role.MEMORY_OPTIMIZER, proposal(STORES_IN_LOOP))
    assert result.choice is Choice.NO
    assert "storage-in-loop" in {f.code for f in result.findings}
    assert "code " in result.explanation and "constants" in result.explanation


def test_storage_written_in_a_counted_loop_asks_for_judgment() -> None:
    counted = COUNTS.replace("  SUB Rleft", '  KV_STORE "attempt", Rleft\n  SUB Rleft')
    result = analyze(Role.MEMORY_OPTIMIZER, proposal(counted))
    assert result.choice is Choice.ABSTAIN
    assert "storage writes inside a counted loop" in result.explanation


def test_memory_reads_storage_figures_when_the_sandbox_reports_them() -> None:
    grown = [dict(PASSING[0], storageBefore=100, storageAfter=400)]
    result = analyze(Role.MEMORY_OPTIMIZER, proposal(HARMLESS, sandbox=grown))
    assert "storage after the tests 100 -> 400 bytes (+300.0%)" in result.explanation
    assert result.choice is Choice.ABSTAIN


def test_failing_sandbox_test_is_a_regression_no() -> None:
    failing = [*PASSING, {"test": "buys_low", "passed": False, "gasBefore": 1, "gasAfter": 2}]
    result = analyze(Role.REGRESSION_HUNTER, proposal(HARMLESS, sandbox=failing))
    assert result.choice is Choice.NO
    assert "sandbox tests failed: buys_low" in result.explanation


def test_untested_change_is_a_regression_no() -> None:
    result = analyze(Role.REGRESSION_HUNTER, proposal(HARMLESS, sandbox=[]))
    assert result.choice is Choice.NO
    assert "untested" in {f.code for f in result.findings}


def test_coverage_of_changed_labels_by_the_added_tests() -> None:
    new = HARMLESS + ':audit\n  LOG "audit", Rside\n  RETURN Rside\n'
    tests = ".test audits\n  entry audit\n  expect null\n.endtest\n"
    sandbox = [{"test": "audits", "passed": True, "gasBefore": None, "gasAfter": "0x10"}]
    covered = analyze(Role.REGRESSION_HUNTER, proposal(new, sandbox=sandbox, tests=tests))
    # Only the new test ran, and it enters at `audit`: the changed `strategy` block is not run.
    assert "not reached by any test: ['strategy']" in covered.explanation
    assert covered.choice is Choice.ABSTAIN
    assert "adds tests: audits" in covered.explanation


def test_standards_flags_a_register_read_but_never_written() -> None:
    result = analyze(Role.STANDARDS_ENFORCER, proposal(TYPO))
    assert result.choice is Choice.ABSTAIN
    assert "Rsdie is read but never defined" in result.explanation


def test_standards_notes_naming_comments_and_dead_code() -> None:
    new = OLD.replace(
        "  RETURN Rside",
        "  SET x = 1\n  SET y = 2\n  SET z = 3\n  RETURN Rside\n  HALT\n:Bad_label\n  RETURN x",
    )
    found = codes(Role.STANDARDS_ENFORCER, proposal(new))
    assert {"naming", "unreachable"} <= found
    result = analyze(Role.STANDARDS_ENFORCER, proposal(new))
    assert result.choice is Choice.YES  # style alone does not block a change


def test_a_proposal_without_code_asks_for_judgment() -> None:
    result = analyze(Role.SECURITY_AUDITOR, proposal("", old_ir="", kind="param"))
    assert result.choice is Choice.ABSTAIN
    assert "param proposal carries no IR" in result.explanation


def test_proposal_json_is_checked() -> None:
    with pytest.raises(ProposalFormatError, match="32 bytes"):
        Proposal.from_json({"id": "0x12"})
    with pytest.raises(ProposalFormatError, match="gasBefore must be an integer"):
        Proposal.from_json(
            {"id": "0x" + "00" * 32, "sandbox": [{"test": "t", "passed": True, "gasBefore": "x"}]}
        )
    p = proposal(OLD)
    assert p.sandbox[0].gas_before == 1000 and p.id_bytes == bytes.fromhex("ab" * 32)


def test_role_and_choice_parse() -> None:
    assert parse_role("security-auditor") is Role.SECURITY_AUDITOR
    assert parse_role("latencyprofiler") is Role.LATENCY_PROFILER
    with pytest.raises(ValueError, match="use one of SecurityAuditor"):
        parse_role("Poet")
    assert parse_choice("Veto") is Choice.VETO


# -- the vote payload and the combination rule ---------------------------------------------------


def test_a_review_is_a_vote_the_ledger_accepts() -> None:
    """The council signs the ledger's own vote payload: its longest explanation still decodes."""
    review = combine(analyze(Role.SECURITY_AUDITOR, proposal(OLD)))
    vote = VotePayload(b"\x01" * 32, review.choice, "x" * MAX_EXPLANATION_BYTES)
    assert VotePayload.from_value(vote.to_value()) == vote


def test_bound_cuts_on_a_character_boundary() -> None:
    text = "é" * 2000
    cut = bound(text)
    assert len(cut.encode()) <= MAX_EXPLANATION_BYTES and cut.endswith("...")


def verdict(choice: Choice, confidence: int) -> ModelVerdict:
    return ModelVerdict(choice, "the model's reasons", confidence, "m")


def test_model_cannot_lift_a_deterministic_veto_and_says_so() -> None:
    analysis = analyze(Role.SECURITY_AUDITOR, proposal(SPINS))
    review = combine(analysis, verdict(Choice.YES, 100))
    assert review.choice is Choice.VETO
    assert review.explanation.startswith("veto: the model's yes does not lift a deterministic veto")


def test_model_cannot_lift_a_no_but_may_make_it_a_veto_for_security_only() -> None:
    security = analyze(Role.SECURITY_AUDITOR, proposal(PAYS))
    assert combine(security, verdict(Choice.YES, 99)).choice is Choice.NO
    assert combine(security, verdict(Choice.VETO, 90)).choice is Choice.VETO
    assert combine(security, verdict(Choice.VETO, 60)).choice is Choice.NO
    memory = analyze(Role.MEMORY_OPTIMIZER, proposal(STORES_IN_LOOP))
    review = combine(memory, verdict(Choice.VETO, 100))
    assert review.choice is Choice.NO and "a model veto counts as no" in review.explanation


def test_model_decides_a_yes_or_abstain_by_confidence() -> None:
    yes = analyze(Role.SECURITY_AUDITOR, proposal(HARMLESS))
    assert combine(yes, verdict(Choice.NO, 50)).choice is Choice.NO
    low = combine(yes, verdict(Choice.NO, 40))
    assert low.choice is Choice.YES and "below confidence 50" in low.explanation
    abstain = analyze(Role.SECURITY_AUDITOR, proposal(PAYS_GUARDED))
    assert combine(abstain, verdict(Choice.YES, 70)).choice is Choice.YES
    assert combine(abstain, verdict(Choice.YES, 69)).choice is Choice.ABSTAIN


def test_explanations_name_both_sources_and_fit_the_bound() -> None:
    analysis = analyze(Role.SECURITY_AUDITOR, proposal(PAYS))
    review = combine(analysis, ModelVerdict(Choice.NO, "z" * 5000, 90, "m"))
    assert "model m says no (confidence 90)" in review.explanation
    assert "deterministic analysis: SecurityAuditor votes no" in review.explanation
    assert len(review.explanation.encode()) <= MAX_EXPLANATION_BYTES
    fallback = combine(analysis, model_error="no reply within 1 s")
    assert fallback.explanation.startswith(
        "model review unavailable: no reply within 1 s; deterministic analysis: "
    )
    assert combine(analysis).explanation.startswith("deterministic analysis: ")

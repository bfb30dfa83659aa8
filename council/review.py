"""A member's verdict: the deterministic analysis and the model's review combined, and its vote.

The combination rule (the model advises; the analysis sets the floor):

1. No model configured: the analysis decides.
2. Model configured but unavailable (timeout, HTTP error, malformed or off-schema reply): the
   analysis decides, and the explanation starts "model review unavailable: <reason>".
3. The analysis vetoes (a SecurityAuditor critical finding): the veto stands whatever the model
   says; if the model disagrees, the explanation says so.
4. The analysis says no (a high finding): the vote stays no. A model can only make it stricter, to
   veto, and only under rule 6.
5. The analysis says yes or abstain: the model's choice decides when its confidence reaches
   `MODEL_CONFIDENCE_STRICTER` (50) for a stricter choice, `MODEL_CONFIDENCE_LAXER` (70) for a
   laxer one (abstain -> yes); below that, the analysis decides and the explanation says why.
6. A model's veto counts only for the SecurityAuditor with confidence >= `MODEL_CONFIDENCE_VETO`
   (80); otherwise it is read as no. A veto burns the proposer's deposit, and proposals are written
   by agents that may try to talk a model into anything, so a model alone rarely burns deposits
   and never lifts a deterministic objection.
"""

from __future__ import annotations

from dataclasses import dataclass

from council.analysis import CAUTION, Analysis
from ledger.governance.params import DEFAULT_MAX_EXPLANATION_BYTES as MAX_EXPLANATION_BYTES
from ledger.governance.params import Role
from ledger.governance.payloads import Choice

MAX_MODEL_TEXT = 700  # characters of the model's own words kept in the explanation
MODEL_CONFIDENCE_STRICTER = 50
MODEL_CONFIDENCE_LAXER = 70
MODEL_CONFIDENCE_VETO = 80
PROPOSAL_ID_SIZE = 32


@dataclass(frozen=True, slots=True)
class ModelVerdict:
    """A model's structured review, validated (see `council.llm.parse_verdict`)."""

    choice: Choice
    explanation: str
    confidence: int  # 0..100
    model: str = ""


@dataclass(frozen=True, slots=True)
class Review:
    """What a member votes and why."""

    choice: Choice
    explanation: str
    analysis: Analysis
    model_verdict: ModelVerdict | None
    model_error: str | None


def bound(text: str, limit: int = MAX_EXPLANATION_BYTES) -> str:
    """`text` cut to `limit` UTF-8 bytes on a character boundary, marked with an ellipsis."""
    data = text.encode("utf-8", "replace")
    if len(data) <= limit:
        return text
    return data[: limit - 3].decode("utf-8", "ignore") + "..."


def _model_choice(role: Role, verdict: ModelVerdict) -> Choice:
    if verdict.choice is Choice.VETO and not (
        role is Role.SECURITY_AUDITOR and verdict.confidence >= MODEL_CONFIDENCE_VETO
    ):
        return Choice.NO
    return verdict.choice


def combine(
    analysis: Analysis, verdict: ModelVerdict | None = None, model_error: str | None = None
) -> Review:
    """Apply the combination rule above; the explanation fits MAX_EXPLANATION_BYTES."""
    det = analysis.choice
    det_text = f"deterministic analysis: {analysis.explanation}"
    if verdict is None:
        prefix = f"model review unavailable: {model_error}; " if model_error else ""
        return Review(det, bound(prefix + det_text), analysis, None, model_error)
    wanted = _model_choice(analysis.role, verdict)
    choice: Choice
    if det in (Choice.VETO, Choice.NO):
        choice = det
        if wanted is Choice.VETO and det is Choice.NO:
            choice, note = Choice.VETO, "the model's confident veto is taken"
        elif CAUTION[wanted] < CAUTION[det]:
            note = f"the model's {wanted.value} does not lift a deterministic {det.value}"
        else:
            note = "model and analysis agree"
    else:
        needed = (
            MODEL_CONFIDENCE_STRICTER if CAUTION[wanted] >= CAUTION[det] else MODEL_CONFIDENCE_LAXER
        )
        if wanted is det:
            choice, note = det, "model and analysis agree"
        elif verdict.confidence >= needed:
            choice, note = wanted, f"the model's {wanted.value} decides over the analysis"
        else:
            choice = det
            note = f"the model's {wanted.value} is below confidence {needed}; the analysis decides"
    if verdict.choice is Choice.VETO and wanted is not Choice.VETO:
        note += " (a model veto counts as no)"
    said = bound(verdict.explanation, MAX_MODEL_TEXT)
    text = (
        f"{choice.value}: {note}. model {verdict.model or 'review'} says {verdict.choice.value} "
        f"(confidence {verdict.confidence}): {said} | {det_text}"
    )
    return Review(choice, bound(text), analysis, verdict, None)

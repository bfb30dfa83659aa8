"""`aither evolve`: the AXON loop (seed 001) against a live chain, under the council.

Each generation:

1. read the agent's code from the node and measure it (`avm.metric`: its `.test` blocks and the
   metric, in local sandboxes priced by the chain's gas schedule);
2. ask the model for a new body of the region, under a JSON schema, with the region, the score,
   the failures and the last generations' changes and outcomes in the prompt;
3. check the patch locally (it assembles, deploys, passes every test and beats the score). When
   the model is unavailable or its patch fails a check, the reason is one line, and the loop falls
   back to a mutation search: each single instruction of the region removed, the best that passes
   every test and beats the score;
4. submit it as a proposal (never past `--max-deposit`), wait for the council's decision (on a dev
   chain, once every member has voted, it mines the blocks to the decision), and append the
   generation to the archive (JSON lines: scores, source, proposal, votes, outcome).

It stops after `--generations`, when nothing beats the score, or at the budget.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from avm.code import CodeObject
from avm.disassembler import disassemble_region, ir_diff
from avm.gas import GasSchedule, schedule_from_json
from avm.metric import GAS_METRIC, Score, improvement, measure
from avm.validation import decode_code
from core.amounts import format_amount
from core.crypto import SigningKey, to_checksum_address
from core.errors import AitherError
from ledger.governance.code_change import build
from ledger.governance.params import ProposalKind
from ledger.governance.payloads import CodeChangeSpec
from model.chat import (
    CHARS_PER_TOKEN,
    SENTENCES,
    ModelUnavailable,
    StructuredChat,
    clip,
    system,
    user,
)
from wallet.archive import append, read_archive
from wallet.client import RpcClient, RpcClientError
from wallet.commands.proposals import check_region, min_deposit, submitted_id
from wallet.options import submit
from wallet.txbuilder import build_propose

EventSink = Callable[[str, dict[str, Any]], None]

OPEN = ("submitted", "voting", "passed")
HISTORY = 3  # the last generations the prompt recalls
MAX_CANDIDATES = 64  # mutation candidates measured a generation (a region's first instructions)
PATCH_TOKENS = 120  # the reply's budget beyond the region's own size: a sentence and some growth
POLL = 0.25  # seconds between looks at a proposal

PATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        # No length bounds on the body: llama.cpp unrolls a {m,n} repetition into a grammar rule
        # per character, and 4,000 of them crash its parser. PATCH_TOKENS bounds the reply.
        "ir": {"type": "string"},
        "rationale": {"type": "string", "pattern": SENTENCES},
    },
    "required": ["ir", "rationale"],
    "additionalProperties": False,
}


class EvolveError(AitherError):
    """The loop cannot go on: one line saying why."""


@dataclass(frozen=True, slots=True)
class Settings:
    agent: bytes
    region: str
    metric: str | None = None  # None: the tests' gas
    generations: int = 3
    max_deposit: int | None = None  # base units; None: no limit
    vote_timeout: float = 300.0  # seconds to wait for every member's vote before mining on
    decision_timeout: float = 900.0  # seconds from submission to the decision
    archive: Path | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    ir: str
    source: str  # "model" or "mutation"
    rationale: str
    score: Score


@dataclass
class Generation:
    """One generation, as the archive keeps it."""

    number: int
    score_before: Score
    candidate: Candidate
    fallback: str  # why the model's patch was not used ("" when it was)
    proposal: str = ""
    status: str = ""
    votes: list[dict[str, str]] = field(default_factory=list)
    deposit: int = 0
    seconds: float = 0.0
    diff: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "generation": self.number,
            "source": self.candidate.source,
            "fallback": self.fallback,
            "rationale": self.candidate.rationale,
            "scoreBefore": self.score_before.value,
            "scoreAfter": self.candidate.score.value,
            "metric": self.candidate.score.metric,
            "higherIsBetter": self.candidate.score.higher_is_better,
            "proposal": self.proposal,
            "status": self.status,
            "votes": self.votes,
            "deposit": format_amount(self.deposit),
            "seconds": round(self.seconds, 1),
            "diff": self.diff,
            "ir": self.candidate.ir,
        }


def deletions(ir: str) -> list[tuple[str, str]]:
    """The region with one instruction removed, for each instruction (labels, directives and
    comments stay): (what was removed, the new text), at most MAX_CANDIDATES."""
    lines = ir.splitlines()
    found = []
    for i, line in enumerate(lines):
        word = line.strip()
        if not word or word.startswith((":", ".", ";")):
            continue
        found.append((word, "\n".join(lines[:i] + lines[i + 1 :]) + "\n"))
    return found[:MAX_CANDIDATES]


def _normal(ir: str) -> str:
    """A region body as the refused set compares them: its lines, stripped, blank ones out."""
    return "\n".join(line.strip() for line in ir.splitlines() if line.strip())


class NoSnapshots:
    """`build` reads other code versions only for a revert; a code change needs none."""

    def code_of(self, agent: bytes) -> CodeObject | None:
        return None

    def code_by_id(self, code_id: bytes) -> CodeObject | None:
        return None

    def set_code(self, agent: bytes, code: CodeObject, change: object) -> None:
        raise AssertionError("evolve never writes code")


class Evolver:
    """The loop for one agent region: `run()` returns the generations it archived."""

    def __init__(
        self,
        client: RpcClient,
        key: SigningKey,
        settings: Settings,
        chat: StructuredChat | None,
        events: EventSink,
        prompt_tokens: int = 3000,
    ) -> None:
        self.client = client
        self.key = key
        self.settings = settings
        self.chat = chat
        self.events = events
        self.prompt_tokens = prompt_tokens
        self.history: list[Generation] = []
        self.refused: set[str] = set()  # region bodies the council did not enact: never again
        self.spent = 0
        self._can_mine: bool | None = None

    # ---- the chain ------------------------------------------------------------------------

    def _code(self) -> CodeObject:
        found = self.client.call("aither_getCode", to_checksum_address(self.settings.agent))
        if not isinstance(found, dict):
            raise EvolveError("aither_getCode did not answer an object")
        code = decode_code(bytes.fromhex(str(found["code"])[2:]))
        if code.region(self.settings.region) is None:
            raise EvolveError(f"the agent has no region {self.settings.region}")
        return code

    def _schedule(self) -> GasSchedule:
        found = self.client.call("aither_getGasSchedule")
        assert isinstance(found, dict)
        return schedule_from_json(found)

    def _avm_version(self) -> int:
        params = self.client.call("aither_getChainParams")
        assert isinstance(params, dict)
        return int(params.get("avm_version", 1))

    def _budget(self) -> int:
        """The council's `sandbox_gas`: what a version's tests may use, here as on chain."""
        council = self.client.call("aither_getCouncil")
        assert isinstance(council, dict)
        return int(council["params"]["sandbox_gas"])

    def _members(self) -> int:
        council = self.client.call("aither_getCouncil")
        assert isinstance(council, dict)
        return len(council["members"])

    # ---- one generation -------------------------------------------------------------------

    def run(self) -> list[Generation]:
        try:  # before any work: a target the chain would refuse (no agent, a region not council)
            check_region(self.client, self.settings.agent, self.settings.region)
        except ValueError as exc:
            raise EvolveError(str(exc)) from None
        self._open_archive()
        for number in range(1, self.settings.generations + 1):
            stop = self.generation(number)
            if stop:
                self.events("stopped", {"generation": number, "reason": stop})
                break
        return self.history

    def generation(self, number: int) -> str:
        """One generation; returns why the loop stops ("" to go on)."""
        started = time.monotonic()
        code = self._code()
        schedule = self._schedule()
        enacted = self._avm_version()
        budget = self._budget()
        current = measure(code, self.settings.metric, schedule, budget)
        if not current.ok:
            problem = current.problem or "; ".join(current.failures)
            return f"the agent's current code does not measure: {problem}"
        ir = disassemble_region(code, self.settings.region)
        self.events("measured", {"generation": number, "score": current.value,
                                 "metric": current.metric})  # fmt: skip

        check = self.checker(code, enacted, schedule, budget)
        candidate, fallback = self._from_model(number, ir, current, check)
        if candidate is None:
            self.events("model-fallback", {"generation": number, "reason": fallback})
            candidate = self._from_mutations(number, ir, current, check)
        if candidate is None:
            return f"no change to {self.settings.region} beats {current.metric} {current.value}"
        deposit = min_deposit(self.client, ProposalKind.CODE)
        limit = self.settings.max_deposit
        if limit is not None and self.spent + deposit > limit:
            return (
                f"budget: the next deposit ({format_amount(deposit)} AVM) would bring the total to "
                f"{format_amount(self.spent + deposit)} AVM, over --max-deposit "
                f"{format_amount(limit)} AVM"
            )
        generation = Generation(number, current, candidate, fallback, deposit=deposit)
        generation.diff = "\n".join(ir_diff(ir, candidate.ir)[2:])  # no file names
        generation.proposal = self._propose(candidate, deposit)
        self.spent += deposit
        self.events("proposed", {"generation": number, "proposal": generation.proposal,
                                 "source": candidate.source,
                                 "score": improvement(candidate.score, current)})  # fmt: skip
        final = self._await_decision(number, generation.proposal)
        generation.status = str(final["status"])
        if generation.status != "enacted":
            self.refused.add(_normal(candidate.ir))
        generation.votes = [
            {"member": str(v.get("member", "")), "role": str(v.get("roleName", "")),
             "choice": str(v.get("choice", "")), "explanation": str(v.get("explanation", ""))}
            for v in final.get("votes", []) if isinstance(v, dict)
        ]  # fmt: skip
        generation.seconds = time.monotonic() - started
        self.history.append(generation)
        self._archive(generation)
        self.events("decided", {"generation": number, "proposal": generation.proposal,
                                "status": generation.status, "votes": len(generation.votes),
                                "seconds": round(generation.seconds, 1)})  # fmt: skip
        return ""

    def checker(
        self, code: CodeObject, enacted: int, schedule: GasSchedule, budget: int
    ) -> Callable[[str], Score]:
        """The local check of a new region body: not one the council refused, then built as the
        chain builds it (raises AitherError) and measured as its sandbox measures."""

        def check(text: str) -> Score:
            if _normal(text) in self.refused:
                raise EvolveError("the council refused this change before")
            spec = CodeChangeSpec(self.settings.agent, self.settings.region, text)
            new = build(NoSnapshots(), code, spec, enacted)
            return measure(new, self.settings.metric, schedule, budget)

        return check

    def _from_model(
        self, number: int, ir: str, current: Score, check: Callable[[str], Score]
    ) -> tuple[Candidate | None, str]:
        """The model's patch when it passes every check, else None and the one-line reason."""
        if self.chat is None:
            return None, "no model (--no-model)"
        self.events("asking-model", {"generation": number})
        try:
            budget = PATCH_TOKENS + 2 * len(ir) // CHARS_PER_TOKEN
            reply = self.chat.ask(self._prompt(ir, current), "patch", PATCH_SCHEMA, budget)
        except ModelUnavailable as exc:
            return None, f"model unavailable: {exc.reason}"
        text, rationale = reply.get("ir"), reply.get("rationale")
        if not isinstance(text, str) or not isinstance(rationale, str):
            return None, "the model's reply is off-schema (ir and rationale must be text)"
        if text.strip() == ir.strip():
            return None, "the model's patch changes nothing"
        try:
            score = check(text)
        except AitherError as exc:
            return None, f"the model's patch is refused: {clip(str(exc), 40)}"
        if not score.ok:
            problem = score.problem or "; ".join(score.failures)
            return None, f"the model's patch fails: {clip(problem, 40)}"
        if not score.beats(current):
            return (
                None,
                f"the model's patch does not beat the score ({improvement(score, current)})",
            )
        return Candidate(text, "model", rationale, score), ""

    def _from_mutations(
        self, number: int, ir: str, current: Score, check: Callable[[str], Score]
    ) -> Candidate | None:
        """The best single-instruction removal that passes every test and beats the score."""
        options = deletions(ir)
        self.events("mutating", {"generation": number, "candidates": len(options)})
        best: tuple[str, str, Score] | None = None
        for removed, text in options:
            try:
                score = check(text)
            except AitherError:
                continue
            if score.ok and score.beats(current) and (best is None or score.beats(best[2])):
                best = (removed, text, score)
        if best is None:
            return None
        removed, text, score = best
        rationale = (
            f"Mutation search: removing `{removed}` keeps every test passing and moves "
            f"{score.metric} {improvement(score, current)}."
        )
        return Candidate(text, "mutation", rationale, score)

    def _prompt(self, ir: str, current: Score) -> list[Any]:
        direction = "higher" if current.higher_is_better else "lower"
        brief = (
            "You improve one region of an AVM agent program (IR assembly): a better metric, the "
            'same results. Answer with one JSON object whose "ir" is the region\'s new body, '
            "written like the current one (its first line is its label; keep every label the "
            'program jumps to), and whose "rationale" is one sentence. Every test must pass.'
        )
        example = json.dumps({"ir": ir, "rationale": "Keeps the region as it is."})
        past = [
            f"generation {g.number} ({g.candidate.source}): {g.score_before.value} -> "
            f"{g.candidate.score.value}, {g.status}\n{g.diff}"
            for g in self.history[-HISTORY:]
        ]
        budget = self.prompt_tokens
        text = "\n".join(
            [
                f"--- region {self.settings.region} now ---\n{clip(ir, budget * 30 // 100)}",
                f"metric {current.metric}: {current.value} ({direction} is better); "
                f"tests passing: {sum(o.passed for o in current.tests)}/{len(current.tests)}",
                "--- the last generations (change, score, council outcome) ---",
                clip("\n".join(past) or "(none yet)", budget * 35 // 100),
                "--- the form of an answer (this one changes nothing) ---",
                clip(example, budget * 30 // 100),
            ]
        )
        return [system(brief), user(text)]

    def _propose(self, candidate: Candidate, deposit: int) -> str:
        rationale = (
            f"aither evolve ({candidate.source}): {candidate.score.metric} "
            f"{candidate.score.value}. {candidate.rationale}"
        )
        spec = CodeChangeSpec(
            self.settings.agent, self.settings.region, candidate.ir, rationale[:1000], "", deposit
        )
        result = submit(self.client, build_propose(self.client, self.key, spec), wait=True)
        if result["status"] != "ok":
            raise EvolveError(f"the proposal failed on chain: {result.get('error')}")
        pid = submitted_id(self.client, result)
        if pid is None:
            raise EvolveError("the proposal's receipt names no ProposalSubmitted event")
        return pid

    def _await_decision(self, number: int, pid: str) -> dict[str, Any]:
        """The proposal once it left its open states. On a dev chain (which makes blocks only
        for transactions) it mines once every member has voted or the vote timeout passed."""
        members = self._members()
        started = time.monotonic()
        seen = -1
        while True:
            found = self.client.call("aither_getProposal", pid)
            assert isinstance(found, dict)
            if found["status"] not in OPEN:
                return found
            waited = time.monotonic() - started
            if waited > self.settings.decision_timeout:
                raise EvolveError(
                    f"no decision on proposal {pid[:10]} within "
                    f"{self.settings.decision_timeout:g} s (status {found['status']})"
                )
            votes = len(found.get("votes", []))
            if votes != seen:
                seen = votes
                self.events("votes", {"generation": number, "votes": votes, "members": members})
            everyone = found["status"] == "voting" and votes >= members
            if (
                found["status"] != "voting" or everyone or waited > self.settings.vote_timeout
            ) and (self._mine()):
                continue
            time.sleep(POLL)

    def _mine(self) -> bool:
        """One block on a dev chain (`aither_mine`); False elsewhere (blocks come by themselves)."""
        if self._can_mine is False:
            return False
        try:
            self.client.call("aither_mine", 1)
        except RpcClientError as exc:
            if exc.code is None:
                raise
            self._can_mine = False
            return False
        self._can_mine = True
        return True

    def _open_archive(self) -> None:
        """Refuse an archive that cannot be written before any deposit is spent; remember the
        changes the council refused in earlier runs."""
        path = self.settings.archive
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a"):
                pass
            records = read_archive(path)
        except OSError as exc:
            raise EvolveError(f"cannot write archive {path}: {exc.strerror}") from None
        except ValueError as exc:
            raise EvolveError(str(exc)) from None
        agent = to_checksum_address(self.settings.agent)
        for r in records:
            mine = r.get("agent") == agent and r.get("region") == self.settings.region
            if mine and r.get("status") != "enacted" and isinstance(r.get("ir"), str):
                self.refused.add(_normal(r["ir"]))

    def _archive(self, generation: Generation) -> None:
        if self.settings.archive is None:
            return
        agent = to_checksum_address(self.settings.agent)
        record = {"agent": agent, "region": self.settings.region, **generation.to_json()}
        try:
            append(self.settings.archive, record)
        except OSError as exc:
            raise EvolveError(
                f"proposal {generation.proposal} is {generation.status}, but the archive "
                f"{self.settings.archive} cannot be written: {exc.strerror}"
            ) from None


__all__ = ["GAS_METRIC", "EvolveError", "Evolver", "Settings"]

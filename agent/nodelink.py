"""The node as a run sees it: every question the local host asks an Aither node, recorded.

A live run asks through `LiveNode`, which keeps each exchange (the question, its parameters and
the answer or the node's error) in order; the trace file stores them, and a replay gets the same
answers in the same order from `RecordedNode`, with no node. A question is usually one JSON-RPC
call; a wait that polls the node many times is one question whose answer is what the wait found,
so a replay never depends on how often a live run polled. A replay that asks anything else has
diverged, and TraceFileError says where.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from agent.errors import TraceFileError
from wallet.client import RpcClient, RpcClientError

Answer = Callable[[RpcClient], object]


def _json(value: object) -> object:
    """`value` as JSON reads it back (tuples become lists), so questions compare exactly."""
    return json.loads(json.dumps(value))


@dataclass(frozen=True, slots=True)
class Exchange:
    question: str  # a JSON-RPC method, or the name of a composite question ("swarm_wait")
    params: list[object]
    result: object = None
    error: tuple[int, str] | None = None  # (JSON-RPC code, message) when the node refused

    def to_json(self) -> dict[str, object]:
        doc: dict[str, object] = {"question": self.question, "params": self.params}
        if self.error is None:
            doc["result"] = self.result
        else:
            doc["error"] = {"code": self.error[0], "message": self.error[1]}
        return doc

    @staticmethod
    def from_json(doc: dict[str, Any]) -> Exchange:
        error = doc.get("error")
        if isinstance(error, dict):
            return Exchange(
                str(doc["question"]),
                list(doc["params"]),
                error=(int(error["code"]), str(error["message"])),
            )
        return Exchange(str(doc["question"]), list(doc["params"]), doc.get("result"))


class NodeLink(Protocol):
    def ask(self, question: str, params: list[object], answer: Answer) -> object:
        """The answer to `question`: `answer(client)` on a live run. Raises RpcClientError when
        the node refused (with its code), or when it cannot be reached (code None)."""
        ...

    def call(self, method: str, *params: object) -> object:
        """One JSON-RPC call, as a question."""
        ...


class LiveNode:
    """A node reached over JSON-RPC; every answered question is kept in `exchanges`."""

    def __init__(self, client: RpcClient) -> None:
        self.client = client
        self.exchanges: list[Exchange] = []

    def ask(self, question: str, params: list[object], answer: Answer) -> object:
        asked = _json(params)
        assert isinstance(asked, list)
        try:
            result = _json(answer(self.client))
        except RpcClientError as exc:
            if exc.code is None:
                raise  # no answer at all (unreachable): nothing a replay could be given
            self.exchanges.append(Exchange(question, asked, error=(exc.code, str(exc))))
            raise
        self.exchanges.append(Exchange(question, asked, result))
        return result

    def call(self, method: str, *params: object) -> object:
        return self.ask(method, list(params), lambda client: client.call(method, *params))


class RecordedNode:
    """The exchanges a trace file recorded, answered in order; never calls `answer`."""

    def __init__(self, exchanges: tuple[Exchange, ...]) -> None:
        self.exchanges = exchanges
        self.position = 0

    def ask(self, question: str, params: list[object], answer: Answer) -> object:
        if self.position >= len(self.exchanges):
            raise TraceFileError(
                f"the replay asked the node {question} after the last recorded answer"
            )
        recorded = self.exchanges[self.position]
        if recorded.question != question or recorded.params != _json(params):
            raise TraceFileError(
                f"the replay asked the node {question} {_json(params)}; the run asked "
                f"{recorded.question} {recorded.params}"
            )
        self.position += 1
        if recorded.error is not None:
            raise RpcClientError(recorded.error[1], recorded.error[0])
        return recorded.result

    def call(self, method: str, *params: object) -> object:
        return self.ask(method, list(params), lambda client: None)

    @property
    def unused(self) -> int:
        return len(self.exchanges) - self.position

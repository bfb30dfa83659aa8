"""The local host: a MemoryHost whose balances are the chain's and whose payments are queued as
transactions, with plugins for the non-deterministic opcodes.

Storage, events and code live in memory during a call (the runner loads and saves storage per
agent). A balance is read from the node once per run and then adjusted by the run's own queued
payments, so PAY_AGENT sees what the chain will see. Payments join the host's journal: a trapped
call rolls them back with everything else, and only a call that ends well sends them. Region
policies (locked / self / council) are enforced by the AVM itself, exactly as on chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from avm.host import MemoryHost, Plugins, World
from avm.instructions.wallet import DEFAULT_TOKEN
from ledger.amounts import NATIVE_SYMBOL

# The paper's AVM_CREDITS are the chain's native coin; other token ids are token symbols.
NATIVE_NAMES = frozenset({DEFAULT_TOKEN, NATIVE_SYMBOL, ""})


def chain_token(token: str) -> str:
    """The node's name for an AVM token id ("" is the native coin)."""
    return "" if token in NATIVE_NAMES else token


@dataclass(frozen=True, slots=True)
class Payment:
    """A PAY_AGENT the call made, to be sent as a signed transfer when the call succeeds."""

    to: bytes
    amount: int
    token: str  # the chain's name: "" for the native coin


class BalanceSource(Protocol):
    def balance(self, address: bytes, token: str) -> int:
        """The confirmed balance of `address` in `token` (the chain's name)."""
        ...


class LocalHost(MemoryHost):
    """A local host seen from one agent; see the module docstring."""

    def __init__(
        self,
        world: World,
        address: bytes,
        caller: bytes,
        plugins: Plugins,
        balances: BalanceSource,
    ) -> None:
        super().__init__(world, address, caller, plugins)
        self.balances = balances
        self.balance_reads: dict[tuple[bytes, str], int] = {}  # recorded for a replay
        self.payments: list[Payment] = []

    def balance(self, address: bytes, token: str) -> int:
        name = chain_token(token)
        key = (address, name)
        if key not in self.balance_reads:
            self.balance_reads[key] = self.balances.balance(address, name)
        amount = self.balance_reads[key]
        for p in self.payments:
            if p.token == name:
                amount += (p.to == address) * p.amount - (address == self.address) * p.amount
        return amount

    def transfer(self, to: bytes, amount: int, token: str) -> bool:
        if amount > self.balance(self.address, token):
            return False
        self.payments.append(Payment(to, amount, chain_token(token)))
        self.world.journal.append(self.payments.pop)
        return True

"""The state transition: apply a transaction, then a block, over a `State`.

Plain functions over plain data, in the manner of ethereum/execution-specs' `fork.py`. Time comes
from the block header; nothing here reads a clock, a random source or dict order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from core.amounts import MAX_AMOUNT
from core.errors import ExecutionFailed, TransactionRejected
from ledger import agents, gas, identity, roles
from ledger.channels.execution import apply_channel, end_block
from ledger.channels.execution import execution_gas as channel_gas
from ledger.channels.payloads import PAYLOAD_TYPES, ChannelPayload
from ledger.channels.records import ChannelContext
from ledger.evidence import EvidencePayload, EvidenceRefused, jail
from ledger.evidence import check as check_evidence
from ledger.governance import transition as governance
from ledger.governance.errors import GovernanceError
from ledger.governance.payloads import (
    CancelPayload,
    CodeChangeSpec,
    ProposePayload,
    RevertSpec,
    VotePayload,
)
from ledger.governance.shadow import ShadowRunner
from ledger.governance.transition import GovernanceContext, GovernanceEvent
from ledger.receipt import STATUS_FAILED, STATUS_OK, Log, Receipt
from ledger.scheduler import TaskRun, run_due
from ledger.state import Account, State, Token, move
from ledger.tx import Call, Deploy, SignedTx, TokenCreate, Transfer, TxKind

# Replay records of a block's agent calls, by transaction hash (see ledger/agents.py).
Replays = dict[bytes, bytes]
# The kinds that run no agent code.
_LEDGER_EFFECTS = frozenset(
    {Transfer, TokenCreate, ProposePayload, VotePayload, CancelPayload}
    | set(identity.PAYLOAD_TYPES)
    | set(PAYLOAD_TYPES)
    | set(roles.PAYLOAD_TYPES)
    | {EvidencePayload}
)
_GOVERNANCE_GAS: dict[type, int] = {
    ProposePayload: gas.GOV_PROPOSE,
    VotePayload: gas.GOV_VOTE,
    CancelPayload: gas.GOV_CANCEL,
}


@dataclass(frozen=True, slots=True)
class BlockContext:
    chain_id: int
    height: int
    timestamp: int
    proposer: bytes
    min_gas_price: int
    # No transaction may ask for more: an agent call runs as long as its gas lasts.
    block_gas_limit: int = gas.DEFAULT_BLOCK_GAS_LIMIT
    # The ledger's replay of recent blocks for `gas` proposals (None: inside such a replay).
    shadow: ShadowRunner | None = field(default=None, compare=False)


def intrinsic_gas(stx: SignedTx) -> int:
    """`gas.intrinsic` of the transaction's signed bytes."""
    return gas.intrinsic(len(stx.raw))


def execution_gas(stx: SignedTx) -> int:
    """Gas for the transaction's effect, beyond the intrinsic cost."""
    payload = stx.tx.payload
    if isinstance(payload, TokenCreate):
        return gas.TOKEN_CREATE
    if isinstance(payload, Transfer) and payload.token:
        return gas.TOKEN_TRANSFER
    if isinstance(payload, Deploy):
        stored = sum(
            gas.DEPLOY_STORAGE_ENTRY + gas.DEPLOY_STORAGE_BYTE * len(value)
            for _, value in payload.storage
        )
        return gas.DEPLOY_BASE + gas.DEPLOY_CODE_BYTE * len(payload.code) + stored
    if isinstance(payload, identity.RegisterPayload):
        return identity.execution_gas(payload)
    if isinstance(payload, roles.RolePayload):
        return gas.ROLE_OP
    if isinstance(payload, EvidencePayload):
        return gas.EVIDENCE
    if isinstance(payload, ChannelPayload):
        return channel_gas(payload)
    governance_gas = _GOVERNANCE_GAS.get(type(payload))
    if governance_gas is not None:
        return governance_gas
    return 0  # a call's AVM gas is known once it has run


def check_admissible(stx: SignedTx, ctx: BlockContext) -> None:
    """Raise TransactionRejected for what no block under `ctx`'s rules could include, whatever
    the state: another chain, a gas price below the minimum, a gas limit below the intrinsic gas
    or above the block gas limit. Mempool admission runs this (as CheckTx does), and so does
    inclusion."""
    tx = stx.tx
    if tx.chain_id != ctx.chain_id:
        raise TransactionRejected(f"wrong chain id {tx.chain_id}, this chain is {ctx.chain_id}")
    if tx.gas_price < ctx.min_gas_price and tx.kind is not TxKind.EVIDENCE:
        raise TransactionRejected(f"gas price {tx.gas_price} below minimum {ctx.min_gas_price}")
    if tx.gas_limit > ctx.block_gas_limit:
        raise TransactionRejected(
            f"gas limit {tx.gas_limit} above the block gas limit {ctx.block_gas_limit}"
        )
    needed = intrinsic_gas(stx)
    if tx.gas_limit < needed:
        raise TransactionRejected(f"gas limit {tx.gas_limit} below intrinsic gas {needed}")


def check_includable(account: Account, stx: SignedTx, ctx: BlockContext) -> None:
    """Raise TransactionRejected if the transaction cannot be part of a block.

    `account` is the sender's account before the transaction. A transaction that passes is
    included: even if its effect fails it pays and uses its nonce.
    """
    tx = stx.tx
    check_admissible(stx, ctx)
    if tx.nonce < account.nonce:
        raise TransactionRejected(f"nonce {tx.nonce} already used (account nonce {account.nonce})")
    if tx.nonce > account.nonce:
        raise TransactionRejected(f"nonce {tx.nonce} is ahead of account nonce {account.nonce}")
    if account.balance < tx.max_fee:
        raise TransactionRejected(
            f"insufficient funds for gas: balance {account.balance}, max fee {tx.max_fee}"
        )


def apply_transaction(
    state: State, stx: SignedTx, ctx: BlockContext, replays: Replays | None = None
) -> Receipt:
    """Apply one includable transaction: buy gas, run the effect, refund the unused gas.

    The effect runs in a journal: if it fails its writes are rolled back, but the fee is paid
    and the nonce advances. An agent call's AVM gets the gas left after the intrinsic gas, and
    its gas used is added; its replay record goes to `replays`. The caller pays the fee
    (`receipt.fee`) to the proposer.
    """
    tx = stx.tx
    sender = state.account(stx.sender)
    check_includable(sender, stx, ctx)
    if isinstance(tx.payload, Deploy):
        agents.check_deploy_version(state, tx.payload)
    if isinstance(tx.payload, EvidencePayload):
        # Free to send, so never included unless it jails someone (admission checks the same).
        try:
            check_evidence(state, ctx.chain_id, tx.payload.evidence)
        except EvidenceRefused as exc:
            raise TransactionRejected(str(exc)) from None
    state.set_account(stx.sender, Account(sender.nonce + 1, sender.balance - tx.max_fee))

    gas_used = intrinsic_gas(stx) + execution_gas(stx)
    logs: tuple[Log, ...] = ()
    output = b""
    error = ""
    state.begin()
    try:
        if gas_used > tx.gas_limit:
            raise ExecutionFailed(f"out of gas: needs {gas_used}, limit {tx.gas_limit}")
        if type(tx.payload) in _LEDGER_EFFECTS:
            logs = _apply_effect(state, stx, ctx)
        else:
            outcome = _apply_agent_effect(state, stx, ctx, tx.gas_limit - gas_used)
            gas_used += outcome.gas_used
            if replays is not None and outcome.replay is not None:
                replays[stx.hash] = outcome.replay
            if outcome.error:
                raise ExecutionFailed(outcome.error)
            logs, output = outcome.logs, outcome.output
        state.commit()
    except ExecutionFailed as exc:
        state.rollback()
        gas_used = min(gas_used, tx.gas_limit)
        error = str(exc)

    fee = gas_used * tx.gas_price
    _credit(state, stx.sender, tx.max_fee - fee)
    status = STATUS_FAILED if error else STATUS_OK
    return Receipt(stx.hash, status, gas_used, fee, logs, error, output)


@dataclass(frozen=True, slots=True)
class AppliedTransactions:
    included: list[SignedTx]
    receipts: list[Receipt]
    left_out: list[tuple[SignedTx, str]]  # cannot be included, with the reason
    deferred: list[SignedTx]  # valid perhaps, but past the block gas limit: for a later block
    task_runs: list[TaskRun] = field(default_factory=list)  # the scheduled tasks run at its end


def apply_transactions(
    state: State,
    txs: Iterable[SignedTx],
    ctx: BlockContext,
    replays: Replays | None = None,
    events: list[GovernanceEvent] | None = None,
) -> AppliedTransactions:
    """Apply transactions in order, leaving out those that cannot be included, then end the
    block for governance.

    A transaction whose gas limit exceeds the block's gas left (the block gas limit less the gas
    the block has used) is deferred to a later block, with its sender's later transactions.
    Agent calls' replay records go to
    `replays`, what governance did at the block's end (sandboxes, tallies, enactments) to
    `events`. A block producer uses this;
    a validator checking someone else's block requires that nothing is left out. The fees of
    the block are paid to the proposer once, after the last transaction; governance's block
    boundary comes after that, outside any transaction's journal, so building a block and
    checking it take the same steps.
    """
    included: list[SignedTx] = []
    receipts: list[Receipt] = []
    left_out: list[tuple[SignedTx, str]] = []
    deferred: list[SignedTx] = []
    waiting: set[bytes] = set()  # senders with a deferred transaction: their later ones wait too
    gas_left = ctx.block_gas_limit
    for stx in txs:
        fits_no_block = stx.tx.gas_limit > ctx.block_gas_limit  # left out below, with the reason
        if stx.sender in waiting or (stx.tx.gas_limit > gas_left and not fits_no_block):
            deferred.append(stx)  # as Ethereum: every transaction's limit fits the gas left
            waiting.add(stx.sender)
            continue
        try:
            receipt = apply_transaction(state, stx, ctx, replays)
        except TransactionRejected as exc:
            left_out.append((stx, str(exc)))
            continue
        included.append(stx)
        receipts.append(receipt)
        gas_left -= receipt.gas_used
    _credit(state, ctx.proposer, sum(receipt.fee for receipt in receipts))
    task_runs = run_due(state, ctx.height, ctx.timestamp, ctx.proposer)
    gov_ctx = GovernanceContext(ctx.height, agents.LedgerAgents(state), ctx.shadow)
    done = governance.end_block(state, gov_ctx)
    if events is not None:
        events.extend(done)
    end_block(state, ctx.height)  # unclaimed rewards go back to their requesters
    return AppliedTransactions(included, receipts, left_out, deferred, task_runs)


def _apply_effect(state: State, stx: SignedTx, ctx: BlockContext) -> tuple[Log, ...]:
    payload = stx.tx.payload
    if isinstance(payload, Transfer):
        return _transfer(state, stx.sender, payload)
    if isinstance(payload, TokenCreate):
        return _token_create(state, stx.sender, payload)
    if isinstance(payload, ProposePayload | VotePayload | CancelPayload):
        return _governance(state, stx.sender, payload, ctx)
    if isinstance(payload, identity.NameAgent):
        named = agents.load_agent(state, payload.agent)
        deployer = None if named is None else named.deployer
        return identity.apply_agent_name(state, stx.sender, payload, deployer)
    if isinstance(payload, identity.SetIdentity | identity.TransferName):
        return identity.apply_register(state, stx.tx.sender_pubkey, payload, ctx.height)
    if isinstance(payload, roles.SetPolicy):
        record = agents.load_agent(state, payload.agent)
        code = None if record is None else agents.load_code(state, record.code_id)
        governed = code is not None and code.council_governed
        deployer = None if record is None else record.deployer
        return roles.apply_policy(state, stx.sender, payload, deployer, governed)
    if isinstance(payload, roles.DefineRole | roles.GrantRole):
        return roles.apply_role(state, stx.sender, payload, ctx.height)
    if isinstance(payload, EvidencePayload):
        return jail(state, ctx.chain_id, payload, ctx.height)
    if isinstance(payload, ChannelPayload):
        channel_ctx = ChannelContext(ctx.chain_id, ctx.height, ctx.timestamp)
        return apply_channel(state, stx.tx.sender_pubkey, payload, channel_ctx)
    raise ExecutionFailed(f"{stx.tx.kind.name.lower()} is not executable")


def _governance(
    state: State,
    sender: bytes,
    payload: ProposePayload | VotePayload | CancelPayload,
    ctx: BlockContext,
) -> tuple[Log, ...]:
    """File, vote on or cancel a proposal. A refusal fails the transaction with its reason
    (the fee is paid, nothing else changes)."""
    gov_ctx = GovernanceContext(ctx.height, agents.LedgerAgents(state))
    try:
        if isinstance(payload, ProposePayload):
            spec = payload.spec
            pid = governance.submit(state, gov_ctx, sender, spec)
            target = spec.agent if isinstance(spec, CodeChangeSpec | RevertSpec) else b""
            return (Log("ProposalSubmitted", (pid, sender, spec.kind.value, target)),)
        if isinstance(payload, VotePayload):
            governance.vote(
                state, gov_ctx, sender, payload.proposal_id, payload.choice, payload.explanation
            )
            return (Log("Voted", (payload.proposal_id, sender, payload.choice.value)),)
        governance.cancel(state, gov_ctx, sender, payload.proposal_id)
        return (Log("ProposalCancelled", (payload.proposal_id, sender)),)
    except GovernanceError as exc:
        raise ExecutionFailed(str(exc)) from None


def _apply_agent_effect(
    state: State, stx: SignedTx, ctx: BlockContext, gas_left: int
) -> agents.Outcome:
    payload = stx.tx.payload
    if isinstance(payload, Deploy):
        return agents.deploy(state, stx.sender, stx.tx.nonce, payload, ctx.height)
    if isinstance(payload, Call):
        return agents.call(
            state, stx.sender, payload, gas_left, ctx.height, ctx.timestamp,
            gas_price=stx.tx.gas_price,
        )  # fmt: skip
    raise ExecutionFailed(f"{stx.tx.kind.name.lower()} is not executable")


def _transfer(state: State, sender: bytes, transfer: Transfer) -> tuple[Log, ...]:
    if not transfer.token:
        move(state, sender, transfer.to, transfer.amount)
    else:
        if state.token(transfer.token) is None:
            raise ExecutionFailed(f"unknown token {transfer.token}")
        have = state.token_balance(sender, transfer.token)
        if have < transfer.amount:
            raise ExecutionFailed(
                f"insufficient {transfer.token} balance: have {have}, need {transfer.amount}"
            )
        state.set_token_balance(sender, transfer.token, have - transfer.amount)
        received = state.token_balance(transfer.to, transfer.token) + transfer.amount
        state.set_token_balance(transfer.to, transfer.token, received)
    return (Log("Transfer", (sender, transfer.to, transfer.amount, transfer.token)),)


def _token_create(state: State, creator: bytes, create: TokenCreate) -> tuple[Log, ...]:
    if state.token(create.symbol) is not None:
        raise ExecutionFailed(f"token {create.symbol} already exists")
    state.set_token(Token(create.symbol, create.name, create.decimals, create.supply, creator))
    state.set_token_balance(creator, create.symbol, create.supply)
    return (Log("TokenCreated", (create.symbol, creator, create.supply, create.decimals)),)


def _credit(state: State, address: bytes, amount: int) -> None:
    if amount == 0:
        return
    account = state.account(address)
    if account.balance + amount > MAX_AMOUNT:
        raise ExecutionFailed("balance would overflow")
    state.set_account(address, Account(account.nonce, account.balance + amount))

"""JSON views of chain objects: quantities as 0x-hex, addresses with EIP-55 checksums.

The `eth_*` views are the shapes Ethereum tools read (web3.py's result formatters, geth's
answers): transactions, receipts, logs and headers.
"""

from __future__ import annotations

from avm.values import from_wire, to_python, to_wire
from core.crypto import address_of, hash32, to_checksum_address
from core.encoding import Value, decode, encode
from ledger.agents import agent_address
from ledger.block import Block
from ledger.chain import TxLocation
from ledger.identity import NameAgent
from ledger.receipt import LocatedLog, Log, Receipt, emitter, topics
from ledger.roles import DefineRole, GrantRole, SetPolicy
from ledger.tx import Call, Deploy, SignedTx, TokenCreate, Transfer

ZERO_BLOOM = "0x" + "00" * 256


def hx(number: int) -> str:
    return hex(number)


def hexbytes(raw: bytes) -> str:
    return "0x" + raw.hex()


def transaction(stx: SignedTx, where: TxLocation | None) -> dict[str, object]:
    tx = stx.tx
    view: dict[str, object] = {
        "hash": hexbytes(stx.hash),
        "blockNumber": None if where is None else hx(where.height),
        "blockHash": None if where is None else hexbytes(where.block_hash),
        "transactionIndex": None if where is None else hx(where.index),
        "chainId": hx(tx.chain_id),
        "kind": tx.kind.name.lower(),
        "from": to_checksum_address(stx.sender),
        "publicKey": hexbytes(tx.sender_pubkey),
        "nonce": hx(tx.nonce),
        "gas": hx(tx.gas_limit),
        "gasPrice": hx(tx.gas_price),
        "signature": hexbytes(tx.signature),
    }
    payload = tx.payload
    if isinstance(payload, Transfer):
        view.update(to=to_checksum_address(payload.to), value=hx(payload.amount))
        view.update(token=payload.token or None)
    elif isinstance(payload, TokenCreate):
        view.update(
            symbol=payload.symbol,
            name=payload.name,
            supply=hx(payload.supply),
            decimals=payload.decimals,
        )
    elif isinstance(payload, Deploy):
        agent = agent_address(stx.sender, tx.nonce)
        view.update(agent=to_checksum_address(agent), value=hx(payload.value))
        view.update(codeId=hexbytes(hash32(payload.code)), storageEntries=len(payload.storage))
    elif isinstance(payload, Call):
        view.update(to=to_checksum_address(payload.agent), value=hx(payload.value))
        view.update(entry=payload.entry, args=to_python(payload.args))
    elif isinstance(payload, DefineRole):
        view.update(role=payload.role, actions=list(payload.actions))
    elif isinstance(payload, NameAgent):
        view.update(agent=to_checksum_address(payload.agent), name=payload.name or None)
    elif isinstance(payload, SetPolicy):
        view.update(agent=to_checksum_address(payload.agent), policy=payload.policy.to_json())
    elif isinstance(payload, GrantRole):
        view.update(role=payload.role, holder=to_checksum_address(payload.holder))
        view.update(revoke=payload.revoke)
    return view


def _value(value: Value) -> object:
    if isinstance(value, bytes):
        return to_checksum_address(value) if len(value) == 20 else hexbytes(value)
    if isinstance(value, list):
        return [_value(v) for v in value]
    if isinstance(value, int) and not isinstance(value, bool):
        return hx(value)
    return value


def log(entry: Log) -> dict[str, object]:
    return {"event": entry.name, "args": [_value(v) for v in entry.values]}


def output_value(output: bytes) -> object:
    """An agent call's return value (or a deployed agent's address) as JSON."""
    return to_python(from_wire(decode(output)))


def receipt(rc: Receipt, stx: SignedTx, where: TxLocation) -> dict[str, object]:
    payload = stx.tx.payload
    to = payload.to if isinstance(payload, Transfer) else None
    if isinstance(payload, Call):
        to = payload.agent
    deployed = isinstance(payload, Deploy) and rc.ok
    return {
        "transactionHash": hexbytes(rc.tx_hash),
        "blockNumber": hx(where.height),
        "blockHash": hexbytes(where.block_hash),
        "transactionIndex": hx(where.index),
        "from": to_checksum_address(stx.sender),
        "to": None if to is None else to_checksum_address(to),
        "status": hx(rc.status),
        "gasUsed": hx(rc.gas_used),
        "fee": hx(rc.fee),
        "effectiveGasPrice": hx(stx.tx.gas_price),
        "logs": [log(entry) for entry in rc.logs],
        "error": rc.error or None,
        "output": hexbytes(rc.output) if rc.output else None,
        "returnValue": output_value(rc.output) if isinstance(payload, Call) and rc.ok else None,
        "contractAddress": to_checksum_address(agent_address(stx.sender, stx.tx.nonce))
        if deployed
        else None,
    }


def block(blk: Block, tx_views: list[object], size: int) -> dict[str, object]:
    """A block in Ethereum's shape (so web3.py reads it) plus Aither's own fields."""
    header = blk.header
    return {
        "number": hx(header.height),
        "hash": hexbytes(blk.hash),
        "parentHash": hexbytes(header.parent_hash),
        "timestamp": hx(header.timestamp),
        "miner": to_checksum_address(header.proposer),
        "transactionsRoot": hexbytes(header.tx_root),
        "stateRoot": hexbytes(header.state_root),
        "receiptsRoot": hexbytes(header.receipts_root),
        "gasUsed": hx(header.gas_used),
        "gasLimit": hx(0),
        "size": hx(size),
        "nonce": "0x0000000000000000",
        "difficulty": "0x0",
        "totalDifficulty": "0x0",
        "extraData": "0x",
        "logsBloom": ZERO_BLOOM,
        "sha3Uncles": hexbytes(bytes(32)),
        "mixHash": hexbytes(bytes(32)),
        "uncles": [],
        "transactions": tx_views,
        "lastCommit": None
        if header.last_commit is None
        else {
            "height": hx(header.last_commit.height),
            "round": hx(header.last_commit.round),
            "blockHash": hexbytes(header.last_commit.block_hash),
            "signers": [
                to_checksum_address(address_of(s.validator)) for s in header.last_commit.signatures
            ],
        },
    }


# Ethereum's shapes


def call_data(payload: Call) -> bytes:
    """An agent call as Ethereum's `data` (eth_call) or `input` (a transaction): the canonical
    encoding of `[entry, args]`, the Call payload's entry and its args as the payload carries
    them (an AVM list in wire form, avm.values.to_wire)."""
    return encode([payload.entry, to_wire(payload.args)])


def eth_transaction(stx: SignedTx, where: TxLocation | None) -> dict[str, object]:
    """A transaction as eth_getTransactionByHash answers: aither_getTransaction's view with
    `input` (a call's data, a deploy's code, another kind's canonical payload), `type` 0, and the
    ed25519 signature's halves as `r` and `s` (`v` 0). `to` is the recipient or the called agent
    (null for a deploy and for kinds without one); `value` is native coin only (a token
    transfer's amount is `tokenValue`)."""
    view = transaction(stx, where)
    payload = stx.tx.payload
    if isinstance(payload, Transfer):
        data = b""
        if payload.token:
            view.update(value=hx(0), tokenValue=hx(payload.amount))
    elif isinstance(payload, Call):
        data = call_data(payload)
    elif isinstance(payload, Deploy):
        data = payload.code
    else:
        data = encode(payload.to_value())
    signature = stx.tx.signature
    view.setdefault("to", None)
    view.setdefault("value", hx(0))
    view.update(
        input=hexbytes(data),
        type="0x0",
        v="0x0",
        r=hexbytes(signature[:32]),
        s=hexbytes(signature[32:]),
    )
    return view


def eth_log(located: LocatedLog) -> dict[str, object]:
    """A log as Ethereum's: the emitter's address, its topics (ledger/receipt.py: the event's
    name, then its first arguments, as 32-byte words) and as data the canonical encoding of all
    its values."""
    entry = located.log
    return {
        "address": to_checksum_address(emitter(entry)),
        "topics": [hexbytes(topic) for topic in topics(entry)],
        "data": hexbytes(encode(list(entry.values))),
        "blockNumber": hx(located.height),
        "blockHash": hexbytes(located.block_hash),
        "transactionHash": hexbytes(located.tx_hash),
        "transactionIndex": hx(located.tx_index),
        "logIndex": hx(located.log_index),
        "removed": False,
    }


def eth_receipt(
    rc: Receipt, stx: SignedTx, where: TxLocation, cumulative_gas: int, first_log_index: int
) -> dict[str, object]:
    """A receipt as eth_getTransactionReceipt answers. `cumulative_gas` is the gas the block's
    transactions used up to and including this one, `first_log_index` the block-wide index of
    its first log."""
    payload = stx.tx.payload
    to = payload.to if isinstance(payload, Transfer) else None
    if isinstance(payload, Call):
        to = payload.agent
    deployed = isinstance(payload, Deploy)
    return {
        "transactionHash": hexbytes(rc.tx_hash),
        "transactionIndex": hx(where.index),
        "blockHash": hexbytes(where.block_hash),
        "blockNumber": hx(where.height),
        "from": to_checksum_address(stx.sender),
        "to": None if to is None else to_checksum_address(to),
        "cumulativeGasUsed": hx(cumulative_gas),
        "gasUsed": hx(rc.gas_used),
        "effectiveGasPrice": hx(stx.tx.gas_price),
        "contractAddress": to_checksum_address(agent_address(stx.sender, stx.tx.nonce))
        if deployed
        else None,
        "logs": [
            eth_log(
                LocatedLog(
                    entry,
                    where.height,
                    where.block_hash,
                    rc.tx_hash,
                    where.index,
                    first_log_index + index,
                )
            )
            for index, entry in enumerate(rc.logs)
        ],
        "logsBloom": ZERO_BLOOM,
        "status": hx(rc.status),
        "type": "0x0",
    }


def eth_header(blk: Block) -> dict[str, object]:
    """A block's header as a `newHeads` subscription pushes it: eth_getBlockByNumber's block
    without its transactions."""
    view = block(blk, [], len(blk.encode()))
    del view["transactions"]
    return view

"""JSON views of chain objects: quantities as 0x-hex, addresses with EIP-55 checksums."""

from __future__ import annotations

from avm.values import from_wire, to_python
from core.crypto import address_of, hash32, to_checksum_address
from core.encoding import Value, decode
from ledger.agents import agent_address
from ledger.block import Block
from ledger.chain import TxLocation
from ledger.receipt import Log, Receipt
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

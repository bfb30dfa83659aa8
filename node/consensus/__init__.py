"""Tendermint-style BFT consensus: a pure state machine, its messages, validators and signer.

How a driver (the node, the simulator) runs `core.Consensus`:

1. Build it with the chain id, a `SignerGuard` (restored with `SignerGuard.from_bytes` from
   what was last persisted, or new) or None for an observer, and a `TimeoutConfig`.
2. `start_height(h, validators)` with h = last committed height + 1 and the `ValidatorSet` of
   h (genesis: `ValidatorSet.from_powers`; each next height: `.advance()`, or `.updated()`
   when governance changes powers). Keep each height's set with its block (`to_bytes`).
3. Carry out the returned effects in order:
   - `PersistSigner`: write the bytes durably (sync) before anything after it: it always
     comes first in a batch that signed, so nothing signed leaves before it is on disk.
   - `Broadcast`: gossip `message.encode()`; for a proposal, also the block body.
   - `ScheduleTimeout`: call `on_timeout(kind, height, round)` after `duration_ms`.
   - `RequestProposal`: build a block on the head, keep its body durably, `propose(...)`.
   - `ValidateBlock`: once the body is at hand (gossip, or fetched from a peer), check it
     against its parent, keep it, and answer `on_validity(...)`.
   - `Decide`: commit the block with its certificate, wait `commit_ms`, start the next height.
   - `RecordEvidence`: store it; gossip `evidence.encode()`.
4. Feed the network: screen bytes with `admission.admit` (the gossip validator), then
   `on_proposal` / `on_vote`. A certificate from block sync for the current height can be fed
   as votes (`messages.votes_from_certificate`).
5. Every second or so, if nothing moved, send `rebroadcast()`'s messages again (gossip repair).

A lone validator needs no timer in normal operation: `propose` returns the decision at once.
"""

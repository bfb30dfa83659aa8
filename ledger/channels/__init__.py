"""Swarm channels on chain: membership per key epoch, rotations, and rewards held in escrow.

`payloads` (the CHANNEL transaction's wire forms), `records` (what state holds and the reads of
it), `execution` (what each transaction does, and the end-of-block reward timeouts).
"""

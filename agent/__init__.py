"""The local agent runtime: runs AVM programs on their owner's machine.

Deterministic opcodes run against local per-agent state; the non-deterministic ones go to plugins
named in a TOML file (an OpenAI-compatible LLM, a sentence-embedding model, HTTP and Python tools,
reads of an Ethereum JSON-RPC chain). What a run does on chain (payments, calls of on-chain
agents, council proposals, channel joins, swarm rewards) becomes signed transactions sent to an
Aither node when the run ends well (`host`, `effects`, `transactions`); swarm messages go through
the node's swarm service (`swarm`). Every plugin result and every answer of the node is recorded
in a trace file, so a run can be replayed without any plugin or node (`runner`, `tracefile`).
"""

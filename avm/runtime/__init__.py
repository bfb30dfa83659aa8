"""The local agent runtime: runs AVM programs on their owner's machine.

Deterministic opcodes run against local per-agent state; the non-deterministic ones go to plugins
named in a TOML file (an OpenAI-compatible LLM, a sentence-embedding model, HTTP and Python tools,
reads of an Ethereum JSON-RPC chain); payments become signed transactions sent to an Aither node.
Every plugin result is recorded in a trace file so a run can be replayed without any plugin.
"""

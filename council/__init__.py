"""The council reviewer service: role analyses, model reviews, and votes on proposals.

`proposal` reads a proposal as the node serves it, `diff` what it changes, `analysis` each role's
deterministic checks, `llm` the optional model review, `review` the rule that combines them,
`service` the polling loop that signs and sends votes (the ledger's vote payload), and `cli` the
`aither council serve` command.
"""

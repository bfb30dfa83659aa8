"""The council reviewer service: role analyses, model reviews, and votes on proposals.

`analysis` holds each role's deterministic checks, `llm` the optional model review, `review` the
rule that combines them and the vote payload, `service` the polling loop that signs and sends
votes, and `cli` the `aither council serve` command.
"""

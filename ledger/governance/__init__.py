"""Governance: code changes and rule changes by weighted council quorum, as state transitions.

`params` (the rules, `GovernanceParams`, and the council roles they weigh), `payloads` (what the
propose, vote and cancel transactions carry), `proposals` (the proposal records, votes and
lineage edges state holds), `council` (members and council changes), `code_change` (the code a
proposal makes, and its sandbox run), `transition` (submit, vote, cancel and the end-of-block
lifecycle), `views` (read-only views for RPC and the CLI), `errors` (why an action is refused).
"""

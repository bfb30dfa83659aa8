"""The client commands: `aither wallet` (keys, reads, transfers, agents, proposals), `aither gov`
and `aither swarm`. Each module holds a Typer `app` with its commands."""

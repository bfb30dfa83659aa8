"""Self-learning (§11.7): observer mode, introspection, reading and rewriting own regions."""

from __future__ import annotations

from avm.opcodes import Family

family = Family("self_modify")

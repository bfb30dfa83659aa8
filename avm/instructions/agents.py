"""Agents (§11.2 FORK_AGENT, §5.4 Matreshka CROSSOVER)."""

from __future__ import annotations

from avm.opcodes import Family

family = Family("agents")

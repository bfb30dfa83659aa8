"""Every opcode of the AVM, by family. `OPCODES` maps an opcode name to its definition."""

from __future__ import annotations

from avm.instructions import (
    agents,
    arithmetic,
    control,
    data,
    documents,
    external,
    identity,
    self_modify,
    storage,
    swarm,
    wallet,
)
from avm.opcodes import OpSpec

FAMILIES = (
    control.family,
    arithmetic.family,
    data.family,
    storage.family,
    wallet.family,
    identity.family,
    documents.family,
    swarm.family,
    self_modify.family,
    agents.family,
    external.family,
)


def _index() -> dict[str, OpSpec]:
    table: dict[str, OpSpec] = {}
    for family in FAMILIES:
        for spec in family.specs:
            if spec.name in table:
                raise RuntimeError(f"opcode {spec.name} is defined twice")
            table[spec.name] = spec
    return table


OPCODES: dict[str, OpSpec] = _index()

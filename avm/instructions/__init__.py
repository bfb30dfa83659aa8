"""Every opcode of the AVM, by family, and the instruction sets of its versions.

`VERSIONS[n]` maps each opcode name of AVM version n to its definition; a code object runs under
the version it records (`CodeObject.avm_version`). `OPCODES` is the latest version's table: what
tools that name opcodes (the assembler's hints, the council's analysis) know.
"""

from __future__ import annotations

from avm.errors import UnknownAvmVersion
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
    v2,
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


V1_OPCODES: dict[str, OpSpec] = _index()
VERSIONS: dict[int, dict[str, OpSpec]] = {
    1: V1_OPCODES,
    2: {**V1_OPCODES, **{spec.name: spec for spec in v2.family.specs}},
}
LATEST_VERSION = max(VERSIONS)
MAX_AVM_VERSION = 2**16  # the highest version a chain may name (proposals, `.avm N` patches)
OPCODES: dict[str, OpSpec] = VERSIONS[LATEST_VERSION]


def opcode_table(version: int) -> dict[str, OpSpec]:
    """Version `version`'s instruction set. Raises UnknownAvmVersion for one this node lacks."""
    table = VERSIONS.get(version)
    if table is None:
        raise UnknownAvmVersion(version, LATEST_VERSION)
    return table

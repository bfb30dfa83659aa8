"""Identity names: a lowercase label, then `.avm` (say masha-trader.avm). Clients check a name
before they ask the chain to resolve it, so this module imports nothing heavier than `re`."""

from __future__ import annotations

import re

NAME_SUFFIX = ".avm"
MAX_LABEL = 32
NAME_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?\.avm$")
MAX_NAME = MAX_LABEL + len(NAME_SUFFIX)
NAME_RULE = (
    f"a name is a lowercase label of 1..{MAX_LABEL} letters, digits and inner hyphens, "
    f"then {NAME_SUFFIX} (say masha-trader.avm)"
)


def is_name(text: str) -> bool:
    return len(text) <= MAX_NAME and NAME_PATTERN.match(text) is not None

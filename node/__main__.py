"""`python -m node` is `aither`, for environments where the console script is not on PATH."""

from node.cli import app

app()

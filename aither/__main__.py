"""`python -m aither` is `aither`, for environments where the console script is not on PATH."""

from aither.cli import app

app()

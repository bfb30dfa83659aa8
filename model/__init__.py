"""The embedded model: Gemma 3 270M (a GGUF shipped as PyPI packages) served by llama.cpp with an
OpenAI-compatible API, and the structured chat every model client of the project goes through.

A client given no model URL uses `aither model serve` when one answers on its default port, else
loads the model in its own process (`model.embedded.resolve`).
"""

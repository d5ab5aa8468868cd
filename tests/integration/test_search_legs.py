"""Searches over several vector fields on real backends (issue 25): a collection with two
dense fields (``dense``, the primary, COSINE; ``title``, IP, another dim), the BM25 field
and a client-side sparse field (``splade``): every single leg finds what a brute-force
search of that field finds; every pair, three and four legs fuse by RRF on the server
(``hybrid_search``) into the same ranking as client-side fusion of the same legs, and by
weighted fusion as the legs' normalised scores weigh; filters (a client-side residual on
Milvus Lite 2.5 included), grouping, tenants, range search, ``search_many`` and fan-out.

Ties: two hits with the same fused RRF score (ranks (1, 2) and (2, 1) in two legs) come in
an order each backend picks for itself (measured: the Lite 3 server by ascending id, Milvus
Lite 2.5 by neither id nor first appearance), so rankings are compared score by score, and
the ids within a run of equal scores as a set (the last run cut at ``k`` by its size)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from milvus_rag import ConfigError, Hit, Leg, MilvusStore, Record, SearchRequest
from milvus_rag.client.fusion import leg_weights, rrf_fuse, weighted_fuse_n
from milvus_rag.client.grouping import Grouping, group_hits
from milvus_rag.client.vector_fields import VectorField
from tests.spies import RequestSpy

pytestmark = pytest.mark.integration

N = 48
DIM, TITLE_DIM, VOCAB = 8, 6, 24
WORDS = ["alpha", "beta", "gamma", "delta", "eps", "zeta"]
FIELDS = [
    VectorField.dense("dense", dim=DIM),
    VectorField.sparse("sparse", bm25=True),
    VectorField.dense("title", dim=TITLE_DIM, metric="IP"),
    VectorField.sparse("splade"),
]
NAMES = [f.name for f in FIELDS]


def _sparse(rng: np.random.Generator) -> dict[int, float]:
    idx = rng.choice(np.arange(1, VOCAB), size=4, replace=False)
    out = {int(i): float(w) for i, w in zip(idx, rng.uniform(0.1, 2.0, size=4), strict=True)}
    out[0] = float(rng.uniform(0.01, 0.2))  # every row shares index 0: every row matches
    return out


class Corpus:
    """The rows written and brute-force single-field searches over them."""

    def __init__(self, seed: int = 25, tenant: str | None = None) -> None:
        rng = np.random.default_rng(seed)
        self.dense = rng.normal(size=(N, DIM)).astype(np.float32)
        self.title = rng.normal(size=(N, TITLE_DIM)).astype(np.float32)
        self.splade = [_sparse(rng) for _ in range(N)]
        self.records = [
            Record(
                id=f"{tenant or ''}r{i:02d}",
                text=f"{WORDS[i % 6]} {WORDS[(i * 7) % 6]} w{i % 5} end",
                vector=self.dense[i],
                vectors={"title": self.title[i], "splade": self.splade[i]},
                metadata={"i": i, **({"tag": "x"} if i % 3 else {}), "doc": f"d{i % 12}"},
                doc_id=f"d{i % 12}",
            )
            for i in range(N)
        ]
        self.ids = [r.id for r in self.records]

    def exact(self, field: str, query: Any, k: int) -> list[str]:
        """The top ``k`` ids of a dense or client-side sparse field, brute force."""
        if field == "dense":
            v = self.dense
            s = (v @ query) / (np.linalg.norm(v, axis=1) * np.linalg.norm(query))
        elif field == "title":
            s = self.title @ query
        else:
            s = np.array(
                [sum(w * query.get(i, 0.0) for i, w in row.items()) for row in self.splade]
            )
        return [self.ids[i] for i in np.argsort(-s, kind="stable")[:k]]


def _queries(corpus: Corpus, seed: int = 7) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    return {
        "dense": corpus.dense[3] + 0.3 * rng.normal(size=DIM).astype(np.float32),
        "title": rng.normal(size=TITLE_DIM).astype(np.float32),
        "sparse": "alpha gamma w1",
        "splade": _sparse(rng),
    }


def _legs(
    names: Sequence[str], q: dict[str, Any], weights: Sequence[float] | None = None
) -> list[Leg]:
    return [
        Leg(n, q[n], weight=None if weights is None else weights[i]) for i, n in enumerate(names)
    ]


def _runs(hits: list[Hit]) -> list[tuple[float, set[str]]]:
    """Runs of equal scores (relative 1e-5: servers may sum in float32), best first."""
    out: list[tuple[float, set[str]]] = []
    for h in hits:
        if out and abs(out[-1][0] - h.score) <= 1e-5 * max(abs(h.score), 1e-12):
            out[-1][1].add(h.id)
        else:
            out.append((h.score, {h.id}))
    return out


def assert_same_ranking(a: list[Hit], b: list[Hit], what: object = "") -> None:
    """The same hits in the same order, ties in any order (see the module docs)."""
    ra, rb = _runs(a), _runs(b)
    assert len(a) == len(b) and len(ra) == len(rb), (what, [h.id for h in a], [h.id for h in b])
    for i, ((sa, ia), (sb, ib)) in enumerate(zip(ra, rb, strict=True)):
        assert sa == pytest.approx(sb, rel=1e-5), what
        if i < len(ra) - 1:
            assert ia == ib, (what, i, ia, ib)
        else:
            assert len(ia) == len(ib), what  # the last run: cut at k


def _store(make_store: Callable[..., MilvusStore], **kw: Any) -> tuple[MilvusStore, Corpus]:
    corpus = Corpus()
    store = make_store(vector_fields=FIELDS, **kw)
    store.upsert(corpus.records)
    store.flush()
    return store, corpus


SUBSETS = [c for n in range(1, 5) for c in itertools.combinations(NAMES, n)]


def test_every_leg_and_combination_on_four_fields(
    make_store: Callable[..., MilvusStore], request_spy: RequestSpy
) -> None:
    store, corpus = _store(make_store)
    q = _queries(corpus)
    k, cand = 10, 16
    single: dict[str, list[Hit]] = {}
    for name in NAMES:  # one leg: a plain search of that field, the field's own query
        hits = store.search(legs=[Leg(name, q[name])], k=cand)
        single[name] = hits
        if name != "sparse":
            assert [h.id for h in hits] == corpus.exact(name, q[name], cand), name
        else:
            assert all(set(h.record.text.split()) & {"alpha", "gamma", "w1"} for h in hits)
        assert all(h.has_relevance for h in hits) == (name != "splade"), name
    # the modes are the default fields' legs
    assert [h.id for h in store.search(vector=q["dense"], mode="dense", k=cand)] == [
        h.id for h in single["dense"]
    ]
    for names in SUBSETS[4:]:  # two, three and four legs
        legs = _legs(names, q)
        request_spy.clear()
        server = store.search(legs=legs, k=k, candidates=cand)
        # one hybrid_search on the server, one request per leg in it
        assert len(request_spy.hybrid_levels) == 1, names
        assert [s.anns_field for s in request_spy.searches] == list(names)
        request_spy.clear()
        client = store.search(SearchRequest(legs=legs, k=k, candidates=cand, fusion="client"))
        assert not request_spy.hybrid_levels and len(request_spy.searches) == len(names)
        assert_same_ranking(server, client, names)
        # ... and both are RRF of the single-leg rankings (rrf_k 20, the collection's)
        want = rrf_fuse([[h.id for h in single[n]] for n in names], k=20)[:k]
        assert [s for _, s in want] == pytest.approx([h.score for h in client], rel=1e-6)
        weights = [1.0 + i for i in range(len(names))]
        weighted = store.search(legs=_legs(names, q, weights), k=k, candidates=cand)
        by_leg = [[(h.id, h.score) for h in single[n]] for n in names]
        fused = weighted_fuse_n(by_leg, leg_weights(weights))[:k]
        assert [h.score for h in weighted] == pytest.approx([s for _, s in fused], abs=1e-6)
        assert_same_ranking(weighted, [Hit(i, s, s, Record(i, "t")) for i, s in fused], names)


def test_relevance_is_the_primary_fields(make_store: Callable[..., MilvusStore]) -> None:
    store, corpus = _store(make_store)
    q = _queries(corpus)
    by_id = dict(zip(corpus.ids, corpus.dense, strict=True))

    def cosine(ids: list[str]) -> list[float]:
        v = np.array([by_id[i] for i in ids])
        s = v @ q["dense"] / (np.linalg.norm(v, axis=1) * np.linalg.norm(q["dense"]))
        return list(np.clip(s, 0.0, 1.0))

    for names in (("dense", "title"), ("title", "sparse", "splade"), ("splade",)):
        for fusion in ("auto", "client"):
            req = SearchRequest(
                legs=_legs([n for n in names if n != "dense"], q)
                + ([Leg("dense")] if "dense" in names else []),
                vector=q["dense"],
                k=8,
                relevance=True,
                fusion=fusion,  # type: ignore[arg-type]
            )
            hits = store.search(req)
            assert [h.relevance for h in hits] == pytest.approx(
                cosine([h.id for h in hits]), abs=1e-5
            ), (names, fusion)
    title = store.search(legs=[Leg("title", q["title"])], k=5)  # its own IP, clipped
    assert [h.relevance for h in title] == pytest.approx(
        [
            min(1.0, max(0.0, float(corpus.title[corpus.ids.index(h.id)] @ q["title"])))
            for h in title
        ],
        abs=1e-5,
    )
    with pytest.raises(ConfigError, match="vector="):
        store.search(legs=_legs(["title", "splade"], q), relevance=True)
    # a store that names no vector field: its legs are checked once it has read the schema
    other = make_store(collection_name=store.name)
    request = other.prepare(SearchRequest(legs=_legs(["title", "splade"], q), k=5))
    assert [h.id for h in other.search(request)] == [
        h.id for h in store.search(legs=_legs(["title", "splade"], q), k=5)
    ]
    with pytest.raises(ConfigError, match="no vector field 'image'"):
        other.prepare(SearchRequest(legs=[Leg("image", [1.0])]))
    fused = store.search(legs=_legs(["title", "splade"], q), k=5)
    assert fused and not any(h.has_relevance for h in fused)


FILTERS: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"i": {"$lt": 30}}, lambda m: m["i"] < 30),
    ({"$not": {"i": 4}}, lambda m: m["i"] != 4),  # a client-side residual on Milvus Lite 2.5
    ({"tag": {"$exists": True}}, lambda m: "tag" in m),  # the same
]


@pytest.mark.parametrize(("flt", "admits"), FILTERS)
def test_filtered_legs(
    make_store: Callable[..., MilvusStore],
    flt: dict[str, Any],
    admits: Callable[[dict[str, Any]], bool],
) -> None:
    store, corpus = _store(make_store)
    q = _queries(corpus)
    keep = {r.id for r in corpus.records if admits(r.metadata)}
    for names in (("dense", "title"), ("title", "sparse", "splade"), tuple(NAMES)):
        legs = _legs(names, q)
        server = store.search(legs=legs, k=10, filter=flt, candidates=12)
        client = store.search(
            SearchRequest(legs=legs, k=10, filter=flt, candidates=12, fusion="client")
        )
        assert server and {h.id for h in server} <= keep, names
        assert_same_ranking(server, client, (names, flt))
        # the legs filtered exactly: RRF of each leg's filtered ranking
        single = [store.search(legs=[leg], k=12, filter=flt) for leg in legs]
        assert all({h.id for h in hits} <= keep for hits in single)
        want = rrf_fuse([[h.id for h in hits] for hits in single], k=20)[:10]
        assert [h.score for h in client] == pytest.approx([s for _, s in want], rel=1e-6)


def test_grouped_and_range_and_many(make_store: Callable[..., MilvusStore]) -> None:
    store, corpus = _store(make_store)
    q = _queries(corpus)
    legs = _legs(["title", "sparse", "splade"], q)
    grouped = store.search(legs=legs, k=4, group_by=True, group_size=2)
    deep = store.search(legs=legs, k=N, candidates=N)
    assert [h.id for h in grouped] == [h.id for h in group_hits(deep, Grouping("doc_id", 2), 4)]
    one = store.search(legs=[Leg("title", q["title"])], k=5, group_by="doc")
    assert len({h.record.doc_id for h in one}) == 5
    # range search of one dense leg, in its metric (IP: radius < score <= range_filter)
    scores = corpus.title @ q["title"]
    ordered = np.sort(scores)  # bounds halfway between neighbours: none sits on a bound
    lo, hi = (ordered[20] + ordered[21]) / 2, (ordered[40] + ordered[41]) / 2
    ranged = store.search(
        legs=[Leg("title", q["title"])], k=N, radius=float(lo), range_filter=float(hi)
    )
    inside = {corpus.ids[i] for i, s in enumerate(scores) if lo < s <= hi}
    assert {h.id for h in ranged} == inside
    # many at once, and fan-out (each request's legs take its own text)
    reqs = [SearchRequest(legs=legs, k=5), SearchRequest(legs=[Leg("splade", q["splade"])], k=5)]
    many = store.search_many(reqs)
    assert [[h.id for h in hits] for hits in many] == [
        [h.id for h in store.search(r)] for r in reqs
    ]
    template = SearchRequest(legs=[Leg("title", q["title"]), Leg("sparse")], k=5)
    texts = ["alpha beta", "gamma w2"]
    fan = store.fanout_search([template.for_query(t) for t in texts], k=5)
    lists = [store.search(template.for_query(t)) for t in texts]
    assert [h.id for h in fan] == [
        i for i, _ in rrf_fuse([[h.id for h in x] for x in lists], k=20)[:5]
    ]


def test_tenant_scoped_legs(make_store: Callable[..., MilvusStore]) -> None:
    store = make_store(vector_fields=FIELDS, tenant_field="tenant")
    for tenant in ("a", "b"):
        store.upsert(Corpus(seed=ord(tenant), tenant=tenant).records, tenant=tenant)
    store.flush()
    q = _queries(Corpus(seed=ord("a")))
    for tenant in ("a", "b"):
        view = store.for_tenant(tenant)
        for names in (("title",), ("dense", "splade"), tuple(NAMES)):
            hits = view.search(legs=_legs(names, q), k=10)
            assert len(hits) == 10 and all(h.id.startswith(tenant) for h in hits), names
            client = view.search(SearchRequest(legs=_legs(names, q), k=10, fusion="client"))
            assert_same_ranking(hits, client, (tenant, names))
    with pytest.raises(ConfigError, match="tenant"):
        store.search(legs=_legs(["title"], q))


SHAPES: dict[str, list[VectorField]] = {
    "dense_client_sparse": [FIELDS[0], FIELDS[3]],
    "sparse_only": [FIELDS[1], FIELDS[3]],
    "dense_only": [FIELDS[0], FIELDS[2]],
}
#: the modes each shape searches, and the error the others raise
MODES: dict[str, dict[str, str | None]] = {
    "dense_client_sparse": {
        "dense": None,
        "sparse": "no BM25 field: search its sparse field",
        "hybrid": "no BM25 field",
    },
    "sparse_only": {"dense": "no dense field", "sparse": None, "hybrid": "no dense field"},
    "dense_only": {"dense": None, "sparse": "no BM25 field: use mode='dense'", "hybrid": "BM25"},
}


@pytest.mark.parametrize("shape", SHAPES)
def test_other_shapes_in_every_mode_and_leg_combination(
    make_store: Callable[..., MilvusStore], shape: str
) -> None:
    fields = SHAPES[shape]
    names = [f.name for f in fields]
    corpus = Corpus()
    dense = any(f.is_dense for f in fields)
    store = make_store(vector_fields=fields)
    store.upsert(
        [
            Record(
                id=r.id,
                text=r.text,
                vector=r.vector if dense else None,
                vectors={n: v for n, v in r.vectors.items() if n in names},
                metadata=r.metadata,
                doc_id=r.doc_id,
            )
            for r in corpus.records
        ]
    )
    store.flush()
    q = _queries(corpus)
    for mode, error in MODES[shape].items():
        vector = q["dense"] if mode != "sparse" else None
        if error is None:
            hits = store.search(text="alpha gamma w1", vector=vector, mode=mode, k=5)
            assert len(hits) == 5, (shape, mode)
        else:
            with pytest.raises(ConfigError, match=error):
                store.search(text="alpha gamma w1", vector=vector, mode=mode, k=5)
    for n in range(1, len(names) + 1):
        for combo in itertools.combinations(names, n):
            legs = _legs(combo, q)
            hits = store.search(legs=legs, k=8, filter={"i": {"$lt": 40}})
            assert len(hits) == 8 and all(h.record.metadata["i"] < 40 for h in hits), combo
            if n == 1 and combo[0] != "sparse":
                assert [h.id for h in hits] == [
                    i for i in corpus.exact(combo[0], q[combo[0]], N) if int(i[1:]) < 40
                ][:8], combo
            client = store.search(
                SearchRequest(legs=legs, k=8, filter={"i": {"$lt": 40}}, fusion="client")
            )
            assert_same_ranking(hits, client, (shape, combo))

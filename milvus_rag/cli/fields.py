"""``milvus-rag search --fields A B ...``: a search over named vector fields (issue 25).

Dense fields get the query embedded with the CLI's encoder (``--model``; its dim must be
the field's), the BM25 field the query text; a client-side sparse field is refused (the
CLI has no sparse encoder). Several fields are fused: RRF, or with ``--weights`` weighted
fusion. Relevance is printed where it is defined (see README "Relevance"): the primary
dense field's similarity, so the query embedding is passed for it when the model fits it.

Example:
    >>> from milvus_rag.client.config import CollectionConfig
    >>> cfg = CollectionConfig(dim=2)
    >>> legs, vector, relevance = cli_legs(cfg, cli_fields(cfg, ["dense", "sparse"]), None, [1.0, 0.0])
    >>> [(leg.field, leg.query) for leg in legs], vector, relevance
    ([('dense', None), ('sparse', None)], [1.0, 0.0], True)
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from milvus_rag.cli.common import UsageError
from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.legs import default_fields
from milvus_rag.client.request import Leg
from milvus_rag.client.vector_fields import VectorField


def check_fields_args(args: argparse.Namespace) -> None:
    """``--fields`` / ``--weights`` / ``--mode`` agree (before anything is opened)."""
    if args.fields is None:
        if args.weights is not None:
            raise UsageError("--weights weigh the --fields searched: name them with --fields")
        return
    if args.mode is not None:
        raise UsageError(
            "--fields names the vector fields searched: leave out --mode (a mode is a "
            "shorthand for the default fields)"
        )
    if not all(f.strip() for f in args.fields):
        raise UsageError("--fields: a field name is empty")
    if args.weights is not None and len(args.weights) != len(args.fields):
        raise UsageError(
            f"--weights gives {len(args.weights)} weights for {len(args.fields)} --fields: "
            "give one weight per field, in order"
        )


def cli_fields(cfg: CollectionConfig, names: Sequence[str]) -> tuple[VectorField, ...]:
    """The fields named, each one the CLI can search (ConfigError for an unknown one)."""
    fields = default_fields(cfg, "hybrid", list(names))
    for f in fields:
        if f.is_client_sparse:
            raise UsageError(
                f"--fields {f.name}: a sparse field filled by a client-side encoder, and the "
                "CLI has no sparse encoder: search it from Python (Leg(field, {index: weight}))"
            )
    return fields


def cli_legs(
    cfg: CollectionConfig,
    fields: Sequence[VectorField],
    weights: Sequence[float] | None,
    embedding: Sequence[float] | None,
    model: str = "the model",
) -> tuple[tuple[Leg, ...], list[float] | None, bool]:
    """The legs of the search, the primary dense field's query vector (for relevance), and
    whether relevance is defined (printed) for it."""
    vector = None if embedding is None else [float(x) for x in embedding]
    dims = {f.name: f.dim for f in fields if f.is_dense}
    for name, dim in dims.items():
        if vector is None:
            raise UsageError(f"--fields {name}: a dense field needs the query embedded")
        if dim is not None and dim != len(vector):
            raise UsageError(
                f"--fields {name}: the field's dim is {dim} and {model} embeds {len(vector)} "
                "dims: pass the --model that filled it"
            )
    primary = cfg.vector_field if cfg.enable_dense else None
    fits = primary is not None and vector is not None and cfg.dim in (None, len(vector))
    legs = tuple(
        Leg(
            f.name,
            None if f.is_bm25 or f.name == primary else vector,
            weight=None if weights is None else weights[i],
        )
        for i, f in enumerate(fields)
    )
    return legs, vector if fits else None, bool(fits or len(fields) == 1)

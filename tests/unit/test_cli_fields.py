"""``milvus-rag search --fields``: the flags checked, the fields the CLI can search, and the
legs it builds (issue 25). Pure: the command itself runs in tests/cli/test_cli_fields.py."""

from __future__ import annotations

import argparse

import pytest

from milvus_rag import ConfigError
from milvus_rag.cli.common import UsageError
from milvus_rag.cli.fields import check_fields_args, cli_fields, cli_legs
from milvus_rag.cli.parser import build_parser
from milvus_rag.client.config import CollectionConfig
from milvus_rag.client.vector_fields import VectorField

CFG = CollectionConfig(
    dim=2,
    extra_vector_fields=(VectorField.dense("title", dim=2), VectorField.sparse("splade")),
)


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["search", "q", *argv])


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--fields", "title", "--mode", "dense"], "leave out --mode"),
        (["--weights", "1"], "name them with --fields"),
        (["--fields", "title", "sparse", "--weights", "1"], "1 weights for 2 --fields"),
        (["--fields", " "], "empty"),
    ],
)
def test_fields_flags_that_disagree_are_refused(argv: list[str], match: str) -> None:
    with pytest.raises(UsageError, match=match):
        check_fields_args(_args(*argv))


def test_fields_flags() -> None:
    args = _args("--fields", "title", "--fields", "sparse", "--weights", "0.7", "0.3")
    check_fields_args(args)
    assert args.fields == ["title", "sparse"] and args.weights == [0.7, 0.3]
    assert args.mode is None  # hybrid unless --fields
    check_fields_args(_args())


def test_cli_fields_refuses_what_it_cannot_embed() -> None:
    assert [f.name for f in cli_fields(CFG, ["sparse", "title"])] == ["sparse", "title"]
    with pytest.raises(UsageError, match="no sparse encoder"):
        cli_fields(CFG, ["title", "splade"])
    with pytest.raises(ConfigError, match="no vector field 'image'"):
        cli_fields(CFG, ["image"])


def test_cli_legs() -> None:
    fields = cli_fields(CFG, ["title", "sparse"])
    legs, vector, relevance = cli_legs(CFG, fields, [2.0, 1.0], [0.6, 0.8])
    assert [(leg.field, leg.query, leg.weight) for leg in legs] == [
        ("title", [pytest.approx(0.6), pytest.approx(0.8)], 2.0),
        ("sparse", None, 1.0),  # takes the text
    ]
    assert vector == [0.6, 0.8] and relevance  # the primary field's query, for relevance
    with pytest.raises(UsageError, match="field's dim is 2 and the model embeds 3"):
        cli_legs(CFG, fields, None, [1.0, 0.0, 0.0])
    # BM25 alone: no embedding, relevance from BM25
    bm25 = cli_legs(CFG, cli_fields(CFG, ["sparse"]), None, None)
    assert [leg.field for leg in bm25[0]] == ["sparse"] and bm25[1:] == (None, True)
    # a model that does not fit the primary field: no relevance for fused legs
    other = CollectionConfig(dim=3, extra_vector_fields=(VectorField.dense("title", dim=2),))
    fused = cli_legs(other, cli_fields(other, ["title", "sparse"]), None, [0.6, 0.8])
    assert fused[1:] == (None, False)

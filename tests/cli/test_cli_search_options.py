"""``milvus-rag search`` with the per-call options: --search-params, --consistency,
--timeout, --radius, --range-filter (the hashing fake encoder, a Milvus Lite file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import env, run  # noqa: F401  (fixture)
from tests.spies import RequestSpy

pytestmark = pytest.mark.integration


def test_search_options_reach_the_request(
    env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    request_spy: RequestSpy,
) -> None:
    assert run(capsys, "ingest", "docs")[0] == 0
    request_spy.clear()
    code, out, err = run(
        capsys,
        "search",
        "dogs bark",
        "--mode",
        "dense",
        "--json",
        "--search-params",
        '{"ef": 48}',
        "--consistency",
        "eventually",
        "--timeout",
        "12",
        "--radius",
        "0.3",
        "--range-filter",
        "1.0",
    )
    assert code == 0, err
    hits = json.loads(out)
    assert hits and all(0.3 < h["score"] <= 1.0 + 1e-6 for h in hits)
    sent = request_spy.dense()[0]
    assert sent.params == {"ef": 48, "radius": 0.3, "range_filter": 1.0}
    assert sent.consistency_level == "Eventually" and request_spy.timeouts == [12.0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--search-params", "{ef: 1}"], "not valid JSON"),
        (["--search-params", "[1]"], "JSON object"),
        (["--search-params", '{"metric_type": "L2"}'], "metric="),
        (["--radius", "0.5"], "mode='dense'"),
        (["--mode", "dense", "--radius", "0.9", "--range-filter", "0.1"], "radius must be"),
        (["--timeout", "0"], "timeout"),
    ],
)
def test_bad_search_options_fail_with_one_line(
    env: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    code, _, err = run(capsys, "search", "dogs", *args)
    assert code != 0 and message in err and len(err.strip().splitlines()) == 1

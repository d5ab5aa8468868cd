#!/usr/bin/env bash
# Run langchain-milvus's own integration suite (tests/integration_tests/vectorstores) against a
# Milvus server URI, twice: as written (langchain-milvus itself: the baseline) and with only the
# `Milvus` import rewritten to milvus-rag's compatible front. Prints and saves a markdown table.
#
# Usage:
#   benchmarks/compat/langchain_milvus_suite.sh SUITE URI [PYTHON] [OUT]
#     SUITE   langchain-milvus's `libs/milvus` folder (a checkout of langchain-ai/langchain-milvus)
#     URI     a Milvus server, e.g. http://127.0.0.1:19541 (a Milvus Lite 3 server:
#             python -m milvus_lite server --data-dir D --host 127.0.0.1 --port 19541)
#     PYTHON  an interpreter with langchain-milvus 0.4, pytest 8, pytest-asyncio 0.21 and
#             milvus-rag's dependencies (default: python3)
#     OUT     where the table and the junit files go (default benchmarks/results/compat)
#   Extra pytest arguments: PYTEST_ARGS="-k bm25" benchmarks/compat/langchain_milvus_suite.sh ...
#   The suite's revision in the table's header: SUITE_REV="langchain-ai/langchain-milvus@b7720c0"
#   One side only (the other's junit file from an earlier run is reused): SIDES=ours
#   An interpreter without pytest (make compat-venvs installs none): install pytest 8 and
#   pytest-asyncio 0.21 elsewhere (pip install --target DIR "pytest==8.3.5"
#   "pytest-asyncio==0.21.2") and pass EXTRA_PYTHONPATH=DIR
#
# The suite is copied to a temporary folder; nothing of it enters this repository. The only
# edits: TEST_URI (the suite hard-codes localhost:19530) and, for milvus-rag, the one line
#   from langchain_milvus.vectorstores import Milvus -> from milvus_rag.integrations.langchain import Milvus
# (BM25BuiltInFunction stays langchain-milvus's own: milvus-rag accepts it by duck typing).
set -euo pipefail

SUITE=${1:?usage: $0 SUITE URI [PYTHON] [OUT]}
URI=${2:?usage: $0 SUITE URI [PYTHON] [OUT]}
PY=${3:-python3}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${4:-$REPO/benchmarks/results/compat}
mkdir -p "$OUT"
[ -d "$SUITE/tests/integration_tests/vectorstores" ] || {
    echo "no tests/integration_tests/vectorstores under $SUITE" >&2
    exit 2
}

WORK=$(mktemp -d /tmp/lc-suite.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

prepare() { # $1: target folder, $2: "theirs" or "ours"
    mkdir -p "$1"
    cp -r "$SUITE/tests" "$1/tests"
    find "$1/tests" -name __pycache__ -prune -exec rm -rf {} +
    grep -rl 'localhost:19530' "$1/tests" | xargs -r sed -i "s#http://localhost:19530#$URI#g"
    if [ "$2" = ours ]; then
        grep -rl 'from langchain_milvus.vectorstores import Milvus' "$1/tests" | xargs -r sed -i \
            's#^from langchain_milvus.vectorstores import Milvus$#from milvus_rag.integrations.langchain import Milvus#'
    fi
    cat >"$1/pytest.ini" <<'EOF'
[pytest]
asyncio_mode = auto
markers =
    requires: requires a library
    requires_apikey: requires an API key configured in the Milvus server
    compile: placeholder
EOF
}

run() { # $1: "theirs" or "ours"
    local dir="$WORK/$1"
    prepare "$dir" "$1"
    local pp=""
    [ "$1" = ours ] && pp="$REPO"
    pp="$pp${EXTRA_PYTHONPATH:+${pp:+:}$EXTRA_PYTHONPATH}"
    (cd "$dir" && PYTHONPATH="$pp" "$PY" -m pytest tests/integration_tests/vectorstores -q \
        -p no:cacheprovider --junitxml="$OUT/langchain_suite_$1.xml" -o junit_family=xunit1 \
        ${PYTEST_ARGS:-} >"$OUT/langchain_suite_$1.log" 2>&1) || true
    tail -3 "$OUT/langchain_suite_$1.log"
}

for side in ${SIDES:-theirs ours}; do
    echo "== $side against $URI"
    run "$side"
done

"$PY" - "$OUT" "$URI" "${SUITE_REV:-$SUITE}" <<'EOF'
import datetime
import sys
from importlib.metadata import version
import xml.etree.ElementTree as ET
from pathlib import Path

out = Path(sys.argv[1])


def outcomes(side: str) -> dict[str, tuple[str, str]]:
    res = {}
    for case in ET.parse(out / f"langchain_suite_{side}.xml").iter("testcase"):
        name = f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"
        status, why = "pass", ""
        for tag in ("failure", "error", "skipped"):
            el = case.find(tag)
            if el is not None:
                status = "skip" if tag == "skipped" else "fail"
                why = (el.get("message") or "").splitlines()[0][:140] if el.get("message") else ""
                break
        res[name] = (status, why)
    return res


theirs, ours = outcomes("theirs"), outcomes("ours")
names = sorted(set(theirs) | set(ours))
count = lambda d, s: sum(1 for v in d.values() if v[0] == s)  # noqa: E731
lines = [
    "| side | passed | failed | skipped |",
    "|---|---|---|---|",
    f"| langchain-milvus | {count(theirs, 'pass')} | {count(theirs, 'fail')} | {count(theirs, 'skip')} |",
    f"| milvus-rag (import changed) | {count(ours, 'pass')} | {count(ours, 'fail')} | {count(ours, 'skip')} |",
    "",
    "| test | langchain-milvus | milvus-rag | milvus-rag failure |",
    "|---|---|---|---|",
]
for n in names:
    t, o = theirs.get(n, ("-", "")), ours.get(n, ("-", ""))
    why = o[1].replace("|", "\\|") if o[0] == "fail" else ""
    lines.append(f"| {n} | {t[0]} | {o[0]} | {why} |")
both = sum(1 for n in names if theirs.get(n, ("",))[0] == "pass")
ok = sum(1 for n in names if theirs.get(n, ("",))[0] == "pass" and ours.get(n, ("",))[0] == "pass")
lines.insert(0, f"Of the {both} tests langchain-milvus passes, milvus-rag passes {ok}.\n")
lines.insert(
    0,
    f"langchain-milvus's integration suite (tests/integration_tests/vectorstores of "
    f"{sys.argv[3]}) against {sys.argv[2]}; langchain-milvus {version('langchain-milvus')}, "
    f"pymilvus {version('pymilvus')}; {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC.\n",
)
text = "\n".join(lines) + "\n"
(out / "langchain_suite.md").write_text(text)
print(text)
EOF

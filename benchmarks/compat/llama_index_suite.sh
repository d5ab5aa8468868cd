#!/usr/bin/env bash
# Run llama-index-vector-stores-milvus's own tests (the `tests` folder of
# llama-index-integrations/vector_stores/llama-index-vector-stores-milvus in run-llama/llama_index)
# twice: as written (llama-index-vector-stores-milvus itself: the baseline) and with only the
# `MilvusVectorStore` import rewritten to milvus-rag's LlamaIndex store. Prints and saves a
# markdown table: per test, theirs / ours / our failure, and whether the test uses only the
# library's public API (tests that patch pymilvus classes or call private methods are marked).
#
# Usage:
#   benchmarks/compat/llama_index_suite.sh SUITE [PYTHON] [OUT]
#     SUITE   a folder of their test files (test_*.py, conftest.py), or a folder of such
#             folders, one per version of the suite (e.g. integration/ and newest/: each is a
#             suite of its own, named by its folder)
#     PYTHON  an interpreter with llama-index-vector-stores-milvus 1.2 and milvus-rag's
#             dependencies (default: python3), e.g. .venv-compat/llamaindex/bin/python
#     OUT     where the table, logs and junit files go (default benchmarks/results/compat)
#   PYTEST_SITE=DIR: a folder put on PYTHONPATH holding pytest 8 and pytest-asyncio 0.21 (the
#     suite's async tests use pytest-asyncio's `event_loop` fixture, gone in 1.0) when PYTHON
#     has none: pip install --target DIR pytest==8.3.5 pytest-asyncio==0.21.2
#   Extra pytest arguments: PYTEST_ARGS="-k hybrid" benchmarks/compat/llama_index_suite.sh ...
#   The suite's revision in the table's header: SUITE_REV="run-llama/llama_index@<commit>"
#   One side only (the other's junit files from an earlier run are reused): SIDES=ours
#
# The suite is copied to a temporary folder (each side its own: the tests write Milvus Lite
# files in their working folder); nothing of it enters this repository. The only edit, for
# milvus-rag:
#   from llama_index.vector_stores.milvus import MilvusVectorStore
#     -> from milvus_rag.integrations.llama_index import MilvusVectorStore
# (their other imports, e.g. BaseSparseEmbeddingFunction, stay theirs: milvus-rag takes them by
# duck typing). Each test file runs in its own pytest process: test_milvus.py installs a stub
# `pymilvus` module when none is imported yet, which would replace the real one for every
# file collected after it.
set -euo pipefail

SUITE=${1:?usage: $0 SUITE [PYTHON] [OUT]}
PY=${2:-python3}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${3:-$REPO/benchmarks/results/compat}
SUITE=$(cd "$SUITE" && pwd)
mkdir -p "$OUT"

suites=()
if compgen -G "$SUITE/test_*.py" >/dev/null; then
    suites=("$SUITE")
else
    for d in "$SUITE"/*/; do
        compgen -G "$d/test_*.py" >/dev/null && suites+=("${d%/}")
    done
fi
[ ${#suites[@]} -gt 0 ] || {
    echo "no test_*.py in $SUITE or its folders" >&2
    exit 2
}

WORK=$(mktemp -d /tmp/li-suite.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
JUNIT="$OUT"  # junit files and logs: llama_index_suite__SUITE__FILE__SIDE.{xml,log}

prepare() { # $1: suite folder, $2: target folder, $3: "theirs" or "ours"
    mkdir -p "$2"
    cp "$1"/*.py "$2"/
    if [ "$3" = ours ]; then
        sed -i 's#^from llama_index.vector_stores.milvus import MilvusVectorStore$#from milvus_rag.integrations.llama_index import MilvusVectorStore#' \
            "$2"/*.py
    fi
    printf '[pytest]\nasyncio_mode = strict\n' >"$2/pytest.ini"
}

run() { # $1: "theirs" or "ours"
    local pp="${PYTEST_SITE:-}"
    [ "$1" = ours ] && pp="$REPO${pp:+:$pp}"
    for s in "${suites[@]}"; do
        local name dir
        name=$(basename "$s")
        dir="$WORK/$1/$name"
        prepare "$s" "$dir" "$1"
        for f in "$dir"/test_*.py; do
            local base
            base=$(basename "$f" .py)
            (cd "$dir" && PYTHONPATH="$pp" "$PY" -m pytest "$(basename "$f")" -q \
                -p no:cacheprovider --junitxml="$JUNIT/llama_index_suite__${name}__${base}__$1.xml" \
                -o junit_family=xunit1 ${PYTEST_ARGS:-} >"$JUNIT/llama_index_suite__${name}__${base}__$1.log" 2>&1) || true
            echo "$1 $name/$base: $(tail -1 "$JUNIT/llama_index_suite__${name}__${base}__$1.log")"
        done
    done
}

for side in ${SIDES:-theirs ours}; do
    run "$side"
done

"$PY" - "$OUT" "$JUNIT" "${SUITE_REV:-$SUITE}" "${suites[@]}" <<'EOF'
import ast
import datetime
import sys
import xml.etree.ElementTree as ET
from importlib.metadata import version
from pathlib import Path

out, junit, rev = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
suites = [Path(p) for p in sys.argv[4:]]
MOCKS = {"patch", "MagicMock", "AsyncMock", "_patched_milvus"}


def kinds(path: Path) -> dict[str, str]:
    """Per test function: "public", "patches" (patches or mocks pymilvus, itself, through a
    fixture of the file, or the whole file: a stub `pymilvus` module) or "private" (calls a
    private function or method of the library)."""
    source = path.read_text()
    tree = ast.parse(source)
    stub = 'sys.modules["pymilvus"]' in source
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}

    def uses(node: ast.AST, seen: set[str]) -> set[str]:
        found: set[str] = set()
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in MOCKS:
                found.add("patches")
            if isinstance(sub, ast.Name) and sub.id.startswith("_") and not sub.id.startswith("__"):
                found.add("private")
            if isinstance(sub, ast.Attribute) and sub.attr.startswith("_") and not sub.attr.startswith("__"):
                found.add("private")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for arg in node.args.args:
                if arg.arg in funcs and arg.arg not in seen:
                    found |= uses(funcs[arg.arg], seen | {arg.arg})
        return found

    res = {}
    for name, fn in funcs.items():
        if name.startswith("test_"):
            u = uses(fn, {name})
            patches = stub or "patches" in u
            res[name] = "patches" if patches else "private" if "private" in u else "public"
    return res


def outcomes(side: str) -> dict[str, tuple[str, str]]:
    res = {}
    for s in suites:
        for f in sorted(s.glob("test_*.py")):
            xml = junit / f"llama_index_suite__{s.name}__{f.stem}__{side}.xml"
            if not xml.exists():
                continue
            cases = list(ET.parse(xml).iter("testcase"))
            if [c.get("name") for c in cases] == [f.stem]:  # the file failed to import
                el = next(iter(cases[0]), None)
                lines = [ln for ln in ((el.text or "") if el is not None else "").splitlines() if ln.strip()]
                why = "the file failed to import: " + (lines[-1].strip()[:100] if lines else "")
                for t in kinds(f):
                    res[f"{s.name}/{f.name}::{t}"] = ("fail", why)
                continue
            for case in cases:
                status, why = "pass", ""
                for tag in ("failure", "error", "skipped"):
                    el = case.find(tag)
                    if el is not None:
                        status = "skip" if tag == "skipped" else "fail"
                        msg = el.get("message") or ""
                        why = msg.splitlines()[0][:140] if msg else ""
                        break
                key = f"{s.name}/{f.name}::{case.get('name')}"
                if status == "fail" and key in res and res[key][0] == "pass":
                    status = "error-at-teardown"
                res[key] = (status, why)
    return res


kind = {f"{s.name}/{f.name}::{t}": k for s in suites for f in sorted(s.glob("test_*.py")) for t, k in kinds(f).items()}
theirs, ours = outcomes("theirs"), outcomes("ours")
names = sorted(set(theirs) | set(ours), key=lambda n: (n.split("::")[0], n))
passed = lambda d, n: d.get(n, ("",))[0] == "pass"  # noqa: E731
lines = []
for label, keep in (("use only its public API", "public"), ("patch pymilvus classes or call private methods", None)):
    sel = [n for n in names if (kind.get(n, "public") == "public") == (keep == "public")]
    base = [n for n in sel if passed(theirs, n)]
    ok = [n for n in base if passed(ours, n)]
    lines.append(
        f"- tests that {label}: {len(sel)}; llama-index-vector-stores-milvus passes {len(base)}, "
        f"milvus-rag passes {len(ok)} of those."
    )
lines += [
    "",
    "| test | uses | llama-index-vector-stores-milvus | milvus-rag | milvus-rag failure |",
    "|---|---|---|---|---|",
]
for n in names:
    t, o = theirs.get(n, ("-", "")), ours.get(n, ("-", ""))
    why = o[1].replace("|", "\\|") if o[0] != "pass" else ""
    lines.append(f"| {n} | {kind.get(n, 'public')} | {t[0]} | {o[0]} | {why} |")
head = (
    f"llama-index-vector-stores-milvus's own tests ({rev}; suites: "
    f"{', '.join(s.name for s in suites)}), each file in its own pytest process, on Milvus Lite "
    f"files; llama-index-vector-stores-milvus {version('llama-index-vector-stores-milvus')}, "
    f"pymilvus {version('pymilvus')}, milvus-lite {version('milvus-lite')}; "
    f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC. \"uses\": public (its public "
    "API only), patches (patches or mocks pymilvus's clients, itself or through a fixture), "
    "private (calls a private function or method of the library).\n"
)
text = head + "\n" + "\n".join(lines) + "\n"
(out / "llama_index_suite.md").write_text(text)
print(text)
EOF

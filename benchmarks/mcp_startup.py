"""How soon ``milvus-rag mcp`` (stdio) answers a client, from spawn: ``initialize``, a listed
tool set, and the first call that needs the embedding model; next to the floor no server can
beat, a Python process that only imports the MCP SDK. Rounds are interleaved, so every
column sees the same machine load.

    python benchmarks/mcp_startup.py [--rounds 5] [--out benchmarks/results]

Writes ``mcp_startup.md`` and ``mcp_startup.png`` to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if not k.startswith("MILVUS_")}
ENV.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")


def process_seconds(code: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=ENV, check=True, timeout=300)
    return time.perf_counter() - t0


async def server_round(tmp: Path, i: int) -> tuple[float, float, float]:
    """Seconds from spawn to: initialize answered, tools listed, a dense search answered."""
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "milvus_rag.cli", "mcp", "--uri", str(tmp / f"s{i}.db")],
        env=ENV,
        cwd=str(tmp),
    )
    with open(os.devnull, "w") as devnull:
        t0 = time.perf_counter()
        async with stdio_client(params, errlog=devnull) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=600) as session:
                await session.initialize()
                t_init = time.perf_counter() - t0
                await session.list_tools()
                t_list = time.perf_counter() - t0
                docs = [{"text": "Milvus is a vector database."}]
                r = await session.call_tool("add_documents", {"documents": docs})
                assert not r.is_error, r.content
                t_model = time.perf_counter() - t0
    return t_init, t_list, t_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    args = ap.parse_args()
    cols: dict[str, list[float]] = {
        "python -c pass": [],
        "python: import the MCP SDK": [],
        "server: initialize": [],
        "server: tools listed": [],
        "server: first write (model loaded)": [],
    }
    with tempfile.TemporaryDirectory() as d:
        for i in range(args.rounds):
            cols["python -c pass"].append(process_seconds("pass"))
            cols["python: import the MCP SDK"].append(
                process_seconds("import mcp.server.mcpserver")
            )
            t_init, t_list, t_model = anyio.run(server_round, Path(d), i)
            cols["server: initialize"].append(t_init)
            cols["server: tools listed"].append(t_list)
            cols["server: first write (model loaded)"].append(t_model)
            print(f"round {i + 1}: listed {t_list:.2f} s, model ready {t_model:.2f} s", flush=True)
    load = os.getloadavg()[0]
    lines = [
        "# MCP server start-up (stdio)",
        "",
        f"Seconds from spawning the process, median of {args.rounds} interleaved rounds "
        f"(min - max). {os.cpu_count()} CPUs, 1-minute load average {load:.1f} at the end "
        "(a shared machine: compare the rows, not the absolute numbers).",
        "",
        "| from spawn to | median s | min - max s |",
        "|---|---|---|",
    ]
    for name, values in cols.items():
        lines.append(
            f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} - {max(values):.2f} |"
        )
    floor = statistics.median(cols["python: import the MCP SDK"])
    listed = statistics.median(cols["server: tools listed"])
    lines += [
        "",
        f"Tools listed / SDK import alone: {listed / floor:.2f}x. The model loads in a "
        "background thread; only the first call that needs it waits.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "mcp_startup.md").write_text(text + "\n![start-up](mcp_startup.png)\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    names = list(cols)
    ax.barh(names, [statistics.median(v) for v in cols.values()], color="#4a7ebb")
    ax.invert_yaxis()
    ax.set_xlabel("seconds from spawn (median)")
    ax.set_title("milvus-rag mcp start-up, stdio")
    fig.tight_layout()
    fig.savefig(out / "mcp_startup.png", dpi=120)
    print(f"wrote {out / 'mcp_startup.md'} and mcp_startup.png")


if __name__ == "__main__":
    main()

"""Soak: a bounded mixed read / write / delete / server-restart run against a Milvus Lite 3
server, then an exact check of what the store holds. ``make soak`` (``SOAK_ARGS='--minutes 2'``).

One writer upserts overlapping batches and deletes a few ids now and then; several readers
search (dense, BM25, hybrid); every ``--restart-every`` seconds the server is killed (SIGKILL)
or stopped (SIGTERM), alternately, and started again on the same port and data directory.
The writer keeps a ledger per id: present (acknowledged upsert, or listed in
``BackendError.written_ids``), absent (acknowledged delete) or unknown (its call failed).
At the end every present id must be there, no absent id may be, and ``count()`` must equal
the number of rows listed (no duplicates).

Known core problem handled here so the run stays meaningful: after a restart the server has
the collection released and the store does not reload it (RELIABILITY.md, problem 1); the soak
counts those errors and reloads the collection through pymilvus.

Prints a summary; exits 1 if the final check fails. Everything stops by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from milvus_rag import AsyncMilvusStore, BackendError, MilvusRAGError, Record
from tests.backends import LiteServer

DIM = 32


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


class Soak:
    def __init__(self, args: argparse.Namespace, server: LiteServer) -> None:
        self.args = args
        self.server = server
        self.rng = random.Random(args.seed)
        self.np_rng = np.random.default_rng(args.seed)
        self.store = AsyncMilvusStore(
            server.uri,
            collection_name="soak",
            dim=DIM,
            timeout=30.0,
            connect_timeout=3.0,
            retries=args.retries,
            retry_backoff=0.25,
            auto_flush_rows=None,
        )
        self.deadline = time.monotonic() + args.minutes * 60
        self.ledger: dict[str, str] = {}
        self.history: dict[str, list[str]] = {}  # last events per id, to explain a miss
        self.errors: Counter[str] = Counter()
        self.ops: Counter[str] = Counter()
        self.lat: dict[str, list[float]] = {"upsert": [], "search": [], "delete": []}
        self.restarts: list[dict[str, Any]] = []
        self.released_reloads = 0
        self.written_ids_reports: list[int] = []
        self.rss: list[float] = []
        self.down = asyncio.Event()

    def record(self, i: int) -> Record:
        vec = self.np_rng.normal(size=DIM).astype(np.float32)
        return Record(
            id=f"doc-{i}",
            text=f"soak row {i} topic{i % 37} word{i % 101}",
            vector=vec,
            metadata={"i": i, "bucket": i % 10},
        )

    def _set(self, rid: str, state: str, what: str) -> None:
        self.ledger[rid] = state
        events = self.history.setdefault(rid, [])
        events.append(f"{what}@{len(self.restarts)}r")
        del events[:-6]

    def _note_error(self, where: str, e: BaseException) -> None:
        self.errors[f"{where}: {type(e).__name__}"] += 1
        if "released" in str(e):
            self.errors[f"{where}: released after restart (problem 1)"] += 1

    async def _reload_if_released(self, e: BaseException) -> None:
        if "released" not in str(e):
            return
        from pymilvus import MilvusClient

        def load() -> None:
            client = MilvusClient(uri=self.server.uri)
            try:
                client.load_collection(self.store.name)
            finally:
                client.close()

        try:
            await asyncio.to_thread(load)
            self.released_reloads += 1
        except Exception:
            pass

    async def writer(self) -> None:
        space = self.args.id_space
        while time.monotonic() < self.deadline:
            if self.rng.random() < 0.1 and self.ledger:
                ids = self.rng.sample(sorted(self.ledger), min(20, len(self.ledger)))
                t0 = time.monotonic()
                try:
                    await self.store.delete(ids)
                    self.lat["delete"].append(time.monotonic() - t0)
                    self.ops["delete"] += 1
                    for i in ids:
                        self._set(i, "absent", "delete-ok")
                except MilvusRAGError as e:
                    self._note_error("delete", e)
                    for i in ids:
                        self._set(i, "unknown", "delete-failed")
                    await self._reload_if_released(e)
                    await asyncio.sleep(0.2)
                continue
            start = self.rng.randrange(space)
            batch = [self.record((start + k) % space) for k in range(self.args.batch)]
            t0 = time.monotonic()
            try:
                await self.store.upsert(batch)
                self.lat["upsert"].append(time.monotonic() - t0)
                self.ops["upsert"] += 1
                self.ops["rows"] += len(batch)
                for r in batch:
                    self._set(r.id, "present", "upsert-ok")
                if self.ops["upsert"] % 25 == 0:  # seal, as bulk ingestion does
                    await self.store.flush()
                    self.ops["flush"] += 1
            except MilvusRAGError as e:
                self._note_error("upsert", e)
                written = set(e.written_ids) if isinstance(e, BackendError) else set()
                if written:
                    self.written_ids_reports.append(len(written))
                for r in batch:
                    if r.id in written:
                        self._set(r.id, "present", "upsert-written")
                    else:
                        self._set(r.id, "unknown", "upsert-failed")
                await self._reload_if_released(e)
                await asyncio.sleep(0.2)

    async def reader(self, n: int) -> None:
        modes = ["dense", "sparse", "hybrid"]
        while time.monotonic() < self.deadline:
            mode = modes[self.rng.randrange(3)]
            t0 = time.monotonic()
            try:
                await self.store.search(
                    text=f"topic{self.rng.randrange(37)} word{self.rng.randrange(101)}",
                    vector=self.np_rng.normal(size=DIM),
                    k=5,
                    mode=mode,
                    filter={"bucket": {"$in": [1, 2, 3]}} if n % 2 else None,
                )
                self.lat["search"].append(time.monotonic() - t0)
                self.ops["search"] += 1
            except MilvusRAGError as e:
                self._note_error("search", e)
                await self._reload_if_released(e)
                await asyncio.sleep(0.2)

    async def restarter(self) -> None:
        kill = True
        while True:
            if self.args.restart_every > self.deadline - time.monotonic() - 5:
                return  # no restart in the last seconds (or none at all)
            await asyncio.sleep(self.args.restart_every)
            how = "kill" if kill else "stop"
            kill = not kill
            t0 = time.monotonic()
            await asyncio.to_thread(self.server.kill if how == "kill" else self.server.stop)
            await asyncio.sleep(self.rng.uniform(0.5, 2.0))
            await asyncio.to_thread(self.server.start)
            up = time.monotonic() - t0
            recovered = await self._first_success()
            self.restarts.append(
                {"how": how, "down_s": round(up, 2), "first_ok_after_start_s": round(recovered, 2)}
            )

    async def _first_success(self) -> float:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 60:
            try:
                await self.store.count()
                return time.monotonic() - t0
            except MilvusRAGError:
                await asyncio.sleep(0.1)
        return float("inf")

    async def sampler(self) -> None:
        while time.monotonic() < self.deadline:
            with open("/proc/self/statm") as f:  # Linux; psutil is not a dependency
                self.rss.append(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20)
            await asyncio.sleep(5)

    async def verify(self) -> dict[str, Any]:
        await self._first_success()
        ids = [f"doc-{i}" for i in range(self.args.id_space)]
        for _ in range(5):
            try:
                await self.store.flush()
                got = {r.id for r in await self.store.get(ids)}
                count = await self.store.count()
                break
            except MilvusRAGError as e:
                await self._reload_if_released(e)
                await asyncio.sleep(1)
        else:
            return {"ok": False, "reason": "could not read the collection back"}
        present = {i for i, s in self.ledger.items() if s == "present"}
        absent = {i for i, s in self.ledger.items() if s == "absent"}
        unknown = {i for i, s in self.ledger.items() if s == "unknown"}
        missing = present - got
        resurrected = absent & got
        never = got - set(self.ledger)
        ok = not missing and not resurrected and not never and count == len(got)
        return {
            "ok": ok,
            "rows_listed": len(got),
            "count": count,
            "present_expected": len(present),
            "absent_expected": len(absent),
            "unknown": len(unknown),
            "unknown_found": len(unknown & got),
            "missing_acknowledged": len(missing),
            "deleted_but_found": len(resurrected),
            "never_written_but_found": len(never),
            "history_of_missing": {i: self.history.get(i, []) for i in sorted(missing)[:10]},
        }

    async def run(self) -> dict[str, Any]:
        await self.store.drop()
        await self.store.ensure_collection()
        t0 = time.monotonic()
        tasks = [asyncio.ensure_future(self.writer())]
        tasks += [asyncio.ensure_future(self.reader(n)) for n in range(self.args.readers)]
        tasks += [asyncio.ensure_future(self.restarter()), asyncio.ensure_future(self.sampler())]
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - t0
        check = await self.verify()
        await self.store.drop()
        await self.store.aclose()
        return {
            "minutes": round(elapsed / 60, 2),
            "ops": dict(self.ops),
            "errors": dict(self.errors),
            "restarts": self.restarts,
            "released_reloads_problem_1": self.released_reloads,
            "written_ids_reports": self.written_ids_reports,
            "latency_ms": {
                k: {"p50": round(_pct(v, 50), 1), "p99": round(_pct(v, 99), 1), "n": len(v)}
                for k, v in self.lat.items()
            },
            "rss_mb": {
                "first": round(self.rss[0], 1) if self.rss else None,
                "last": round(self.rss[-1], 1) if self.rss else None,
                "max": round(max(self.rss), 1) if self.rss else None,
            },
            "final_check": check,
        }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="run length (default 10)")
    p.add_argument("--restart-every", type=float, default=45.0, help="seconds between restarts")
    p.add_argument("--readers", type=int, default=4)
    p.add_argument("--batch", type=int, default=200)
    p.add_argument("--id-space", type=int, default=20000, help="distinct ids (overlapping upserts)")
    p.add_argument("--retries", type=int, default=6)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        server = LiteServer(Path(tmp) / "data").start()
        try:
            summary = asyncio.run(
                asyncio.wait_for(Soak(args, server).run(), timeout=args.minutes * 60 + 300)
            )
        finally:
            server.stop()
    print(json.dumps(summary, indent=2))
    ok = bool(summary["final_check"].get("ok"))
    print("SOAK", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

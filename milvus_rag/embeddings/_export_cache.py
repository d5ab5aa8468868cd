"""The on-disk cache of exported models: one folder per model, version and variant.

A cached export is a folder holding the exported files and ``manifest.json`` (each file's size
and SHA-256, and what it was built from). It is written to a temporary folder beside its final
place and renamed into place when complete, so a reader never sees half an export. A folder
whose manifest is missing, unreadable or does not match its files (a truncated file, or one
altered in its first or last MiB) is treated as absent: removed and rebuilt.

The cache lives in ``$MILVUS_RAG_CACHE_DIR``, else ``$XDG_CACHE_HOME/milvus-rag``, else
``~/.cache/milvus-rag``. Nothing here imports torch.

Example:
    >>> folder = cached_export(model_dir, "onnx-fp32", build)  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["CACHE_ENV", "cache_root", "cached_export", "export_key", "verify"]

CACHE_ENV = "MILVUS_RAG_CACHE_DIR"
MANIFEST = "manifest.json"
# Bumped whenever the export itself changes, so old exports are not reused.
EXPORT_FORMAT = 1

log = logging.getLogger("milvus_rag.embeddings")


def cache_root() -> Path:
    """Where exported models are cached (see the module docstring)."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "milvus-rag"


def source_signature(model_dir: Path) -> str:
    """A digest of a model folder's files (relative names, sizes, modification times).

    Cheap (no file is read), and it changes when the weights are replaced or upgraded.
    """
    h = hashlib.sha256(f"format {EXPORT_FORMAT}".encode())
    for path in sorted(p for p in model_dir.rglob("*") if p.is_file()):
        st = path.stat()
        h.update(
            f"{path.relative_to(model_dir).as_posix()}\0{st.st_size}\0{st.st_mtime_ns}\n".encode()
        )
    return h.hexdigest()[:16]


def export_key(model_dir: Path, variant: str) -> str:
    """The cache folder name of ``variant`` (e.g. ``onnx-fp32``) of the model in ``model_dir``."""
    slug = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in model_dir.name)[:48]
    return f"{slug or 'model'}-{source_signature(model_dir)}-{variant}"


_SAMPLE = 1 << 20


def _sha256(path: Path) -> str:
    """SHA-256 of a file's first and last MiB and its size.

    Reading all of a 90 MB model would cost ~0.4 s of every cold start; with the size check
    this detects truncation, a file cut short and rewritten, and damage at either end.
    """
    h = hashlib.sha256()
    size = path.stat().st_size
    h.update(str(size).encode())
    with path.open("rb") as f:
        h.update(f.read(_SAMPLE))
        if size > 2 * _SAMPLE:
            f.seek(size - _SAMPLE)
        h.update(f.read(_SAMPLE))
    return h.hexdigest()


def verify(folder: Path) -> dict[str, Any] | None:
    """The manifest of a complete, intact export in ``folder``, else None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if not isinstance(files, dict) or not files:
            return None
        for name, meta in files.items():
            path = folder / name
            if path.stat().st_size != meta["size"] or _sha256(path) != meta["sha256"]:
                return None
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return dict(manifest)


def _write_manifest(folder: Path, info: dict[str, Any]) -> None:
    files = {
        p.name: {"size": p.stat().st_size, "sha256": _sha256(p)}
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != MANIFEST
    }
    if not files:
        raise RuntimeError(f"the export into {folder} wrote no file")
    body = json.dumps({"format": EXPORT_FORMAT, **info, "files": files}, indent=1)
    (folder / MANIFEST).write_text(body, encoding="utf-8")


def _remove(folder: Path) -> None:
    """Remove a folder without leaving a half-removed one under its name."""
    trash = folder.with_name(f".trash-{folder.name}-{uuid.uuid4().hex[:8]}")
    try:
        folder.rename(trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def cached_export(
    key: str,
    build: Callable[[Path], dict[str, Any]],
    *,
    root: Path | None = None,
) -> tuple[Path, dict[str, Any]]:
    """The folder of the cached export ``key``, built by ``build(tmp_folder)`` when missing.

    ``build`` writes the export's files into the folder it is given and returns what the
    manifest should record about it. A broken cached folder is removed and rebuilt. Two
    processes building the same key at once both succeed; one of their folders is kept.
    """
    root = root if root is not None else cache_root()
    folder = root / key
    if folder.exists():
        manifest = verify(folder)
        if manifest is not None:
            return folder, manifest
        log.warning("milvus-rag: the cached export %s is incomplete or corrupt: rebuilding", folder)
        _remove(folder)
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key}-", dir=root))
    try:
        info = build(tmp)
        _write_manifest(tmp, info)
        for path in tmp.iterdir():  # the data must be on disk before the folder is renamed
            with path.open("rb") as f:
                os.fsync(f.fileno())
        try:
            tmp.rename(folder)
        except OSError:  # another process finished first: keep its folder if it is intact
            manifest = verify(folder)
            if manifest is None:
                raise
            return folder, manifest
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    manifest = verify(folder)
    if manifest is None:  # pragma: no cover - the disk changed it under us
        raise RuntimeError(f"the export just written to {folder} does not verify")
    return folder, manifest

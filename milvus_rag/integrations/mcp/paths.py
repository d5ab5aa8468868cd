"""Which paths the ``ingest`` tool may read: only under the ``--allow-path`` roots.

A path is resolved first (``..`` collapsed, every symlink followed, relative paths taken
against the first root), then it must lie under a root. Folders are checked again file by
file after discovery, so a symlink inside an allowed folder that points out of it is refused
too. Any refusal refuses the whole call, before anything is read or written.

Example:
    >>> from pathlib import Path
    >>> under_roots(Path("/srv/docs/a.md"), (Path("/srv/docs"),))
    True
    >>> under_roots(Path("/srv/docs-old/a.md"), (Path("/srv/docs"),))
    False
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from milvus_rag.client.errors import ConfigError


def under_roots(path: Path, roots: Sequence[Path]) -> bool:
    """Whether the (already resolved) ``path`` is one of ``roots`` or inside one."""
    return any(path == root or path.is_relative_to(root) for root in roots)


def _shown(roots: Sequence[Path]) -> str:
    return ", ".join(repr(str(r)) for r in roots)


def resolve_allowed(raw: str, roots: Sequence[Path]) -> Path:
    """``raw`` resolved (relative to the first root when relative); ConfigError unless it
    exists and lies under a root."""
    if not roots:
        raise ConfigError("ingest is disabled: start the server with --allow-path DIR")
    if not isinstance(raw, str) or not raw.strip() or "\x00" in raw:
        raise ConfigError(f"ingest paths must be non-empty strings, got {raw!r}")
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = roots[0] / path
    resolved = path.resolve()
    if not under_roots(resolved, roots):
        raise ConfigError(
            f"path {raw!r} resolves to {str(resolved)!r}, outside the allowed folders "
            f"({_shown(roots)}); nothing was ingested"
        )
    if not resolved.exists():
        raise ConfigError(f"no such file or folder: {raw!r}")
    return resolved


def check_files(files: Iterable[Path], roots: Sequence[Path]) -> None:
    """ConfigError naming the first discovered file whose real path is outside the roots."""
    for f in files:
        real = f.resolve()
        if not under_roots(real, roots):
            raise ConfigError(
                f"{str(f)!r} resolves to {str(real)!r}, outside the allowed folders "
                f"({_shown(roots)}) (a symlink?); nothing was ingested"
            )

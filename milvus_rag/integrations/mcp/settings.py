"""What the MCP server is allowed to do and how it is reached: one frozen, validated value.

Validated once, at start, with no I/O against Milvus: a refused setting stops the server
before it answers anything (``milvus-rag mcp`` prints the one-line reason and exits 1).

Example:
    >>> s = MCPSettings(transport="http", host="0.0.0.0", auth_token="s3cret")
    >>> s.auth_token_set, "s3cret" in repr(s)
    (True, False)
    >>> MCPSettings(transport="http", host="0.0.0.0")
    Traceback (most recent call last):
    ...
    milvus_rag.client.errors.ConfigError: refusing to serve MCP over HTTP on '0.0.0.0' without a token: ...
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from milvus_rag.client.errors import ConfigError
from milvus_rag.integrations.mcp.databases import DatabasePlan, plan

TOKEN_ENV = "MILVUS_RAG_MCP_TOKEN"
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024
Transport = Literal["stdio", "http"]
_ORIGIN_RE = re.compile(r"^https?://[^/\s?#]+$")


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` only accepts connections from this machine."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # any other name may resolve to a public address


def normalise_origin(origin: str) -> str:
    """``scheme://host[:port]`` in lower case, as browsers send it; ConfigError otherwise."""
    value = origin.strip().rstrip("/").lower()
    if not _ORIGIN_RE.match(value):
        raise ConfigError(
            f"--allow-origin {origin!r} is not an origin: expected 'https://app.example.com' "
            "or 'http://localhost:3000' (scheme, host, optional port; no path)"
        )
    return value


def resolve_roots(paths: tuple[str | Path, ...]) -> tuple[Path, ...]:
    """The ``--allow-path`` roots, absolute with symlinks resolved; each must be a folder."""
    roots: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.is_dir():
            raise ConfigError(f"--allow-path {str(raw)!r} is not an existing folder")
        root = path.resolve(strict=True)
        if root not in roots:
            roots.append(root)
    return tuple(roots)


@dataclass(frozen=True, repr=False)
class MCPSettings:
    """Settings of ``milvus-rag mcp``.

    ``collection``: the served collection, the default of every tool's ``collection``.
    ``read_only``: offer the read tools only. ``allow_drop``: offer ``drop_collection``.
    ``allow_paths``: folders ``ingest`` may read (none: no ``ingest`` tool).
    ``auth_token``: the bearer token every HTTP request must carry (default: the
    ``MILVUS_RAG_MCP_TOKEN`` environment variable); required to bind to a non-loopback
    address. ``allowed_origins``: browser origins accepted besides the loopback ones.
    ``max_body_bytes``: the largest HTTP request body (413 above).
    ``databases``: the Milvus databases every tool's ``database`` may name (empty: the
    URI's database only); refused on a Milvus Lite file, which has none.
    """

    uri: str | None = None
    token: str | None = field(default=None, compare=False)
    collection: str | None = None
    model: str | None = None
    device: str | None = None
    precision: str = "auto"
    backend: str = "auto"
    read_only: bool = False
    allow_drop: bool = False
    allow_paths: tuple[Path, ...] = ()
    transport: Transport = "stdio"
    host: str = "127.0.0.1"
    port: int = 8000
    auth_token: str | None = field(default=None, compare=False)
    allowed_origins: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    databases: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.transport not in ("stdio", "http"):
            raise ConfigError(f"transport must be 'stdio' or 'http', got {self.transport!r}")
        object.__setattr__(self, "databases", tuple(self.databases))
        plan(self.uri, self.databases)  # refused here, before the server starts
        if self.read_only and self.allow_drop:
            raise ConfigError("--read-only and --allow-drop contradict each other: pick one")
        if self.read_only and self.allow_paths:
            raise ConfigError("--read-only offers no ingest tool: drop --allow-path")
        object.__setattr__(self, "allow_paths", resolve_roots(tuple(self.allow_paths)))
        if self.transport == "stdio":
            if self.auth_token is not None:
                raise ConfigError("--auth-token applies to --transport http only")
            if self.allowed_origins:
                raise ConfigError("--allow-origin applies to --transport http only")
            return
        token = self.auth_token
        if token is None:
            token = os.environ.get(TOKEN_ENV) or None
        if token is not None and (not token.strip() or token != token.strip()):
            raise ConfigError("the MCP auth token is empty or padded with spaces")
        object.__setattr__(self, "auth_token", token)
        if not token and not is_loopback(self.host):
            raise ConfigError(
                f"refusing to serve MCP over HTTP on {self.host!r} without a token: anyone "
                f"who can reach it could read and change the collections. Set {TOKEN_ENV} "
                "(or pass --auth-token), or bind to 127.0.0.1"
            )
        if not 0 < self.port < 65536:
            raise ConfigError(f"port must be in [1, 65535], got {self.port}")
        if self.max_body_bytes < 1024:
            raise ConfigError(f"max_body_bytes must be >= 1024, got {self.max_body_bytes}")
        object.__setattr__(
            self, "allowed_origins", tuple(normalise_origin(o) for o in self.allowed_origins)
        )

    @property
    def database_plan(self) -> DatabasePlan:
        """The served databases and the default one (validated; no I/O)."""
        return plan(self.uri, tuple(self.databases))

    @property
    def auth_token_set(self) -> bool:
        return bool(self.auth_token)

    def __repr__(self) -> str:
        token = ", token='***'" if self.token else ""
        auth = ", auth_token='***'" if self.auth_token else ""
        return (
            f"MCPSettings(uri={self.uri!r}{token}, collection={self.collection!r}, "
            f"transport={self.transport!r}, host={self.host!r}, port={self.port}, "
            f"read_only={self.read_only}, allow_drop={self.allow_drop}, "
            f"databases={list(self.databases)}, "
            f"allow_paths={[str(p) for p in self.allow_paths]}{auth})"
        )

    __str__ = __repr__

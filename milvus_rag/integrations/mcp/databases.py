"""Which Milvus databases the MCP server serves, and the one a tool call names (no I/O).

A Milvus server holds several databases; the server serves the one of its URI
(``http://host:19530/prod`` names ``prod``; no path: ``default``) and, with
``--databases a,b``, exactly those listed. A Milvus Lite file has none (measured, Milvus
Lite 2.5.1: ``list_databases`` / ``create_database`` / ``using_database`` answer
UNIMPLEMENTED and ``db_name`` is silently ignored, so a call naming another database
would read the default one): there ``--databases`` and a tool's ``database`` are refused.

Example:
    >>> p = plan("http://localhost:19530", ("default", "docs"))
    >>> p.resolve(None), p.resolve("docs")
    ('default', 'docs')
    >>> p.resolve("hr")
    Traceback (most recent call last):
    ...
    milvus_rag.client.errors.ConfigError: database 'hr' is not served by this MCP server (served: default, docs); ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

from milvus_rag.client.config import ConnectionConfig
from milvus_rag.client.errors import ConfigError

DEFAULT_DATABASE = "default"
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
NO_DATABASES = (
    "a Milvus Lite file has no databases (Milvus Lite 2.5 answers UNIMPLEMENTED to "
    "list_databases and ignores a database name)"
)


def check_name(name: str) -> str:
    """A database name as Milvus takes it: a letter or '_', then letters, digits, '_'."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ConfigError(
            f"invalid database name {name!r}: use letters, digits and '_', starting with a "
            "letter or '_'"
        )
    return name


def uri_database(uri: str) -> str | None:
    """The database a server URI names in its path (``http://h:19530/prod`` -> ``prod``)."""
    if ConnectionConfig.is_local_for(uri) or uri.startswith("unix:"):
        return None
    path = urlparse(uri).path.strip("/")
    return check_name(path) if path else None


@dataclass(frozen=True)
class DatabasePlan:
    """The served databases (``names``, the default first) of a backend that has them
    (``available``), and the default a call without ``database`` gets."""

    names: tuple[str, ...]
    default: str
    available: bool

    def resolve(self, database: str | None) -> str:
        """The database a call names (``None``: the default); ConfigError unless served.
        On a backend without databases only the default (``default``) is accepted."""
        if database is None or database == self.default:
            return self.default
        if not self.available:
            raise ConfigError(
                f"database={database!r}: {NO_DATABASES}; leave database out, or serve a "
                "Milvus server with --databases"
            )
        if database not in self.names:
            served = ", ".join(self.names)
            raise ConfigError(
                f"database {database!r} is not served by this MCP server (served: {served}); "
                f"restart it with --databases {','.join((*self.names, database))} to serve it"
            )
        return database

    def check_available(self) -> None:
        if not self.available:
            raise ConfigError(f"list_databases: {NO_DATABASES}; serve a Milvus server")


def plan(uri: str | None, listed: tuple[str, ...] = ()) -> DatabasePlan:
    """The served databases of ``uri`` with the ``--databases`` list ``listed`` (empty: the
    URI's database only). The URI's database must be listed when the URI names one; when it
    names none, the default is ``default`` if listed, else the first listed."""
    uri = uri or "./milvus_rag.db"
    if ConnectionConfig.is_local_for(uri):
        if listed:
            raise ConfigError(f"--databases: {NO_DATABASES}; serve a Milvus server to use it")
        return DatabasePlan((DEFAULT_DATABASE,), DEFAULT_DATABASE, available=False)
    names = tuple(dict.fromkeys(check_name(n.strip()) for n in listed))
    named = uri_database(uri)
    if not names:
        own = named or DEFAULT_DATABASE
        return DatabasePlan((own,), own, available=True)
    if named is not None and named not in names:
        raise ConfigError(
            f"the URI names database {named!r}, which --databases {','.join(names)} leaves "
            f"out: add it, or drop /{named} from the URI"
        )
    default = named or (DEFAULT_DATABASE if DEFAULT_DATABASE in names else names[0])
    return DatabasePlan((default, *(n for n in names if n != default)), default, available=True)

"""Argument-parsing rules shared by every ``milvus-rag`` subcommand.

- A flag that takes several values accepts them both ways: ``--id A --id B`` and
  ``--id A B`` (and mixed); :func:`add_multi` declares every such flag.
- A command-line mistake is one line on stderr and exit status 2
  (:class:`OneLineParser`), never argparse's usage block.
- :func:`exit_status`: which errors are the caller's (2) and which happened while working (1).

Example:
    >>> p = OneLineParser(prog="x")
    >>> add_multi(p, "--id", metavar="ID")
    >>> p.parse_args(["--id", "a", "--id", "b", "c"]).id
    ['a', 'b', 'c']
    >>> p.parse_args([]).id is None
    True
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

from milvus_rag.client.errors import ConfigError, FilterError, SchemaMismatchError
from milvus_rag.client.lite_file import LiteFileDamagedError


class OneLineParser(argparse.ArgumentParser):
    """An argparse parser whose errors are one line: ``milvus-rag search: error: ...``."""

    def error(self, message: str) -> NoReturn:
        flat = " ".join(message.split())
        sys.stderr.write(f"{self.prog}: error: {flat} (see '{self.prog} --help')\n")
        raise SystemExit(2)


def add_multi(parser: Any, *flags: str, **kwargs: Any) -> None:
    """A flag taking one or more values, repeatable: the values of every occurrence, in
    order, or None when absent (a default is the command's business, never extended)."""
    if "default" in kwargs or "action" in kwargs or "nargs" in kwargs:
        raise TypeError("add_multi sets action, nargs and default itself")
    parser.add_argument(*flags, action="extend", nargs="+", default=None, **kwargs)


USAGE_ERRORS: tuple[type[BaseException], ...] = (
    ConfigError,
    FilterError,
    SchemaMismatchError,
    LiteFileDamagedError,  # the file named is not a (whole) Milvus Lite database
)


def exit_status(error: BaseException, usage: type[BaseException]) -> int:
    """2 for a mistake in what the caller asked (bad flag, value, filter, file named, a
    ``.db`` that is no Milvus Lite database, or a setting the collection contradicts), 1 for
    a failure while working."""
    return 2 if isinstance(error, (usage, *USAGE_ERRORS)) else 1

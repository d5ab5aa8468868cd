"""The ``milvus-rag`` command (``python -m milvus_rag.cli``): the parser, the commands, their
shared helpers and the demo. Nothing in the library imports this package."""

from __future__ import annotations

from milvus_rag.cli.commands import main

__all__ = ["main"]

"""Start-up work a one-off ``milvus-rag`` command does not need to do.

pymilvus asks, for every search input, whether it is a scipy sparse matrix, and to find out
imports ``scipy.sparse`` the first time (milvus-rag's client warms that up in a worker thread;
measured: about 0.2 s of CPU, a tenth of a ``milvus-rag search`` cold start's imports, on a
2-core machine where the model is loading at the same time). No object can be an instance of
a ``scipy.sparse`` class while that module has never been imported, so
:func:`skip_unneeded_scipy` makes the probes answer "no" without importing it in that case,
and ask pymilvus otherwise: the same answer for every input.

Milvus Lite 2.5 reads its own version at import with ``pkg_resources`` (setuptools), whose
import scans every installed distribution (measured: 0.30 s of CPU here, against 0.12 s for
the same answer from ``importlib.metadata``). :func:`light_pkg_resources` puts a stand-in in
its place that answers ``get_distribution(name).version`` from ``importlib.metadata`` and
hands any other name to the real module (imported then, and put back in ``sys.modules``).

Example:
    >>> skip_unneeded_scipy()
    >>> light_pkg_resources()
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["light_pkg_resources", "skip_unneeded_scipy"]

_MARK = "_milvus_rag_skips_scipy"
_PROBES = ("is_spmatrix", "is_sparray", "is_scipy_sparse")


def _guarded(original: Any) -> Any:
    def probe(cls: Any, data: Any) -> bool:
        return "scipy.sparse" in sys.modules and bool(original(cls, data))

    setattr(probe, _MARK, True)
    return classmethod(probe)


def skip_unneeded_scipy() -> None:
    """Make pymilvus's scipy probes import nothing while ``scipy.sparse`` is not imported."""
    try:
        from pymilvus.client.utils import SciPyHelper
    except ImportError:  # another pymilvus layout: nothing to skip
        return
    for name in _PROBES:
        current = SciPyHelper.__dict__.get(name)
        if isinstance(current, classmethod) and not getattr(current.__func__, _MARK, False):
            setattr(SciPyHelper, name, _guarded(current.__func__))


class _Distribution:
    def __init__(self, name: str, version: str) -> None:
        self.project_name = name
        self.version = version


class _LightPkgResources(types.ModuleType):
    """``pkg_resources`` for ``get_distribution(name).version``; the real one for the rest."""

    class DistributionNotFound(Exception):  # pkg_resources' name
        pass

    @staticmethod
    def get_distribution(name: str) -> _Distribution:
        from importlib import metadata

        try:
            return _Distribution(name, metadata.version(name))
        except metadata.PackageNotFoundError as exc:
            raise _LightPkgResources.DistributionNotFound(name) from exc

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if sys.modules.get("pkg_resources") is self:
            del sys.modules["pkg_resources"]
        import pkg_resources

        return getattr(pkg_resources, name)


def light_pkg_resources() -> None:
    """Stand in for ``pkg_resources`` until something needs more than a version."""
    if "pkg_resources" not in sys.modules:
        sys.modules["pkg_resources"] = _LightPkgResources("pkg_resources")

"""Import pymilvus safely: it parses ``MILVUS_URI`` at import and rejects a Milvus Lite file
path there, which milvus-rag accepts (``ConnectionConfig.from_env``)."""

import os
import warnings

_uri = os.environ.get("MILVUS_URI", "")
if _uri and "://" not in _uri and not _uri.startswith("unix:"):
    del os.environ["MILVUS_URI"]
    try:
        import pymilvus  # noqa: F401
    finally:
        os.environ["MILVUS_URI"] = _uri


# milvus-lite 2.5 imports pkg_resources, whose deprecation warning reached every user of a
# Lite file; it says nothing about milvus-rag's use (quiet by default, issue 11).
warnings.filterwarnings(
    "ignore", message="pkg_resources is deprecated", category=UserWarning, module="milvus_lite"
)
# tqdm.auto (imported by transformers) in a Jupyter kernel without ipywidgets
warnings.filterwarnings("ignore", message="IProgress not found")

"""Import pymilvus safely: it parses ``MILVUS_URI`` at import and rejects a Milvus Lite file
path there, which milvus-rag accepts (``ConnectionConfig.from_env``)."""

import os

_uri = os.environ.get("MILVUS_URI", "")
if _uri and "://" not in _uri and not _uri.startswith("unix:"):
    del os.environ["MILVUS_URI"]
    try:
        import pymilvus  # noqa: F401
    finally:
        os.environ["MILVUS_URI"] = _uri

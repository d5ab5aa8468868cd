"""What every ``milvus-rag`` command shares: the store the flags name, the encoder (loaded in
a worker thread, errors in one line), usage errors, the collection check, the ``--filter``
parser and the result printing. Commands import this module; it imports no command."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milvus_rag.client.config import DEFAULT_COLLECTION, DEFAULT_URI
from milvus_rag.client.errors import ConfigError, MilvusRAGError
from milvus_rag.client.records import Hit
from milvus_rag.embeddings.encoder import DEFAULT_MODEL, Encoder

if TYPE_CHECKING:  # imported when used: `milvus-rag mcp` answers before pymilvus is imported
    from milvus_rag.client.store import AsyncMilvusStore


class UsageError(MilvusRAGError):
    """A mistake on the command line (exit status 2)."""


def make_encoder(
    model: str = DEFAULT_MODEL,
    device: str | None = None,
    precision: str = "auto",
    *,
    backend: str = "auto",
) -> Encoder:
    """The embedder the commands use (tests replace this function with a fake)."""
    from milvus_rag.embeddings.encoder import make_encoder as make

    return make(model, device=device, precision=precision, backend=backend)


def check_device(device: str | None) -> None:
    """A ``--device`` this torch build cannot use fails here, in one line, before loading."""
    if device is None or not (device.startswith("cuda") or device == "mps"):
        return
    try:
        import torch
    except ImportError:
        return  # the encoder says how to install it
    if device.startswith("cuda") and not torch.cuda.is_available():
        build = "has no CUDA" if torch.version.cuda is None else "finds no CUDA GPU"
        raise ConfigError(
            f"--device {device}: this torch ({torch.__version__}) {build}; "
            "use --device cpu, or install a CUDA build of torch"
        )
    mps = getattr(torch.backends, "mps", None)
    if device == "mps" and not (mps is not None and mps.is_available()):
        raise ConfigError("--device mps: MPS is not available here; use --device cpu")


def _model_error(model: str, e: BaseException) -> ConfigError:
    if _offline() and not Path(model).expanduser().exists():
        return ConfigError(
            f"the embedding model {model!r} is not installed here (no such folder, not in the "
            "Hugging Face cache); the command does not download models: pass a local path, or "
            "set HF_HUB_OFFLINE=0 to allow a download"
        )
    return ConfigError(f"cannot load the embedding model {model!r}: {e}")


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def check_model(model: str) -> None:
    """Offline, a model that is neither a folder, the bundled MiniLM nor in the Hugging Face
    cache fails here, in about a second (before importing sentence-transformers)."""
    from milvus_rag.embeddings.encoder import resolve_model_path

    if not _offline() or Path(model).expanduser().exists() or resolve_model_path(model) != model:
        return
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # the loader says what is missing
        return
    repos = [model] if "/" in model else [model, f"sentence-transformers/{model}"]
    for repo in repos:
        try:
            if isinstance(try_to_load_from_cache(repo, "config.json"), str):
                return
        except Exception:  # not a valid repo name: the loader says what is wrong
            return
    raise _model_error(model, FileNotFoundError(model))


async def load_encoder(
    model: str, device: str | None, precision: str = "auto", *, backend: str = "auto"
) -> Encoder:
    """The encoder, loaded in a worker thread; loading errors in one line."""
    check_model(model)
    check_device(device)
    encoder = make_encoder(model, device, precision, backend=backend)
    aload = getattr(encoder, "aload", None)
    try:
        if aload is not None:
            await aload()
        _ = encoder.dim
    except Exception as e:
        raise _load_error(model, e) from None
    return encoder


def load_encoder_sync(
    model: str, device: str | None, precision: str = "auto", *, backend: str = "auto"
) -> Encoder:
    """:func:`load_encoder` for the commands that run on the background loop (``eval``)."""
    check_model(model)
    check_device(device)
    encoder = make_encoder(model, device, precision, backend=backend)
    load = getattr(encoder, "load", None)
    try:
        if load is not None:
            load()
        _ = encoder.dim
    except Exception as e:
        raise _load_error(model, e) from None
    return encoder


def _load_error(model: str, e: Exception) -> Exception:
    if isinstance(e, MilvusRAGError):
        return e
    if isinstance(e, ImportError):
        return ConfigError(f"{e}")
    if isinstance(e, OSError | ValueError | RuntimeError | AssertionError):
        return _model_error(model, e)
    return e


def resolve_settings(
    args: argparse.Namespace, default_collection: str, *, env_collection: bool = True
) -> tuple[str, str, str]:
    """(uri, token, collection) from flags, then the environment, then defaults; a flag
    given empty (``--uri ''``) is a mistake, not "unset"."""
    for flag in ("uri", "collection", "tenant_field", "tenant"):
        value = getattr(args, flag, None)
        if value is not None and not value.strip():
            raise UsageError(f"--{flag.replace('_', '-')} is empty: give a value or leave it out")
    uri = args.uri or os.environ.get("MILVUS_URI") or DEFAULT_URI
    token = args.token if args.token is not None else os.environ.get("MILVUS_TOKEN", "")
    env = os.environ.get("MILVUS_COLLECTION") if env_collection else None
    collection = args.collection or env or default_collection
    return uri, token, collection


def missing_lite_file(uri: str) -> bool:
    """A local ``.db`` path that does not exist (a read-only command must not create it)."""
    from milvus_rag.client.config import ConnectionConfig

    return ConnectionConfig.is_local_for(uri) and not Path(uri).expanduser().exists()


def check_lite_file_to_read(uri: str, hint: str = "") -> None:
    """A read-only command's Lite file: it exists and is not empty (the engine would make an
    empty one a database); other problems are found when the engine starts."""
    from milvus_rag.client.config import ConnectionConfig

    if missing_lite_file(uri):
        raise UsageError(f"no Milvus Lite file at {uri!r}: check --uri (or MILVUS_URI){hint}")
    path = Path(uri).expanduser()
    if ConnectionConfig.is_local_for(uri) and path.is_file() and path.stat().st_size == 0:
        raise UsageError(
            f"the Milvus Lite file {uri!r} is empty (0 bytes), not a database: check --uri{hint}"
        )


def diagnose_lite_files(args: argparse.Namespace) -> str | None:
    """After a backend failure: what is wrong with the Lite file(s) the command used (SQLite's
    integrity check), or None."""
    from milvus_rag.client.config import ConnectionConfig
    from milvus_rag.client.lite_file import lite_file_damage

    uris = [getattr(args, "uri", None) or os.environ.get("MILVUS_URI") or DEFAULT_URI]
    uris += [u for u in (getattr(args, "to_uri", None),) if u]
    for uri in uris:
        path = Path(uri).expanduser()
        if ConnectionConfig.is_local_for(uri) and path.is_file():
            damage = lite_file_damage(str(path))
            if damage is not None:
                return f"the Milvus Lite file {uri!r} {damage}"
    return None


def open_store(
    args: argparse.Namespace,
    *,
    dim: int | None = None,
    read_only: bool = False,
    vector_fields: list[Any] | None = None,
) -> AsyncMilvusStore:
    """The store the flags name (no I/O yet), bound to ``--tenant`` when given (on a
    ``--tenant-field`` collection every data command needs one); ``read_only``: the commands
    that only read or delete refuse a Lite file that does not exist (not create one);
    ``vector_fields``: the collection's vector fields (instead of ``dim``: an import of an
    export that lists several)."""
    from milvus_rag.client.store import AsyncMilvusStore

    uri, token, collection = resolve_settings(args, DEFAULT_COLLECTION)
    options: dict[str, Any] = {}
    if getattr(args, "tenant_field", None):
        options["tenant_field"] = args.tenant_field
    typed = parse_json_object(getattr(args, "metadata_fields", None), "--metadata-fields")
    if typed:
        options["metadata_fields"] = typed
    if vector_fields is not None:
        options["vector_fields"] = vector_fields
    store = AsyncMilvusStore(
        uri, token=token or None, collection_name=collection, dim=dim, **options
    )
    if read_only:
        check_lite_file_to_read(uri, "; 'milvus-rag ingest' creates it")
    tenant = getattr(args, "tenant", None)
    return store.for_tenant(tenant) if tenant is not None else store


def parse_json_object(text: str | None, flag: str) -> dict[str, Any] | None:
    """A command-line JSON object (``--search-params '{"ef": 64}'``), or None."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UsageError(f"{flag} is not valid JSON ({e.msg}): {text!r}") from None
    except (RecursionError, ValueError) as e:  # nested too deeply, a number too long
        raise UsageError(f"{flag} cannot be read: {str(e)[:120]}") from None
    if not isinstance(value, dict):
        raise UsageError(f"{flag} must be a JSON object such as '{{\"ef\": 64}}'")
    return value


async def require_collection(store: AsyncMilvusStore, flag: str = "--collection") -> None:
    """A missing collection: one line naming those there and the ``flag`` that picks one."""
    if not await store.exists():
        names = await store.list_collections()
        known = ", ".join(sorted(names)) or "none"
        raise UsageError(
            f"collection {store.name!r} does not exist at {store.connection.uri} "
            f"(collections there: {known}); run 'milvus-rag ingest' first or pass {flag}"
        )


def snippet(text: str, width: int = 90) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def shown_source(source: str) -> str:
    """A stored (absolute) source as shown: relative to the working directory when under it."""
    try:
        return Path(source).relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return source


def format_hits(hits: Sequence[Hit], mode: str = "hybrid") -> str:
    """The hits as a table naming both numbers (see :mod:`milvus_rag.cli.hits`)."""
    from milvus_rag.cli.hits import hits_table

    def where(h: Hit) -> str:
        meta = h.record.metadata
        place = shown_source(str(meta.get("source", h.record.doc_id or h.id)))
        return f"{place} p.{meta['page']}" if "page" in meta else place

    return hits_table(hits, mode, where, lambda h: snippet(h.record.text))


def confirm(question: str) -> bool:
    if not sys.stdin.isatty():
        return False
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cli_filter(text: str | None) -> Any:
    """``--filter`` parsed, with ``source`` paths made canonical (as ingest stores them)."""
    from milvus_rag.ingest.files import canonical_filter

    return canonical_filter(parse_filter(text))


def parse_filter(text: str | None) -> Any:
    """A filter given on the command line: a JSON object (the dict filter language), or
    ``None`` for no filter. Bad JSON raises :class:`ConfigError` with the position."""
    if text is None or not text.strip():
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(
            f"--filter is not valid JSON ({e.msg} at column {e.colno}): {text!r}; "
            'expected e.g. \'{"source": "a.md"}\''
        ) from None
    except (RecursionError, ValueError) as e:  # nested too deeply, a number too long
        raise ConfigError(f"--filter cannot be read: {str(e)[:120]}") from None
    if not isinstance(value, dict):
        raise ConfigError(
            f'--filter must be a JSON object such as \'{{"year": {{"$gte": 2020}}}}\', '
            f"got {type(value).__name__}"
        )
    return value

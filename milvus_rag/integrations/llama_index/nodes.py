"""LlamaIndex node <-> :class:`~milvus_rag.client.Record` mapping: pure functions, no I/O.

A node is stored as one row: ``id`` = ``node.node_id``, ``text`` = the node's content without
metadata, ``vector`` = its embedding, ``doc_id`` = ``node.ref_doc_id`` (``""`` if none), and
``metadata`` = the user metadata as is, plus the reserved key ``_milvus_rag``
(:data:`~milvus_rag.client.records.PRIVATE_KEY`) holding what only LlamaIndex needs: the node
class, relationships, start/end char indexes, excluded metadata keys, templates, separator,
mimetype. Only values that differ from the node class's defaults are written.
``TextNode``, ``Document`` and ``IndexNode`` (its ``index_id``; not its ``obj``) come back as
their class; other node classes (e.g. ``ImageNode``) come back as ``TextNode`` with the text,
metadata and the fields above. A record read with its vectors gives the node its
``embedding`` (the primary dense field's vector).

Rows without the private key (written by the LangChain adapter or the core) come back as plain
``TextNode``\\ s with the row's id, text and metadata; a non-empty ``doc_id`` becomes the node's
``SOURCE`` relationship, so ``ref_doc_id`` round-trips for them too.

Example:
    >>> from llama_index.core.schema import TextNode
    >>> rec = node_to_record(TextNode(id_="n1", text="hello", metadata={"k": 1},
    ...                               embedding=[1.0, 0.0]))
    >>> rec.metadata["k"], record_to_node(rec).text
    (1, 'hello')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from milvus_rag.client.errors import InvalidInputError
from milvus_rag.client.records import PRIVATE_KEY, Record, public_metadata
from milvus_rag.integrations.models import model_builder

try:
    from llama_index.core.schema import (
        BaseNode,
        Document,
        IndexNode,
        MetadataMode,
        NodeRelationship,
        RelatedNodeInfo,
        TextNode,
    )
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "milvus_rag.integrations.llama_index needs llama-index-core: "
        'pip install "milvus-rag[llama-index]"'
    ) from exc

__all__ = ["node_to_record", "record_to_node"]

#: Node classes rebuilt as themselves; anything else comes back as a TextNode.
_CLASSES: dict[str, type[TextNode] | type[Document]] = {
    "TextNode": TextNode,
    "IndexNode": IndexNode,
    "Document": Document,
}
# private-dict key -> node attribute, written only when it differs from the class default
_ATTRS = {
    "start": "start_char_idx",
    "end": "end_char_idx",
    "excluded_embed": "excluded_embed_metadata_keys",
    "excluded_llm": "excluded_llm_metadata_keys",
    "metadata_template": "metadata_template",
    "metadata_separator": "metadata_separator",
    "text_template": "text_template",
    "mimetype": "mimetype",
}


def _default(cls: type[BaseNode], attr: str) -> Any:
    field = cls.model_fields.get(attr)
    if field is None:
        return None
    return field.get_default(call_default_factory=True)


def _relationships_to_json(node: BaseNode) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rel, info in node.relationships.items():
        key = str(NodeRelationship(rel).value)
        if isinstance(info, list):
            out[key] = [i.model_dump(mode="json") for i in info]
        else:
            out[key] = info.model_dump(mode="json")
    return out


def _relationships_from_json(data: Mapping[str, Any]) -> dict[NodeRelationship, Any]:
    out: dict[NodeRelationship, Any] = {}
    for key, info in data.items():
        rel = NodeRelationship(key)
        if isinstance(info, list):
            out[rel] = [RelatedNodeInfo.model_validate(i) for i in info]
        else:
            out[rel] = RelatedNodeInfo.model_validate(info)
    return out


def node_to_record(node: BaseNode) -> Record:
    """The row for ``node`` (its embedding must be set).

    Raises :class:`InvalidInputError` when the user metadata uses the reserved key.
    """
    metadata = dict(node.metadata or {})
    if PRIVATE_KEY in metadata:
        raise InvalidInputError(
            f"node {node.node_id!r}: the metadata key {PRIVATE_KEY!r} is reserved by milvus-rag "
            "for LlamaIndex-private data; rename it"
        )
    cls_name = node.class_name()
    cls = type(node)
    private: dict[str, Any] = {"class": cls_name}
    rels = _relationships_to_json(node)
    if rels:
        private["relationships"] = rels
    for key, attr in _ATTRS.items():
        if attr not in cls.model_fields:
            continue
        value = getattr(node, attr)
        if value != _default(cls, attr):
            private[key] = list(value) if isinstance(value, list) else value
    if isinstance(node, IndexNode):
        private["index_id"] = node.index_id
    metadata[PRIVATE_KEY] = private
    embedding = node.embedding
    return Record(
        id=node.node_id,
        text=node.get_content(metadata_mode=MetadataMode.NONE),
        vector=embedding,
        metadata=metadata,
        doc_id=node.ref_doc_id or "",
    )


def record_to_node(record: Record) -> BaseNode:
    """The node for a stored row (``TextNode`` unless the row says otherwise)."""
    stored = record.metadata
    raw = stored.get(PRIVATE_KEY) if stored else None
    if raw is None:  # a row written by LangChain or the core: a TextNode
        id, text, metadata = record.id, record.text, dict(stored) if stored else {}
        kwargs: dict[str, Any] = {"id_": id, "text": text, "metadata": metadata}
        if record.doc_id:  # its doc_id is the source document
            kwargs["relationships"] = {
                NodeRelationship.SOURCE: RelatedNodeInfo(node_id=record.doc_id)
            }
        if record.vector is not None:
            kwargs["embedding"] = [float(x) for x in record.vector]
        if (  # the values validation keeps as they are (see _AS_IS), checked inline
            _TEXT_NODE is not None
            and type(id) is str
            and type(text) is str
            and all(type(k) is str for k in metadata)
        ):
            return _TEXT_NODE.new(kwargs)
        return TextNode(**kwargs)
    private: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    cls: type[TextNode] | type[Document] = _CLASSES.get(str(private.get("class")), TextNode)
    if not private:
        cls = TextNode
    kwargs = {"id_": record.id, "text": record.text, "metadata": public_metadata(stored)}
    rels = private.get("relationships")
    if isinstance(rels, Mapping):
        kwargs["relationships"] = _relationships_from_json(rels)
    elif not private and record.doc_id:
        kwargs["relationships"] = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=record.doc_id)}
    for key, attr in _ATTRS.items():
        if key in private and attr in cls.model_fields:
            value = private[key]
            kwargs[attr] = list(value) if type(value) is list else value
    if cls is IndexNode:
        kwargs["index_id"] = str(private.get("index_id", ""))
    if cls is TextNode:
        return _text_node(kwargs, record)
    if record.vector is not None:
        kwargs["embedding"] = [float(x) for x in record.vector]
    return cls(**kwargs)


def _text_node(kwargs: dict[str, Any], record: Record) -> BaseNode:
    """The ``TextNode`` of ``kwargs`` and the record's vector: built as validation would
    where each value is one it keeps as it is (``integrations.models``), else validated."""
    if record.vector is not None:
        kwargs["embedding"] = [float(x) for x in record.vector]
    if _TEXT_NODE is not None and _valid_as_is(kwargs):
        return _TEXT_NODE.new(kwargs)
    return TextNode(**kwargs)


def _is_str(value: Any) -> bool:
    return type(value) is str


def _is_str_list(value: Any) -> bool:
    return type(value) is list and all(type(x) is str for x in value)


def _is_index(value: Any) -> bool:
    return value is None or type(value) is int


#: what a TextNode field keeps as it is when validated: a row's values, as record_to_node
#: builds them (fresh dicts and lists; relationships and embeddings of its own making)
_AS_IS = {
    "id_": _is_str,
    "text": _is_str,
    "metadata": lambda v: type(v) is dict and all(type(k) is str for k in v),
    "relationships": lambda v: type(v) is dict,
    "embedding": lambda v: type(v) is list,
    "start_char_idx": _is_index,
    "end_char_idx": _is_index,
    "excluded_embed_metadata_keys": _is_str_list,
    "excluded_llm_metadata_keys": _is_str_list,
    "metadata_template": _is_str,
    "metadata_separator": _is_str,
    "text_template": _is_str,
    "mimetype": _is_str,
}


def _valid_as_is(kwargs: Mapping[str, Any]) -> bool:
    """Whether validation would keep each of ``kwargs`` as it is (see ``integrations.models``)."""
    for name, value in kwargs.items():
        check = _AS_IS.get(name)
        if check is None or not check(value):
            return False
    return True


_TEXT_NODE = model_builder(TextNode)

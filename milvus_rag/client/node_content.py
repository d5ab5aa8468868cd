"""llama-index-vector-stores-milvus's row keys <-> a :class:`Record`: pure, no llama-index.

llama-index-vector-stores-milvus stores a node as ``id``, ``text``, ``embedding``, ``doc_id``
and dynamic fields: the metadata keys, ``_node_content`` (the node as JSON, text and
embedding left out), ``_node_type`` (its class), ``document_id`` / ``ref_doc_id`` (the source
document id, ``"None"`` when there is none); its ``query`` and ``get_nodes`` rebuild the node
from ``_node_content``. milvus-rag's LlamaIndex adapter keeps the same node data under the
metadata key :data:`~milvus_rag.client.records.PRIVATE_KEY` (``class``, ``relationships``,
attributes that differ from the defaults; see ``integrations/llama_index/nodes.py``), so this
module maps that private dict to those keys and back, and a row either library writes reads
back in the other.

Example:
    >>> keys = node_keys("n1", {"k": 1}, None, "DOC")
    >>> keys["_node_type"], keys["ref_doc_id"], json.loads(keys["_node_content"])["metadata"]
    ('TextNode', 'DOC', {'k': 1})
    >>> private, metadata, doc_id = from_node_keys({**keys, "k": 1})
    >>> private["class"], metadata, doc_id
    ('TextNode', {'k': 1}, 'DOC')
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["NONE", "RESERVED", "from_node_keys", "node_keys"]

#: what llama-index writes for a node without a source document
NONE = "None"
#: the dynamic keys besides the metadata (a metadata key may not use them)
RESERVED = ("_node_content", "_node_type", "document_id", "ref_doc_id", "doc_id")
_SOURCE = "1"  # NodeRelationship.SOURCE
# the private dict's keys -> the node's attributes, with llama-index's TextNode defaults
_ATTRS: dict[str, tuple[str, Any]] = {
    "excluded_embed": ("excluded_embed_metadata_keys", []),
    "excluded_llm": ("excluded_llm_metadata_keys", []),
    "metadata_template": ("metadata_template", "{key}: {value}"),
    "metadata_separator": ("metadata_separator", "\n"),
    "mimetype": ("mimetype", "text/plain"),
    "start": ("start_char_idx", None),
    "end": ("end_char_idx", None),
    "text_template": ("text_template", "{metadata_str}\n\n{content}"),
}


def _related(node_id: str) -> dict[str, Any]:
    return {
        "node_id": node_id,
        "node_type": None,
        "metadata": {},
        "hash": None,
        "class_name": "RelatedNodeInfo",
    }


def node_keys(
    node_id: str, metadata: Mapping[str, Any], private: Mapping[str, Any] | None, doc_id: str
) -> dict[str, Any]:
    """The llama-index keys of one row: ``_node_content``, ``_node_type``, ``document_id``,
    ``ref_doc_id`` (and the ``doc_id`` value for the column), as
    ``node_to_metadata_dict(node, remove_text=True)`` writes them."""
    private = private or {}
    cls = str(private.get("class") or "TextNode")
    rels = private.get("relationships")
    relationships: dict[str, Any] = dict(rels) if isinstance(rels, Mapping) else {}
    if not relationships and doc_id:
        relationships[_SOURCE] = _related(doc_id)
    content: dict[str, Any] = {
        "id_": node_id,
        "embedding": None,
        "metadata": dict(metadata),
        "relationships": relationships,
        "text": "",
    }
    for key, (attr, default) in _ATTRS.items():
        content[attr] = private.get(key, default)
    if "index_id" in private:
        content["index_id"] = private["index_id"]
    content["class_name"] = cls
    ref = doc_id or NONE
    return {
        "_node_content": json.dumps(content),
        "_node_type": cls,
        "document_id": ref,
        "ref_doc_id": ref,
        "doc_id": ref,
    }


def from_node_keys(entity: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any], str]:
    """``(private, metadata, doc_id)`` of a stored llama-index row: the private dict for
    :data:`~milvus_rag.client.records.PRIVATE_KEY` (empty when the row has no node content),
    the node's metadata, its source document id (``""`` for none)."""
    raw = entity.get("_node_content")
    content: dict[str, Any] = {}
    if isinstance(raw, str) and raw:
        try:
            loaded = json.loads(raw)
        except ValueError:
            loaded = {}
        content = loaded if isinstance(loaded, dict) else {}
    doc_id = str(entity.get("doc_id") or entity.get("ref_doc_id") or "")
    if doc_id == NONE:
        doc_id = ""
    if not content:
        return {}, {}, doc_id
    private: dict[str, Any] = {
        "class": str(entity.get("_node_type") or content.get("class_name") or "TextNode")
    }
    rels = content.get("relationships")
    if isinstance(rels, Mapping) and rels:
        private["relationships"] = dict(rels)
    for key, (attr, default) in _ATTRS.items():
        if attr in content and content[attr] != default:
            private[key] = content[attr]
    if "index_id" in content:
        private["index_id"] = content["index_id"]
    meta = content.get("metadata")
    if private == {"class": "TextNode"}:  # nothing but the default: the adapter's plain node
        private = {}
    return private, dict(meta) if isinstance(meta, Mapping) else {}, doc_id

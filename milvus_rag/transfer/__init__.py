"""Moving rows between collections: JSON-lines export/import (:mod:`.jsonl`) and the copy of
a collection into milvus-rag's schema (:mod:`.migrate`). Library functions; the ``milvus-rag``
command only calls them."""

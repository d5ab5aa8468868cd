"""Sentence-transformers embeddings shared by every part of milvus-rag.

``SentenceTransformerEncoder`` is framework-neutral. The framework adapters live in their own
modules and are imported from there, so importing this package pulls in neither LangChain,
LlamaIndex, torch nor sentence-transformers::

    from milvus_rag.embeddings.langchain import SentenceTransformerEmbeddings
    from milvus_rag.embeddings.llama_index import SentenceTransformerEmbedding
"""

from milvus_rag.embeddings.encoder import Encoder, SentenceTransformerEncoder

__all__ = ["Encoder", "SentenceTransformerEncoder"]

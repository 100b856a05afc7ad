"""The local backend: FAISS, bm25s and generation directories behind embeddings.backend."""

from embeddings.local.index import LocalIndex

__all__ = ["LocalIndex"]

"""The Qdrant backend: passages as points in a Qdrant collection (server, cluster or in-process).

qdrant-client is an optional extra (`pip install quotebot[qdrant]`); nothing here imports it at module
level, so the local FAISS + bm25s backend never loads it.
"""

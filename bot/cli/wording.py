"""Library errors worded for the person at the terminal: which QUOTEBOT_* setting fixes them."""

from __future__ import annotations

from embeddings.errors import IndexMismatch, ModelUnavailable, RerankerUnavailable

MODEL_HINT = (
    "Set QUOTEBOT_MODEL to a local sentence-transformers model directory "
    "(or a hub id that is already in the local cache when offline)."
)

RERANKER_HINT = (
    "Set QUOTEBOT_RERANKER to shipped, none, or a local sentence-transformers CrossEncoder directory "
    "(or a hub id that is already in the local cache when offline)."
)


def explain(error: Exception) -> str:
    """Return an error's message, with the setting that fixes it where the library cannot name one."""
    if isinstance(error, RerankerUnavailable):
        return f"{error}. {RERANKER_HINT}"
    if isinstance(error, ModelUnavailable):
        return f"{error}. {MODEL_HINT}"
    if isinstance(error, IndexMismatch) and error.built_with:
        encoder = f" QUOTEBOT_ENCODER={error.built_by}" if error.built_by else ""
        return f"{error} (set QUOTEBOT_MODEL={error.built_with}{encoder})"
    return str(error)

"""The embeddings package's one exception family; messages name the bad value and the fix."""

from __future__ import annotations


class EmbeddingsError(Exception):
    """Base of every error the embeddings package raises on purpose."""


class ModelUnavailable(EmbeddingsError):
    """The embedding model cannot be loaded (not cached, no network, bad directory)."""

    def __init__(self, message: str, *, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model  # the model that failed to load


class RerankerUnavailable(ModelUnavailable):
    """The answer verifier cannot be loaded (not cached, no network, not a CrossEncoder directory)."""


class IndexMissing(EmbeddingsError):
    """No index exists at the configured directory."""


class IndexCorrupt(EmbeddingsError):
    """The index directory exists but cannot be read."""


class IndexMismatch(EmbeddingsError):
    """The index was built with another model or schema than the one configured."""

    def __init__(self, message: str, *, built_with: str | None = None, built_by: str | None = None) -> None:
        super().__init__(message)
        self.built_with = built_with  # the model the index was built with, when that is the difference
        self.built_by = built_by  # the encoder setting whose vectors the index holds


class IndexBusy(EmbeddingsError):
    """Another reindex holds the lock."""


class BadQuestion(EmbeddingsError):
    """The question is empty, too long, or has nothing searchable in it."""


class BadCalibration(EmbeddingsError):
    """A calibration record (a configured file, or the one an index stores) cannot be read."""


class BackendUnavailable(EmbeddingsError):
    """The configured retrieval backend cannot be used (its optional package is not installed)."""


# How a broken or mismatched index is fixed, appended to the messages that need it.
FULL_FIX = "run `quotebot index --full` to rebuild it"

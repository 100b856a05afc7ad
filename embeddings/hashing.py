"""A deterministic test encoder: folded character n-grams hashed into L2-normalised vectors.

It meets the encoder contract (embeddings.backend.TextEncoder) as httpx's MockTransport meets a
transport's: tests of indexing, reindexing, rollback and the CLI that do not judge retrieval quality
use it and run in seconds, with no model and no torch. Texts sharing n-grams get a positive cosine,
a text has cosine 1 with itself, and the same text always gives the same vector in every process.
It does not understand meaning: never calibrate or judge answers with it.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from embeddings.backend import Matrix
from embeddings.tokens import fold

DIMENSION = 256
NGRAMS = (1, 2, 3)


class HashingEncoder:
    """Encodes texts by hashing their folded character n-grams (signed feature hashing, crc32)."""

    def __init__(self, dimension: int = DIMENSION, *, batch_size: int = 32) -> None:
        if dimension < 2:
            raise ValueError(f"dimension must be at least 2, not {dimension}")
        self._dimension = dimension
        self.batch_size = batch_size
        self.model_id = f"hashing-char-ngrams-{'-'.join(map(str, NGRAMS))}-d{dimension}"
        # What the manifest records; its model id alone already keeps its vectors apart from a model's.
        self.backend = "hashing"
        self.precision = "fp32"
        self.family = "float"

    @property
    def dimension(self) -> int:
        """Return the vector dimension."""
        return self._dimension

    @property
    def prompts(self) -> dict[str, str]:
        """Return the prompts (none: questions and passages are hashed alike)."""
        return {"query": "", "passage": ""}

    def for_index(self, setting: str) -> HashingEncoder:
        """Return itself: hashed vectors are the same on every machine."""
        return self

    def for_new_index(self) -> HashingEncoder:
        """Return itself: hashed vectors are the same on every machine."""
        return self

    def _vector(self, text: str) -> Matrix:
        """Return one text's normalised vector (zeros for a text with no characters)."""
        chars = "".join(fold(text).split())
        vector = np.zeros(self._dimension, dtype=np.float32)
        for n in NGRAMS:
            for start in range(len(chars) - n + 1):
                code = zlib.crc32(chars[start : start + n].encode())
                vector[code % self._dimension] += 1.0 if code & 0x8000_0000 else -1.0
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def _encode(self, texts: Sequence[str]) -> Matrix:
        """Return the vectors of texts as a float32 (n, dimension) matrix."""
        matrix = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            matrix[row] = self._vector(text)
        return matrix

    def encode_queries(self, texts: Sequence[str]) -> Matrix:
        """Encode questions."""
        return self._encode(texts)

    def encode_passages(self, texts: Sequence[str]) -> Matrix:
        """Encode passages."""
        return self._encode(texts)

    def encode_sentences(self, texts: Sequence[str]) -> Matrix:
        """Encode a hit's sentences (highlights)."""
        return self._encode(texts)

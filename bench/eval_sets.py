"""What the quality benches share: where the evaluation sets and the model are, and the vector cache."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from embeddings.encoder import Encoder

REPO = Path(__file__).resolve().parents[1]
EVAL = REPO.parent / "shared" / "eval"
EVAL_NEWS = REPO.parent / "shared" / "eval-news"
MODEL = str(REPO.parent / "shared" / "models" / "multilingual-e5-small-zh-en")


class CachedEncoder(Encoder):
    """An Encoder that remembers every vector it computed, per text, in one .npz per prompt."""

    def __init__(self, model: str, cache: Path, encoder: str = "torch") -> None:
        super().__init__(model, encoder=encoder)
        self.cache = cache
        self.computed = 0

    def _store(self, kind: str) -> Path:
        prompt = self.prompts[kind]
        # torch keeps its old key, so caches made before encoder backends stay valid.
        backend = "" if self.backend == "torch" else f"\x00{self.backend}-{self.requested_precision}"
        key = hashlib.sha256(f"{self.model_id}\x00{prompt}{backend}".encode()).hexdigest()[:16]
        return self.cache / f"vectors-{kind}-{key}.npz"

    def _cached(
        self, texts: Sequence[str], kind: str, compute: Callable[[Sequence[str]], np.ndarray]
    ) -> np.ndarray:
        path = self._store(kind)
        known: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path) as saved:
                known = dict(zip(saved["keys"].tolist(), saved["vectors"], strict=True))
        keys = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in known}.items())
        if missing:
            vectors = compute([t for _, t in missing])
            self.computed += len(missing)
            known.update(zip((k for k, _ in missing), vectors, strict=True))
            self.cache.mkdir(parents=True, exist_ok=True)
            np.savez(path, keys=np.array(list(known)), vectors=np.stack(list(known.values())))
        if not keys:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([known[k] for k in keys]).astype(np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Encode questions, from the cache when possible."""
        return self._cached(texts, "query", super().encode_queries)

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Encode passages, from the cache when possible."""
        return self._cached(texts, "passage", super().encode_passages)


def fmt(cells: tuple[float, ...]) -> str:
    """Return a1/a3/mrr as one cell."""
    return "/".join(f"{c:.3f}" for c in cells)

"""The embedding cache: vectors of an unfinished reindex, kept on disk in chunks by passage id."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from embeddings.backend import Ids, Matrix, Vector


class EmbeddingCache:
    """Vectors a reindex has embedded so far, kept on disk so a killed run's successor need not redo them."""

    def __init__(
        self, directory: Path, model: str, dimension: int, prompts: Mapping[str, str], family: str = "float"
    ) -> None:
        self.directory = directory
        self.dimension = dimension
        key = {"model": model, "dimension": dimension, "prompts": dict(prompts), "vectors": family}
        try:
            valid = json.loads((self.directory / "meta.json").read_text(encoding="utf-8")) == key
        except (OSError, ValueError):
            valid = False
        if not valid:  # another model's vectors must never be reused
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory.mkdir(parents=True)
            (self.directory / "meta.json").write_text(json.dumps(key), encoding="utf-8")
        numbers = (p.stem.removeprefix("chunk-") for p in self.directory.glob("chunk-*.npz"))
        self.count = max((int(n) for n in numbers if n.isdigit()), default=0)

    def load(self) -> dict[int, Vector]:
        """Return the cached vectors by passage id (unreadable chunks, e.g. cut by a kill, are ignored)."""
        cached: dict[int, Vector] = {}
        for path in sorted(self.directory.glob("chunk-*.npz")):
            try:
                with np.load(path) as data:
                    ids, vectors = data["ids"], data["vectors"]
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
                continue  # empty (EOFError) or cut short (BadZipFile) by a crash
            if vectors.ndim == 2 and vectors.shape[1] == self.dimension and len(ids) == len(vectors):
                cached.update(zip(ids.tolist(), vectors, strict=True))
        return cached

    def save(self, ids: Ids, vectors: Matrix) -> None:
        """Add one chunk atomically (written aside, then renamed)."""
        self.count += 1
        temp = self.directory / f".chunk-{self.count:06d}.tmp"
        with temp.open("wb") as out:
            np.savez(out, ids=ids, vectors=vectors)
        os.replace(temp, self.directory / f"chunk-{self.count:06d}.npz")

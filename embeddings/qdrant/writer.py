"""A Qdrant generation being written: a new collection for a full build, the live one updated in place.

The writer keeps the reindex's upserts and deletes until commit, then writes them: the new passages
first, then the deletes, then the changed page records (the manifest of what is indexed), so a page
present before and after never leaves the answers. A killed commit leaves page records that no
longer match; the next run redoes those pages and deletes every point of theirs it did not write,
which converges on what a fresh build holds. The engine keeps the BM25 statistics, so nothing
corpus-wide is rebuilt.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.backend import Matrix
from embeddings.cache import EmbeddingCache
from embeddings.manifest import Encoding, Manifest, new_manifest
from embeddings.models import Passage, citation
from embeddings.page_diff import page_fingerprints
from embeddings.page_table import PageRecord
from embeddings.qdrant import generations
from embeddings.qdrant.generations import Layout
from embeddings.qdrant.index import QdrantIndex
from embeddings.qdrant.points import average_length, point_of

log = logging.getLogger(__name__)


class QdrantWriter:
    """Builds one generation: on the live collection (base given) or in a new one (base None)."""

    def __init__(
        self, client: Any, layout: Layout, scratch_dir: Path, base: Manifest | None, records: dict[str, Any]
    ) -> None:
        self.client, self.layout, self.scratch_dir = client, layout, scratch_dir
        self._base = base
        self._records = records  # the base's page records (doc -> payload)
        self._index = QdrantIndex(client, base.generation) if base is not None else None
        self._stored: dict[int, Passage] = {}  # base passages read so far
        self._upserts: list[Passage] = []
        self._vectors: list[Matrix] = []
        self._deletes: set[int] = set()

    @property
    def base(self) -> Manifest | None:
        """Return the manifest of the live generation written in place (None: a new collection)."""
        return self._base

    def base_passages(self, docs: Collection[str] | None = None) -> Sequence[Passage]:
        """Return every point stored under the pages docs (all for None), a killed run's included."""
        if self._index is None:
            return []
        wanted = self._records.keys() if docs is None else docs
        found = [p for doc in sorted(set(wanted)) for p in self._index.page(doc)]
        self._stored.update((p.id, p) for p in found)
        return found

    def base_fingerprints(self) -> dict[str, str]:
        """Return each base page's text fingerprint, kept in its page record."""
        return {doc: str(r["fingerprint"]) for doc, r in self._records.items()}

    def base_vectors(self, ids: Sequence[int]) -> Matrix:
        """Return the stored vectors of these passage ids, in the order given."""
        if self._index is None:
            raise KeyError("a fresh generation has no base vectors")
        stored = self._index.vectors(ids)
        return np.stack([stored[int(i)] for i in ids]).astype(np.float32)

    def scratch(self, encoding: Encoding) -> EmbeddingCache:
        """Return the interrupted-run vectors of this encoding, kept beside the reindex lock."""
        return EmbeddingCache(
            self.scratch_dir, encoding.model, encoding.dimension, encoding.prompts, encoding.family
        )

    def delete(self, ids: Sequence[int]) -> None:
        """Delete passages at commit, after the upserts."""
        self._deletes.update(int(i) for i in ids)

    def upsert(self, passages: Sequence[Passage], vectors: Matrix) -> None:
        """Write passages with their vectors at commit (rows in passage order)."""
        if len(passages) != len(vectors):
            raise ValueError(f"{len(passages)} passages for {len(vectors)} vectors")
        self._upserts.extend(passages)
        self._vectors.append(np.asarray(vectors, dtype=np.float32))

    def commit(
        self,
        pages: Mapping[str, PageRecord],
        encoding: Encoding,
        source: str,
        calibration: Mapping[str, Any] | None = None,
    ) -> Manifest:
        """Write the upserts, the deletes, then the page records; a new collection then goes live."""
        name = self._base.generation if self._base is not None else self.layout.new_name()
        count = sum(len(r.passage_ids) for r in pages.values())
        manifest = new_manifest(pages, count, encoding, source, "qdrant-hnsw", name, calibration)
        if self._base is None:
            avgdl = average_length([p.text for p in self._upserts])
            generations.create(self.client, self.layout, name, encoding.dimension, _metadata(manifest, avgdl))
        else:
            avgdl = float(generations.metadata(self.client, name)["avgdl"])
        index = QdrantIndex(self.client, name)
        vectors = np.concatenate(self._vectors) if self._vectors else np.zeros((0, encoding.dimension))
        index.upsert([point_of(p, v, avgdl) for p, v in zip(self._upserts, vectors, strict=True)])
        if self._deletes - {p.id for p in self._upserts}:
            index.delete(self._deletes - {p.id for p in self._upserts})
        self._write_records(index, pages)
        self.client.update_collection(name, metadata=_metadata(manifest, avgdl, "ready"))
        if self._base is None:
            generations.switch(self.client, self.layout, name)
            generations.prune(self.client, self.layout)
        shutil.rmtree(self.scratch_dir, ignore_errors=True)  # its vectors are in the engine now
        return manifest

    def _write_records(self, index: QdrantIndex, pages: Mapping[str, PageRecord]) -> None:
        """Write the page records that changed and drop those of pages that left."""
        fresh = {p.id: p for p in self._upserts}
        touched = {p.doc for p in self._upserts}
        changed = {}
        for doc, rec in pages.items():
            old = self._records.get(doc)
            if doc in touched or old is None or old.get("content_hash") != rec.content_hash:
                passages = [fresh.get(i) or self._stored.get(i) for i in rec.passage_ids]
                known = [p for p in passages if p is not None]
                if len(known) != len(passages):
                    known = list(index.page(doc))
                changed[doc] = _record(doc, rec, known)
        if changed:
            index.put_pages(changed)
        index.drop_pages(sorted(self._records.keys() - pages.keys()))


def _record(doc: str, rec: PageRecord, passages: Sequence[Passage]) -> dict[str, Any]:
    """Return a page record: what the next scan is diffed against, and its headline."""
    first = passages[0]
    return {
        "doc": doc,
        "content_hash": rec.content_hash,
        "passage_ids": list(rec.passage_ids),
        "fingerprint": page_fingerprints(passages)[doc],
        **citation(first),
    }


def _metadata(manifest: Manifest, avgdl: float, state: str = "building") -> dict[str, Any]:
    """Return a collection's metadata: its manifest without the pages, the BM25 avgdl and its state."""
    meta = {k: v for k, v in asdict(manifest).items() if k not in ("pages", "generation")}
    return meta | {"prompts": dict(manifest.prompts), "avgdl": avgdl, "state": state}

"""The Qdrant backend's IndexStore: generations are collections, the `<prefix>` alias is the live one.

A full build (or the first) writes a new collection and moves the aliases atomically; the previous
one stays for rollback, and a collection no alias names (a killed build) is deleted by the next run.
An incremental run updates the live collection in place (embeddings.qdrant.writer). Each
collection's metadata is its manifest without the pages; the pages are the points of
`<collection>-pages`. The reindex lock is a flock in a local directory (one writer per deployment).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from embeddings.errors import FULL_FIX, IndexCorrupt
from embeddings.lock import file_lock
from embeddings.manifest import Manifest, manifest_from_json
from embeddings.page_table import PageRecord
from embeddings.qdrant import generations
from embeddings.qdrant.generations import Layout
from embeddings.qdrant.index import QdrantIndex
from embeddings.qdrant.reader import QdrantReader
from embeddings.qdrant.writer import QdrantWriter


class QdrantStore:
    """An IndexStore in a Qdrant engine (server, cluster or in-process), locked in lock_dir."""

    def __init__(self, client: Any, layout: Layout, lock_dir: Path | str) -> None:
        self.client = client
        self.layout = layout
        self.lock_dir = Path(lock_dir)

    @property
    def location(self) -> str:
        """Return where the index is, for messages."""
        return f"Qdrant alias {self.layout.live}"

    def live(self) -> str | None:
        """Return the collection the live alias names, or None (one get_aliases call)."""
        return generations.aliases(self.client, self.layout).get(self.layout.live)

    def _name(self, generation: str | None) -> str:
        """Return the collection of generation (the live one for None); raises IndexMissing."""
        return generations.live_collection(self.client, self.layout) if generation is None else generation

    def manifest(self, generation: str | None = None) -> Manifest:
        """Return a generation's manifest: its collection's metadata and its page records."""
        return self._manifest(self._name(generation))[0]

    def _finished(self, name: str) -> dict[str, Any]:
        """Return a collection's metadata; raises IndexCorrupt for one a killed build left unfinished."""
        meta = generations.metadata(self.client, name)
        if meta.get("state") != "ready":
            raise IndexCorrupt(f"the Qdrant collection {name} was never finished; {FULL_FIX}")
        return meta

    def _manifest(self, name: str) -> tuple[Manifest, dict[str, Any]]:
        """Return a collection's manifest and its page records; raises IndexCorrupt for an unfinished one."""
        meta = self._finished(name)
        records = QdrantIndex(self.client, name).page_records()
        try:
            pages = {
                doc: PageRecord(str(r["content_hash"]), tuple(int(i) for i in r["passage_ids"]))
                for doc, r in records.items()
            }
            manifest = manifest_from_json(json.dumps(meta | {"pages": {}, "generation": name}))
        except (KeyError, TypeError, ValueError) as exc:
            raise IndexCorrupt(
                f"the Qdrant collection {name} has unreadable metadata ({exc}); {FULL_FIX}"
            ) from exc
        return replace(manifest, pages=pages), records

    def open(self, generation: str | None = None) -> QdrantReader:
        """Open a generation for queries: the live one through the alias, so a switch is followed at once."""
        name = self._name(generation)
        self._finished(name)
        return QdrantReader(QdrantIndex(self.client, self.layout.live if name == self.live() else name))

    @contextmanager
    def begin(self, *, fresh: bool = False) -> Iterator[QdrantWriter]:
        """Lock, delete collections no alias names, and write on the live collection (fresh: a new one)."""
        with self._lock():
            generations.prune(self.client, self.layout)
            live = None if fresh else self.live()
            base, records = self._manifest(live) if live is not None else (None, {})
            yield QdrantWriter(self.client, self.layout, self._scratch_dir(), base, records)

    def _lock(self) -> AbstractContextManager[None]:
        """Return the reindex lock of this deployment (a flock beside the scratch vectors)."""
        return file_lock(self.lock_dir / f"qdrant-{self.layout.prefix}-reindex", self.location)

    def _scratch_dir(self) -> Path:
        """Return where an unfinished run's vectors are kept."""
        return self.lock_dir / f"qdrant-{self.layout.prefix}-scratch"

    def rollback(self, check: Callable[[Manifest], None] | None = None) -> Manifest:
        """Make the previous collection live again (unless check refuses its manifest) and return it."""
        with self._lock():
            before = generations.previous_collection(self.client, self.layout)
            manifest = self.manifest(before)
            if check is not None:
                check(manifest)
            generations.switch(self.client, self.layout, before)
            return manifest

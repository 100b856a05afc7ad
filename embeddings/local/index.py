"""The local backend: generations as directories under one index directory, FAISS and BM25 segments inside."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from embeddings.errors import IndexMissing
from embeddings.local import generations as gen
from embeddings.local.reader import LocalReader
from embeddings.local.writer import LocalWriter
from embeddings.manifest import Manifest


class LocalIndex:
    """An IndexStore on local files: `current` and `previous` links to generation directories."""

    def __init__(self, index_dir: Path | str) -> None:
        self.index_dir = Path(index_dir)

    @property
    def location(self) -> str:
        """Return where the index is, for messages."""
        return str(self.index_dir)

    def live(self) -> str | None:
        """Return the name of the live generation, or None when there is none (one readlink)."""
        return gen.link_target(self.index_dir, gen.CURRENT)

    def _generation(self, name: str | None) -> Path:
        """Return the directory of generation name (the live one for None); raises IndexMissing."""
        if name is None or not (self.index_dir / name).is_dir():
            return gen.current_generation(self.index_dir)
        return self.index_dir / name

    def manifest(self, generation: str | None = None) -> Manifest:
        """Return a generation's manifest (the live one by default); raises IndexMissing or IndexCorrupt."""
        return gen.load_manifest(self._generation(generation))

    def open(self, generation: str | None = None) -> LocalReader:
        """Load a generation (the live one by default) fully into memory for queries."""
        return LocalReader.load(self._generation(generation))

    @contextmanager
    def begin(self, *, fresh: bool = False) -> Iterator[LocalWriter]:
        """Lock the directory, prune leftovers and start a generation on the live one (fresh: on nothing)."""
        with gen.index_lock(self.index_dir):
            gen.prune(self.index_dir)
            base_dir: Path | None = None
            if not fresh:
                try:
                    base_dir = gen.current_generation(self.index_dir)
                except IndexMissing:
                    base_dir = None
            base = gen.load_manifest(base_dir) if base_dir is not None else None
            yield LocalWriter(self.index_dir, base_dir, base)

    def rollback(self, check: Callable[[Manifest], None] | None = None) -> Manifest:
        """Make the previous generation live again (unless check refuses its manifest) and return it."""
        return gen.rollback(self.index_dir, check)

"""The indexed pages of a generation: a record per page, and the column table the manifest keeps."""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

Ids = npt.NDArray[np.int64]


@dataclass(frozen=True)
class PageRecord:
    """One indexed page: the hash of its bytes and the ids of its passages, in page order."""

    content_hash: str
    passage_ids: tuple[int, ...]

    @property
    def count(self) -> int:
        """Return how many passages the page has."""
        return len(self.passage_ids)


class PageTable(Mapping[str, PageRecord]):
    """Every indexed page, in columns: paths (sorted), content hashes, passage counts and all passage
    ids in page order. A PageRecord is made only for a page asked for, so a reindex that adds one page
    to 10,000 costs a few list and array operations, not 10,000 records.
    """

    def __init__(
        self,
        paths: Sequence[str],
        hashes: Sequence[str],
        counts: Ids,
        ids: Ids,
        prints: Sequence[str] | None = None,
    ) -> None:
        """Hold pages already in path order (prints: each page's text fingerprint, when known); raises
        ValueError when the columns disagree."""
        if (
            not (len(paths) == len(hashes) == counts.shape[0])
            or int(counts.sum()) != ids.shape[0]
            or (prints is not None and len(prints) != len(paths))
        ):
            raise ValueError(
                f"a page table of {len(paths)} paths, {len(hashes)} hashes, {counts.shape[0]} counts "
                f"summing to {int(counts.sum())}, {ids.shape[0]} passage ids and "
                f"{'no' if prints is None else len(prints)} fingerprints"
            )
        self.paths, self.hashes = list(paths), list(hashes)
        self.counts = counts.astype(np.int64, copy=False)
        self.ids = ids.astype(np.int64, copy=False)
        self.prints = None if prints is None else list(prints)
        self.starts = np.cumsum(self.counts) - self.counts
        self._rows: dict[str, int] | None = None

    def with_prints(self, prints: Mapping[str, str]) -> PageTable:
        """Return the table with each page's text fingerprint from prints ("" where it has none)."""
        return PageTable(
            self.paths, self.hashes, self.counts, self.ids, [prints.get(p, "") for p in self.paths]
        )

    def fingerprints(self) -> dict[str, str] | None:
        """Return each page's text fingerprint by path (None: the table does not hold them)."""
        if self.prints is None:
            return None
        return {p: f for p, f in zip(self.paths, self.prints, strict=True) if f}

    def save(self, file: BinaryIO) -> None:
        """Write the table as six numpy arrays, one np.save after the other: paths, content hashes and
        text fingerprints, each one newline-joined UTF-8 blob (no page name holds a control character),
        the page count and whether fingerprints are held, counts, ids. A blob per column reads and
        writes at C speed; np.savez would add a zip's CRC over it all."""
        prints = self.prints if self.prints is not None else []
        for column in (self.paths, self.hashes, prints):
            np.save(file, _blob(column))
        np.save(file, np.array([len(self.paths), int(self.prints is not None)], dtype=np.int64))
        np.save(file, self.counts)
        np.save(file, self.ids)

    @classmethod
    def load(cls, path: Path) -> PageTable:
        """Read a table save wrote; raises ValueError or OSError when it is damaged."""
        try:
            with path.open("rb") as file:
                blobs = [np.load(file, allow_pickle=False) for _ in range(3)]
                (pages, has_prints), counts, ids = (np.load(file, allow_pickle=False) for _ in range(3))
                paths, hashes = _unblob(blobs[0], int(pages)), _unblob(blobs[1], int(pages))
                prints = _unblob(blobs[2], int(pages)) if has_prints else None
        except (EOFError, UnicodeDecodeError, ValueError) as exc:
            raise ValueError(f"{path.name} is damaged ({exc})") from exc
        if paths != sorted(paths) or len(set(paths)) != len(paths):
            raise ValueError(f"{path.name}: the pages are not in path order, or one is listed twice")
        return cls(paths, hashes, counts, ids, prints)

    @classmethod
    def of(cls, pages: Mapping[str, PageRecord]) -> PageTable:
        """Return the table of pages (itself when it is one)."""
        if isinstance(pages, PageTable):
            return pages
        paths = sorted(pages)
        records = [pages[p] for p in paths]
        ids = [i for r in records for i in r.passage_ids]
        return cls(
            paths,
            [r.content_hash for r in records],
            np.array([r.count for r in records], dtype=np.int64),
            np.array(ids, dtype=np.int64),
        )

    def _row(self, path: str) -> int:
        if self._rows is None:
            self._rows = dict(zip(self.paths, range(len(self.paths)), strict=True))
        return self._rows[path]

    def __getitem__(self, path: str) -> PageRecord:
        row = self._row(path)
        start = int(self.starts[row])
        ids = self.ids[start : start + int(self.counts[row])].tolist()
        return PageRecord(self.hashes[row], tuple(ids))

    def __contains__(self, path: object) -> bool:
        try:
            self._row(path)  # type: ignore[arg-type]
        except (KeyError, TypeError):
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def passages(self) -> int:
        """Return how many passages the pages have."""
        return int(self.ids.shape[0])

    def content_hashes(self) -> dict[str, str]:
        """Return each page's content hash by path."""
        return dict(zip(self.paths, self.hashes, strict=True))

    def replaced(self, gone: Collection[str], fresh: Mapping[str, PageRecord]) -> PageTable:
        """Return the table without the pages gone, with the fresh pages added (or replacing theirs)."""
        drop = set(gone) | set(fresh)
        keep = np.fromiter((p not in drop for p in self.paths), dtype=bool, count=len(self.paths))
        kept_rows = np.flatnonzero(keep)
        added = PageTable.of(fresh)
        kept_list = kept_rows.tolist()
        paths = [self.paths[r] for r in kept_list] + added.paths
        hashes = [self.hashes[r] for r in kept_list] + added.hashes
        counts = np.concatenate([self.counts[kept_rows], added.counts])
        rows = np.repeat(keep, self.counts)
        ids = np.concatenate([self.ids[rows], added.ids])
        order = sorted(range(len(paths)), key=paths.__getitem__)
        if order == list(range(len(paths))):
            return PageTable(paths, hashes, counts, ids)
        starts = np.cumsum(counts) - counts
        perm = np.array(order, dtype=np.int64)
        picked = counts[perm]
        base = np.repeat(starts[perm] - (np.cumsum(picked) - picked), picked)
        gather = base + np.arange(int(picked.sum()), dtype=np.int64)
        return PageTable([paths[i] for i in order], [hashes[i] for i in order], picked, ids[gather])

    def fingerprint(self) -> str:
        """Return a sha256 over the paths and the content hashes (corpus_fingerprint's value)."""
        digest = hashlib.sha256("\n".join(self.paths).encode())
        digest.update(b"\x00")
        digest.update("\n".join(self.hashes).encode())
        return digest.hexdigest()


def _blob(texts: Sequence[str]) -> npt.NDArray[np.uint8]:
    """Return texts as one newline-joined UTF-8 array (PageTable.save)."""
    return np.frombuffer("\n".join(texts).encode(), dtype=np.uint8)


def _unblob(blob: npt.NDArray[np.uint8], count: int) -> list[str]:
    """Return the count texts of a _blob; raises ValueError when it holds another number."""
    texts = blob.tobytes().decode().split("\n") if count else []
    if len(texts) != count:
        raise ValueError(f"{len(texts)} texts for {count} pages")
    return texts

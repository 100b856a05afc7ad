"""What a page's file looked like when its bytes were last hashed, so a rescan need not read it again.

A reindex reads and hashes every page to find the changed ones: at a million pages that is tens of
gigabytes read for a run that finds nothing new. Like git's index, this memo keeps each page's file
identity (size, modification and change times in nanoseconds, inode) beside the hash of the bytes
read under that identity. A page whose file still has the same identity, and whose memo hash is the
one the index holds, is unchanged without being read. Anything else (no entry, another identity, a
memo from another corpus directory, an unreadable memo) reads the page as before.

A file written in the same instant as its hash was taken could change again without a new time
("racily clean" in git's words); entries younger than RACY_NS at the scan's start are not kept.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

FileKey = tuple[int, int, int, int]  # size, mtime_ns, ctime_ns, inode
RACY_NS = 2_000_000_000  # coarser than any file system's timestamps (FAT keeps 2 s)
VERSION = 1


def file_key(status: os.stat_result) -> FileKey:
    """Return the identity of a file's bytes as the memo keeps it."""
    return (status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino)


@dataclass
class PageStats:
    """The memo of one corpus directory, kept in file: path -> (file key, sha256 of the bytes read
    under that key)."""

    file: Path
    location: str
    entries: dict[str, tuple[FileKey, str]] = field(default_factory=dict)
    started_ns: int = field(default_factory=time.time_ns)

    @classmethod
    def load(cls, file: Path, location: str) -> PageStats:
        """Return the memo kept in file for the corpus at location; an empty one when there is none,
        it is unreadable or it was kept for another directory."""
        try:
            with file.open("rb") as handle:
                header, paths, hashes, keys = (np.load(handle, allow_pickle=False) for _ in range(4))
            if bytes(header).decode("utf-8").split("\n") != [str(VERSION), location]:
                return cls(file, location)
            names = bytes(paths).decode("utf-8").split("\n") if paths.size else []
            digests = bytes(hashes).decode("ascii").split("\n") if hashes.size else []
            rows = keys.reshape(-1, 4).tolist()
            entries = {n: ((r[0], r[1], r[2], r[3]), d) for n, d, r in zip(names, digests, rows, strict=True)}
        except FileNotFoundError:
            return cls(file, location)
        except (OSError, ValueError, EOFError) as exc:  # cut short, or not a memo: zip(strict) disagrees
            log.warning("ignoring the page memo %s (%s): every page is read", file, exc)
            return cls(file, location)
        return cls(file, location, entries)

    def same_as(self, path: str, known_hash: str | None) -> FileKey | None:
        """Return the file key under which path's bytes hashed to known_hash, or None."""
        entry = self.entries.get(path)
        if entry is None or known_hash is None or entry[1] != known_hash:
            return None
        return entry[0]

    def update(self, seen: Iterable[tuple[str, FileKey | None, str | None]]) -> None:
        """Keep what a scan of every page saw: (path, file key, content hash) per page. Pages it did
        not see are gone, and a page changed too lately to trust its times is left out."""
        limit = self.started_ns - RACY_NS
        self.entries = {
            path: (key, digest)
            for path, key, digest in seen
            if key is not None and digest is not None and max(key[1], key[2]) < limit
        }

    def save(self) -> None:
        """Write the memo atomically (a crash leaves the old one or none, never half of one). The
        caller holds the index lock, so a temporary file of another process is a killed run's."""
        file = self.file
        names = sorted(self.entries)
        keys = np.array([self.entries[n][0] for n in names], dtype=np.int64).reshape(-1, 4)
        temp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            for stale in file.parent.glob(f".{file.name}.*.tmp"):
                stale.unlink(missing_ok=True)
            with temp.open("wb") as handle:
                for column in (
                    f"{VERSION}\n{self.location}".encode(),
                    "\n".join(names).encode("utf-8"),
                    "\n".join(self.entries[n][1] for n in names).encode("ascii"),
                ):
                    np.save(handle, np.frombuffer(column, dtype=np.uint8), allow_pickle=False)
                np.save(handle, keys, allow_pickle=False)
            os.replace(temp, file)
        except OSError as exc:  # a read-only or full disk: the next scan reads every page, as before
            log.warning("cannot keep the page memo in %s (%s)", file, exc)
            temp.unlink(missing_ok=True)

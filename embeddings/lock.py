"""The reindex lock every backend holds while it writes: a flock on one file, gone with the process."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from os import getpid
from pathlib import Path

from embeddings.errors import IndexBusy


@contextmanager
def file_lock(path: Path, what: str) -> Iterator[None]:
    """Hold an exclusive flock on path (its pid written in it); raises IndexBusy naming what is locked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise IndexBusy(
                f"another reindex of {what} is running (pid {holder}); wait for it to finish, then try again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

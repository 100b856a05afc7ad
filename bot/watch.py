"""The watched corpus folder: a snapshot of its pages (size and mtime) and when a change has settled.

A polling snapshot rather than filesystem events (inotify, watchfiles): a corpus is often a bind
mount, an NFS or SMB share or a Docker Desktop volume, where events never arrive, and one code path
that works everywhere is easier to trust than events plus a fallback. A look costs one stat per page
(about 50 ms per 10,000 pages), and a missed event cannot leave the index stale.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from corpus.load import list_pages

Snapshot = dict[str, tuple[int, int]]  # page path (relative, POSIX) -> (size, mtime in ns)


def snapshot(root: Path) -> Snapshot:
    """Return the size and modification time of every page under root (empty when root is missing)."""
    if not root.is_dir():
        return {}
    found: Snapshot = {}
    for rel in list_pages(root):
        try:
            st = os.stat(root / rel)
        except OSError:  # gone between the listing and the stat: the next look sees it gone
            continue
        found[rel] = (st.st_size, st.st_mtime_ns)
    return found


@dataclass
class Settle:
    """Tells when a series of changes has gone quiet for `quiet` seconds (a debounce over snapshots)."""

    quiet: float
    last: Snapshot = field(default_factory=dict)
    changed_at: float | None = None  # when the latest unsettled change was seen

    def look(self, now: float, current: Snapshot) -> bool:
        """Take a new snapshot taken at `now`; return True once when the changes have settled."""
        if current != self.last:
            self.last = current
            self.changed_at = now
        if self.changed_at is not None and now - self.changed_at >= self.quiet:
            self.changed_at = None
            return True
        return False

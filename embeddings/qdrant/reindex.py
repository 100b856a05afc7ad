"""Bring a Qdrant generation in line with the corpus: a new collection for a full build, in place otherwise.

Incremental runs touch only changed pages: per page, new passages are written before the page's
other points are deleted (so a page present before and after never leaves the answers), then its
page record is updated. The engine keeps the BM25 statistics, so nothing corpus-wide is rebuilt.
A killed run leaves page records that no longer match; the next run redoes those pages and deletes
any point of theirs it did not write itself, which converges on what a fresh build holds.
"""

from __future__ import annotations

import fcntl
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from corpus.errors import CorpusError
from corpus.load import article_fingerprint
from corpus.models import Article
from embeddings.backend import TextEncoder
from embeddings.errors import IndexBusy, IndexMismatch
from embeddings.ids import passages_of
from embeddings.models import Passage, ReindexProgress, ReindexReport
from embeddings.page_diff import PageDiff, diff_pages, nothing_to_index
from embeddings.qdrant import generations
from embeddings.qdrant.generations import Layout
from embeddings.qdrant.index import QdrantIndex
from embeddings.qdrant.points import average_length, point_of
from embeddings.reindex import PageSource

log = logging.getLogger(__name__)

Progress = Callable[[ReindexProgress], None]

SCHEMA = 1
LOCK_NAME = "qdrant-reindex-lock"
PAGES_PER_BATCH = 64
FULL_FIX = "run `quotebot index --full` to rebuild it"


@dataclass(frozen=True)
class Target:
    """The collection a run writes and what its metadata says."""

    index: QdrantIndex
    name: str
    fresh: bool  # a new collection (full build) rather than the live one
    avgdl: float


@contextmanager
def reindex_lock(directory: Path) -> Iterator[None]:
    """Hold the Qdrant reindex lock (a flock in directory); raises IndexBusy when another run holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / LOCK_NAME).open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy(f"another Qdrant reindex is running (lock {directory / LOCK_NAME})") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _teller(progress: Progress | None) -> Callable[[str, int, int, int, int], None]:
    """Return a function that reports (stage, pages scanned, pages changed, pages written, to write)."""

    def tell(stage: str, scanned: int, changed: int, done: int, total: int) -> None:
        if progress is not None:
            progress(ReindexProgress(stage, scanned, scanned, changed, done, total, None))

    return tell


def metadata_of(encoder: TextEncoder, avgdl: float, state: str) -> dict[str, Any]:
    """Return a generation's metadata: how its vectors and BM25 weights were made."""
    created = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return {
        "schema": SCHEMA,
        "model": encoder.model_id,
        "dimension": encoder.dimension,
        "prompts": dict(encoder.prompts),
        "avgdl": avgdl,
        "state": state,
        "created": created,
    }


def check_encoder(meta: dict[str, Any], encoder: TextEncoder) -> None:
    """Raise IndexMismatch when the encoder's vectors cannot join or query this generation."""
    wanted = {"schema": SCHEMA, "model": encoder.model_id, "dimension": encoder.dimension}
    wanted["prompts"] = dict(encoder.prompts)
    for key, value in wanted.items():
        if meta.get(key) != value:
            raise IndexMismatch(
                f"the Qdrant index was built with {key} {meta.get(key)!r}, not {value!r}; {FULL_FIX}"
            )


def collection_metadata(client: Any, name: str) -> dict[str, Any]:
    """Return the metadata of a collection ({} when it has none)."""
    return dict(client.get_collection(name).config.metadata or {})


def sync(
    client: Any,
    layout: Layout,
    pages: PageSource,
    encoder: TextEncoder,
    lock_dir: Path,
    *,
    full: bool = False,
    progress: Progress | None = None,
) -> ReindexReport:
    """Index the pages into Qdrant (incrementally unless full) under the reindex lock in lock_dir."""
    started = time.monotonic()
    tell = _teller(progress)
    with reindex_lock(Path(lock_dir)):
        generations.prune(client, layout)
        live = generations.aliases(client, layout).get(layout.live)
        records = {} if full or live is None else QdrantIndex(client, live).page_records()
        if live is not None and not full:
            check_encoder(collection_metadata(client, live), encoder)
        known = {doc: str(r["content_hash"]) for doc, r in records.items()}
        pages.count()  # raises CorpusError for a corpus without pages
        results = list(pages.scan(known))
        tell("scan", len(results), sum(r.status == "ok" for r in results), 0, 0)
        diff = diff_pages(known, results, {doc: str(r["fingerprint"]) for doc, r in records.items()})
        if live is not None and not full and not diff.changes_index:
            tell("done", len(results), 0, 0, 0)
            return report(diff, QdrantIndex(client, live).count(), started, full)
        if not diff.kept and not diff.fresh:
            raise CorpusError(nothing_to_index(pages.location, diff))
        target = open_target(client, layout, live, encoder, diff, full)
        apply(
            target,
            diff,
            encoder,
            lambda done, total: tell("embed", len(results), len(diff.fresh), done, total),
        )
        tell("done", len(results), len(diff.fresh), 0, 0)
        if target.fresh:
            meta = collection_metadata(client, target.name) | {"state": "ready"}
            client.update_collection(target.name, metadata=meta)
            generations.switch(client, layout, target.name)
            generations.prune(client, layout)
        return report(diff, target.index.count(), started, full)


def open_target(
    client: Any, layout: Layout, live: str | None, encoder: TextEncoder, diff: PageDiff, full: bool
) -> Target:
    """Return the collection to write: the live one, or a new one (state "building") for a full build."""
    if live is not None and not full:
        meta = collection_metadata(client, live)
        return Target(QdrantIndex(client, live), live, False, float(meta["avgdl"]))
    texts = [p.text for a in diff.fresh for p in passages_of(a)]
    avgdl = average_length(texts)
    name = layout.new_name()
    generations.create(client, layout, name, encoder.dimension, metadata_of(encoder, avgdl, "building"))
    return Target(QdrantIndex(client, name), name, True, avgdl)


def apply(
    target: Target, diff: PageDiff, encoder: TextEncoder, pages_done: Callable[[int, int], None]
) -> None:
    """Write the fresh pages in batches, then delete the pages that left the corpus."""
    fresh = list(diff.fresh)
    for start in range(0, len(fresh), PAGES_PER_BATCH):
        write_pages(target, fresh[start : start + PAGES_PER_BATCH], encoder)
        pages_done(min(start + PAGES_PER_BATCH, len(fresh)), len(fresh))
    gone = [*diff.removed, *diff.dropped]
    for doc in gone:
        target.index.delete(target.index.page_ids(doc))
    target.index.drop_pages(gone)


def write_pages(target: Target, articles: Sequence[Article], encoder: TextEncoder) -> None:
    """Upsert the passages of articles not already stored, delete their stale points, record the pages."""
    index = target.index
    pages = {a.path: _unique(passages_of(a)) for a in articles}
    before = {doc: set() if target.fresh else index.page_ids(doc) for doc in pages}
    todo = [p for doc, ps in pages.items() for p in ps if p.id not in before[doc]]
    vectors = embed(index, todo, {i for ids in before.values() for i in ids}, encoder)
    index.upsert([point_of(p, v, target.avgdl) for p, v in zip(todo, vectors, strict=True)])
    stale = {i for doc, ids in before.items() for i in ids - {p.id for p in pages[doc]}}
    if stale:
        index.delete(stale)
    index.put_pages({a.path: page_record(a, pages[a.path]) for a in articles})


def embed(
    index: QdrantIndex, todo: Sequence[Passage], old_ids: Iterable[int], encoder: TextEncoder
) -> np.ndarray:
    """Return vectors for todo, reusing the stored vector of an old point with the same text."""
    old_ids = list(old_ids)
    by_text: dict[str, np.ndarray] = {}
    if old_ids:
        old = index.passages(old_ids)
        stored = index.vectors(old_ids)
        by_text = {old[i].text: stored[i] for i in old if i in stored}
    missing = [p.text for p in todo if p.text not in by_text]
    if missing:
        by_text.update(zip(missing, encoder.encode_passages(missing), strict=True))
    if not todo:
        return np.zeros((0, encoder.dimension), dtype=np.float32)
    return np.stack([by_text[p.text] for p in todo]).astype(np.float32)


def page_record(article: Article, passages: Sequence[Passage]) -> dict[str, Any]:
    """Return what a page record keeps: enough to diff the next scan and list headlines."""
    return {
        "doc": article.path,
        "content_hash": article.content_hash,
        "fingerprint": article_fingerprint(article),
        "title": article.title,
        "outlet": article.outlet,
        "url": article.url,
        "date": article.date,
        "passages": len(passages),
    }


def _unique(passages: Sequence[Passage]) -> list[Passage]:
    """Drop passages whose id repeats (a paragraph listed twice)."""
    seen: dict[int, Passage] = {}
    for p in passages:
        seen.setdefault(p.id, p)
    return list(seen.values())


def report(diff: PageDiff, passages: int, started: float, full: bool) -> ReindexReport:
    """Summarise a run."""
    return ReindexReport(
        added=diff.added,
        updated=diff.updated,
        removed=len(diff.removed),
        unchanged=len(diff.kept) + diff.reparsed,
        skipped=len(diff.skipped),
        failed=diff.failed,
        passages=passages,
        seconds=time.monotonic() - started,
        full=full,
        skipped_reasons=diff.skipped,
    )

"""The reindex: diff scanned pages against the live generation, embed only what is new, commit."""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np

from corpus.errors import CorpusError
from embeddings import calibration
from embeddings.backend import (
    EmbeddingScratch,
    GenerationWriter,
    IndexStore,
    Matrix,
    TextEncoder,
    encoder_mismatch,
)
from embeddings.calibration import Calibration
from embeddings.errors import FULL_FIX, IndexMismatch
from embeddings.ids import passages_of
from embeddings.manifest import Encoding, Manifest, encoder_setting, mismatch, package_version
from embeddings.models import Passage, ReindexReport
from embeddings.page_diff import PageDiff, diff_pages, nothing_to_index
from embeddings.page_table import PageRecord, PageTable
from embeddings.progress import Progress, Reporter

if TYPE_CHECKING:
    from corpus.load import FileResult

log = logging.getLogger(__name__)


class PageSource(Protocol):
    """Parsed pages to index (corpus.load.CorpusPages reads them from a directory)."""

    @property
    def location(self) -> str:
        """Return where the pages come from (recorded in the manifest, named in messages)."""
        ...

    def count(self) -> int:
        """Return how many pages a scan yields; raises CorpusError when there are none."""
        ...

    def scan(self, known: Mapping[str, str]) -> Iterable[FileResult]:
        """Yield every page parsed, except those whose content hash known lists (reported unchanged)."""
        ...

    def scan_paths(self, paths: Collection[str], known: Mapping[str, str]) -> Iterable[FileResult]:
        """Yield the named pages as scan would, leaving out those that do not exist (any more)."""
        ...


def reindex(
    store: IndexStore,
    encoder: TextEncoder,
    pages: PageSource,
    *,
    full: bool = False,
    progress: Progress | None = None,
    record: Calibration | None = None,
    only: Collection[str] | None = None,
) -> ReindexReport:
    """Bring the index in line with the pages (incrementally unless full) and swap it in atomically.

    only names the pages that may have changed (those a poll or /add just saved): just they are read,
    every other indexed page stays as it is, and a named page that no longer exists leaves the index.
    So adding a page costs that page, not a scan of the corpus. Ignored with full, for a new index and
    for one built by another quotebot version (every page is parsed again then).

    The generation stores record (default: calibration.for_encoder's for the encoder) to rank with; a
    run that changes no page but the record commits a generation all the same, reusing every vector.
    """
    started = time.monotonic()
    with store.begin(fresh=full) as writer:
        encoder = _encoder_for(writer.base, encoder)
        stored = calibration.as_dict(record or calibration.for_encoder(encoder.model_id, encoder.family))
        base = _checked_base(writer, encoder, store.location, pages.location)
        # A base from another quotebot version gets every page parsed again (see _scan): no short cut.
        fresh_start = full or base is None or base.package_version != package_version()
        only = None if fresh_start or only is None else sorted(set(only))
        reporter = Reporter(progress, pages.count() if only is None else len(only))
        diff = _scan(writer, pages, reporter, only)
        if base is not None and not diff.changes_index and base.calibration == stored:
            reporter.emit("done")
            return _report(diff, base.passages, started, full)
        if not diff.kept and not diff.fresh:
            raise CorpusError(nothing_to_index(pages.location, diff))
        # An index built before records were stored gets one now; that is no change to report.
        changed = base is not None and base.calibration not in (None, stored)
        if changed:
            log.info("the calibration record changed: the index now ranks with %s's", stored["model"])
        encoding, passage_ids = _update(writer, diff, encoder, reporter)
        reporter.emit("write")
        table = _page_records(base, diff, passage_ids)
        count = table.passages
        manifest = writer.commit(table, encoding, pages.location, stored)
        log.info("index %s now serves %s (%d passages)", store.location, manifest.generation, count)
        reporter.emit("done")
        return _report(diff, count, started, full, stored["model"] if changed else "")


def _encoder_for(base: Manifest | None, encoder: TextEncoder) -> TextEncoder:
    """Return the encoder of the run: the base's own when it builds on one, else a new index's."""
    if base is None:
        return encoder.for_new_index()
    return encoder.for_index(encoder_setting(base.encoder, base.precision))


def rollback(store: IndexStore, encoder: TextEncoder) -> Manifest:
    """Serve the previous generation again; raises IndexMismatch when this encoder cannot query it."""

    def servable(previous: Manifest) -> None:
        reason = encoder_mismatch(
            previous, encoder.for_index(encoder_setting(previous.encoder, previous.precision))
        )
        if reason:
            raise IndexMismatch(
                f"refusing to roll back {store.location}: the previous index ({previous.generation}, "
                f"built {previous.created}) was {reason}, so it could not be searched; the current index "
                "stays. Roll back under the configuration it was built with, or run "
                "`quotebot index --full` to rebuild the pages with the configured one",
                built_with=previous.model,
                built_by=encoder_setting(previous.encoder, previous.precision),
            )

    return store.rollback(servable)


def _checked_base(writer: GenerationWriter, encoder: TextEncoder, where: str, source: str) -> Manifest | None:
    """Return the manifest the run builds on; raises IndexMismatch when it was made by another model."""
    base = writer.base
    if base is not None and (reason := mismatch(base, encoder.model_id, None, None, encoder.family)):
        raise IndexMismatch(
            f"the index in {where} was {reason}; an incremental reindex would mix them: {FULL_FIX}"
        )
    if base and base.corpus_dir != source:
        log.warning(
            "the index was built from %s; updating it from %s (pages missing there leave the index)",
            base.corpus_dir,
            source,
        )
    return base


def _scan(
    writer: GenerationWriter, pages: PageSource, reporter: Reporter, only: Sequence[str] | None
) -> PageDiff:
    """Scan the pages (only those named, when only), parse those whose bytes changed, diff them."""
    base = writer.base
    known = base.content_hashes if base else {}
    skip = known
    if base and base.package_version != package_version():
        # Another quotebot may parse pages differently: parse them all again, reusing every vector
        # whose paragraph text is unchanged (passage ids hash the text).
        log.info("index built by quotebot %s: re-parsing every page", base.package_version)
        skip = {}
    scan = pages.scan(skip) if only is None else pages.scan_paths(only, skip)
    results = list(_scanned(scan, reporter))
    fingerprints = writer.base_fingerprints() if base and any(r.status == "ok" for r in results) else {}
    return diff_pages(known, results, fingerprints, named=only)


def _scanned(results: Iterable[FileResult], reporter: Reporter) -> Iterator[FileResult]:
    """Yield results, counting each in the progress reports."""
    for result in results:
        reporter.pages_scanned += 1
        reporter.pages_changed += result.status == "ok"
        reporter.emit("scan")
        yield result


def _update(
    writer: GenerationWriter, diff: PageDiff, encoder: TextEncoder, reporter: Reporter
) -> tuple[Encoding, dict[str, tuple[int, ...]]]:
    """Upsert the changed pages' new passages, delete their old ones; return the encoding and the
    fresh pages' passage ids.

    Only the pages that changed or left are read from the base: an engine that keeps the corpus
    statistics (Qdrant) updates in place at the cost of the changed pages alone.
    """
    changed = [*(a.path for a in diff.fresh), *diff.removed, *diff.dropped]
    old = writer.base_passages(changed) if writer.base is not None else ()
    fresh = _unique(sorted((p for a in diff.fresh for p in passages_of(a)), key=lambda p: (p.doc, p.ordinal)))
    stored = {p.id: p for p in old}
    upserts = [p for p in fresh if stored.get(p.id) != p]  # unchanged passages stay as they are
    # A vector depends only on the text: a paragraph moved by an insertion above it keeps its vector.
    old_texts = {p.text: p.id for p in old}
    source = [p.id if p.id in stored else old_texts.get(p.text) for p in upserts]
    encode = [i for i, src in enumerate(source) if src is None]
    encoding = _check_encoding(writer.base, encoder, bool(encode))
    vectors = np.empty((len(upserts), encoding.dimension), dtype=np.float32)
    reuse = [(i, src) for i, src in enumerate(source) if src is not None]
    if reuse:
        vectors[[i for i, _ in reuse]] = writer.base_vectors([src for _, src in reuse])
    reporter.passages_reused += len(reuse) + len(fresh) - len(upserts)
    if encode:
        _embed(encoder, upserts, encode, vectors, writer.scratch(encoding), reporter)
    log.info("reused %d vectors, embedded %d passages", len(fresh) - len(encode), len(encode))
    # New passages are written before old ones go: a page present before and after stays answerable.
    writer.upsert(upserts, vectors)
    writer.delete(sorted(stored.keys() - {p.id for p in fresh}))
    pages: dict[str, tuple[int, ...]] = {}
    for p in fresh:
        pages[p.doc] = (*pages.get(p.doc, ()), p.id)
    return encoding, pages


def _check_encoding(base: Manifest | None, encoder: TextEncoder, embeds: bool) -> Encoding:
    """Return the encoding new vectors join; raises IndexMismatch when it differs from the base's."""
    if not embeds and base is not None:
        return Encoding(encoder.model_id, base.dimension, dict(base.prompts), base.encoder, base.precision)
    encoding = Encoding(
        encoder.model_id, encoder.dimension, dict(encoder.prompts), encoder.backend, encoder.precision
    )
    if base is not None and (
        reason := mismatch(base, encoding.model, encoding.dimension, encoding.prompts, encoding.family)
    ):
        raise IndexMismatch(f"the index was {reason}; an incremental reindex would mix them: {FULL_FIX}")
    return encoding


def chunks_longest_first(texts: Sequence[str], size: int) -> list[list[int]]:
    """Return row numbers in chunks of size, longest text first (so the model's batches pad little)."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return [order[start : start + size] for start in range(0, len(order), max(1, size))]


def _embed(
    encoder: TextEncoder,
    passages: Sequence[Passage],
    rows: Sequence[int],
    vectors: Matrix,
    cache: EmbeddingScratch,
    reporter: Reporter,
) -> None:
    """Fill vectors[rows], taking what an interrupted run already embedded and saving each new chunk."""
    cached = cache.load()
    have = [i for i in rows if passages[i].id in cached]
    for i in have:
        vectors[i] = cached[passages[i].id]
    if have:
        log.info("reusing %d vectors embedded by an interrupted reindex", len(have))
        reporter.passages_reused += len(have)
    missing = [i for i in rows if passages[i].id not in cached]
    reporter.passages_total = len(missing)
    reporter.chars_total = sum(len(passages[i].text) for i in missing)
    reporter.embed_started = time.monotonic()
    reporter.emit("embed")
    done = 0
    for chunk in chunks_longest_first([passages[i].text for i in missing], encoder.batch_size * 4):
        picked = [missing[j] for j in chunk]
        fresh = encoder.encode_passages([passages[i].text for i in picked])
        vectors[picked] = fresh
        cache.save(np.array([passages[i].id for i in picked], dtype=np.int64), fresh)
        done += len(picked)
        reporter.embedded(done, sum(len(passages[i].text) for i in picked))


def _unique(passages: Sequence[Passage]) -> list[Passage]:
    """Drop passages whose id repeats (a 63-bit collision or a paragraph listed twice)."""
    seen: set[int] = set()
    out = []
    for p in passages:
        if p.id not in seen:
            seen.add(p.id)
            out.append(p)
    return out


def _page_records(
    base: Manifest | None, diff: PageDiff, passage_ids: Mapping[str, tuple[int, ...]]
) -> PageTable:
    """Return the new generation's pages: the kept pages' records as they were, the fresh pages' new ones."""
    fresh = {
        a.path: PageRecord(a.content_hash, passage_ids[a.path]) for a in diff.fresh if a.path in passage_ids
    }
    if base is None:
        return PageTable.of(fresh)
    table = PageTable.of(base.pages)
    return table.replaced(set(table.paths).difference(diff.kept), fresh)


def _report(
    diff: PageDiff, passages: int, started: float, full: bool, recalibrated: str = ""
) -> ReindexReport:
    """Summarise a reindex (recalibrated: the model of a record stored in place of another)."""
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
        notes=diff.noted,
        recalibrated=recalibrated,
    )

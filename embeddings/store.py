"""The index directory on disk: manifest, generations, atomic swap, lock and incremental reindex.

Layout of INDEX_DIR::

    .lock                  flock held by the one running reindex (dies with the process)
    current -> gen-<ts>    the generation readers open (replaced atomically)
    previous -> gen-<ts>   the generation `quotebot index --rollback` returns to
    gen-<ts>/              manifest.json, passages.jsonl, vectors.npy, dense.faiss, lexical/

A generation is written into a hidden temporary directory, fsynced, renamed, and only then is
`current` replaced, so a reader never sees a half-built index and a killed reindex leaves the
previous generation serving.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from corpus.errors import CorpusError
from corpus.models import Article
from corpus.text import text_fingerprint
from embeddings.errors import IndexBusy, IndexCorrupt, IndexMismatch, IndexMissing
from embeddings.models import Failure, Passage, ReindexProgress, ReindexReport

if TYPE_CHECKING:
    from corpus.load import FileResult
    from embeddings.dense import DenseIndex
    from embeddings.encoder import Encoder
    from embeddings.search import Searcher

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CURRENT = "current"
PREVIOUS = "previous"
LOCK_FILE = ".lock"
MANIFEST = "manifest.json"
PASSAGES = "passages.jsonl"
VECTORS = "vectors.npy"
DENSE = "dense.faiss"
LEXICAL = "lexical"
PARTIAL = ".partial"  # vectors of an unfinished reindex (see EmbeddingCache)
GENERATION_PREFIX = "gen-"
TEMP_PREFIX = ".tmp-"
FULL_FIX = "run `quotebot index --full` to rebuild it"

Progress = Callable[[ReindexProgress], None]


@dataclass(frozen=True)
class PageRecord:
    """One indexed page: the hash of its bytes and the ids of its passages, in page order."""

    content_hash: str
    passage_ids: tuple[int, ...]


@dataclass(frozen=True)
class Manifest:
    """What a generation holds and how its vectors were made."""

    schema: int
    model: str
    dimension: int
    prompts: Mapping[str, str]
    articles: int
    passages: int
    created: str
    package_version: str
    corpus_dir: str
    corpus_fingerprint: str
    dense_kind: str
    pages: Mapping[str, PageRecord] = field(default_factory=dict)
    generation: str = ""


@dataclass(frozen=True)
class PageDiff:
    """How a corpus scan differs from the pages already indexed."""

    kept: tuple[str, ...] = ()  # unchanged pages whose passages and vectors are reused
    fresh: tuple[Article, ...] = ()  # new or changed articles to (re)index
    added: int = 0
    updated: int = 0
    reparsed: int = 0  # indexed pages parsed again although their bytes did not change
    removed: tuple[str, ...] = ()  # indexed pages no longer in the corpus
    dropped: tuple[str, ...] = ()  # indexed pages that now fail, are skipped or are duplicates
    skipped: tuple[Failure, ...] = ()
    failed: tuple[Failure, ...] = ()

    @property
    def changes_index(self) -> bool:
        """Return whether the index must be rewritten."""
        return bool(self.fresh or self.removed or self.dropped)


# ---------------------------------------------------------------- pure parts


def passage_id(doc: str, ordinal: int, text: str) -> int:
    """Return the stable positive 63-bit id of a passage (same page, place and text: same id)."""
    digest = hashlib.blake2b(f"{doc}\x00{ordinal}\x00{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF or 1


def passages_of(article: Article) -> tuple[Passage, ...]:
    """Return the passages an article contributes: every non-empty paragraph, captions included."""
    return tuple(
        Passage(
            id=passage_id(article.path, p.ordinal, p.text),
            doc=article.path,
            ordinal=p.ordinal,
            text=p.text,
            kind=p.kind,
            title=article.title,
            outlet=article.outlet,
            url=article.url,
            date=article.date,
        )
        for p in article.paragraphs
        if p.text.strip()
    )


def page_fingerprints(passages: Iterable[Passage]) -> dict[str, str]:
    """Return each indexed page's text fingerprint, as corpus.text.text_fingerprint gives its article."""
    titles: dict[str, str] = {}
    bodies: dict[str, list[Passage]] = {}
    for p in passages:
        titles.setdefault(p.doc, p.title)
        if p.kind == "body":
            bodies.setdefault(p.doc, []).append(p)
    return {
        doc: text_fingerprint(title, (p.text for p in sorted(bodies.get(doc, ()), key=lambda p: p.ordinal)))
        for doc, title in titles.items()
    }


def diff_pages(
    previous: Mapping[str, str], results: Iterable[FileResult], fingerprints: Mapping[str, str] | None = None
) -> PageDiff:
    """Compare scan results with the indexed pages (path -> content hash) and sort them into a diff.

    fingerprints (indexed path -> text fingerprint) lets a new page with the text of an unchanged
    indexed page count as its duplicate, as a full scan would: an unchanged page is never parsed.
    """
    from corpus.load import article_fingerprint

    results = list(results)
    fingerprints = fingerprints or {}
    by_text: dict[str, str] = {}
    for result in results:
        if result.status == "unchanged" and result.path in previous and result.path in fingerprints:
            by_text.setdefault(fingerprints[result.path], result.path)
    kept: list[str] = []
    fresh: list[Article] = []
    dropped: list[str] = []
    skipped: list[Failure] = []
    failed: list[Failure] = []
    added = updated = reparsed = 0
    seen: set[str] = set()
    by_hash: dict[str, str] = {}
    for result in results:
        path = result.path
        seen.add(path)
        article = result.article
        if result.status == "unchanged" and path in previous:
            kept.append(path)
            by_hash.setdefault(previous[path], path)
            continue
        if result.status == "ok" and article is not None and passages_of(article):
            # Byte-identical copies are one article even when the scan saw the original unchanged.
            twin = by_hash.get(article.content_hash) or by_text.get(article_fingerprint(article))
            if twin is not None:
                skipped.append(Failure(path, f"duplicate of {twin}"))
            else:
                by_hash[article.content_hash] = path
                fresh.append(article)
                old_hash = previous.get(path)
                added += old_hash is None
                updated += old_hash is not None and old_hash != article.content_hash
                reparsed += old_hash == article.content_hash
                continue
        elif result.status == "duplicate":
            skipped.append(Failure(path, f"duplicate of {result.duplicate_of or 'another page'}"))
        elif result.status == "skipped":
            skipped.append(Failure(path, result.reason or "skipped"))
        elif result.status == "ok":
            skipped.append(Failure(path, "no paragraph text to index"))
        elif result.status == "unchanged":
            failed.append(Failure(path, "reported unchanged but not in the index; " + FULL_FIX))
        else:
            failed.append(Failure(path, result.reason or "failed"))
        if path in previous:
            # The page's old passages leave the index: quoting text the page no longer has is worse.
            dropped.append(path)
            last = skipped if skipped and skipped[-1].doc == path else failed
            last[-1] = Failure(path, last[-1].reason + "; its old passages were removed from the index")
    removed = tuple(sorted(set(previous) - seen))
    return PageDiff(
        kept=tuple(kept),
        fresh=tuple(fresh),
        added=added,
        updated=updated,
        reparsed=reparsed,
        removed=removed,
        dropped=tuple(dropped),
        skipped=tuple(skipped),
        failed=tuple(failed),
    )


def nothing_to_index(corpus_dir: Path, diff: PageDiff) -> str:
    """Return the message for a corpus none of whose pages yields text, with the first reasons."""
    problems = [*diff.failed, *diff.skipped]
    reasons = "; ".join(f"{f.doc}: {f.reason}" for f in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return (
        f"no page under {corpus_dir} has text to index ({len(diff.skipped)} skipped, "
        f"{len(diff.failed)} failed: {reasons}{more}); the index is left as it was"
    )


def corpus_fingerprint(pages: Mapping[str, PageRecord]) -> str:
    """Return a sha256 over the indexed pages' paths and content hashes."""
    digest = hashlib.sha256()
    for path in sorted(pages):
        digest.update(f"{path}\x00{pages[path].content_hash}\n".encode())
    return digest.hexdigest()


def mismatch(manifest: Manifest, model: str, dimension: int | None, prompts: Mapping[str, str] | None) -> str:
    """Return why vectors of this encoder cannot join or query the index, or "" when they can."""
    if manifest.schema != SCHEMA_VERSION:
        return f"index schema version {manifest.schema}, this quotebot reads version {SCHEMA_VERSION}"
    if manifest.model != model:
        return f"built with model {manifest.model}, but the configured model is {model}"
    if dimension is not None and manifest.dimension != dimension:
        return f"built with {manifest.dimension}-d vectors, but the configured model makes {dimension}-d"
    if prompts is not None and dict(manifest.prompts) != dict(prompts):
        return f"built with prompts {dict(manifest.prompts)!r}, but the configured ones are {dict(prompts)!r}"
    return ""


def manifest_to_json(manifest: Manifest) -> str:
    """Serialise a manifest (pages sorted, ids as JSON integers)."""
    data = asdict(manifest)
    data["pages"] = {
        path: {"content_hash": rec.content_hash, "passage_ids": list(rec.passage_ids)}
        for path, rec in sorted(manifest.pages.items())
    }
    return json.dumps(data, ensure_ascii=False, indent=1)


def manifest_from_json(text: str) -> Manifest:
    """Parse a manifest; raises ValueError, KeyError or TypeError when it is malformed."""
    data: dict[str, Any] = json.loads(text)
    pages = {
        str(path): PageRecord(str(rec["content_hash"]), tuple(int(i) for i in rec["passage_ids"]))
        for path, rec in data["pages"].items()
    }
    return Manifest(
        schema=int(data["schema"]),
        model=str(data["model"]),
        dimension=int(data["dimension"]),
        prompts={str(k): str(v) for k, v in data["prompts"].items()},
        articles=int(data["articles"]),
        passages=int(data["passages"]),
        created=str(data["created"]),
        package_version=str(data["package_version"]),
        corpus_dir=str(data["corpus_dir"]),
        corpus_fingerprint=str(data["corpus_fingerprint"]),
        dense_kind=str(data["dense_kind"]),
        pages=pages,
        generation=str(data.get("generation", "")),
    )


def package_version() -> str:
    """Return the installed quotebot version, or "unknown" when running from a bare checkout."""
    try:
        return metadata.version("quotebot")
    except metadata.PackageNotFoundError:
        return "unknown"


# ---------------------------------------------------------------- files and links


def _fsync_path(path: Path) -> None:
    """Flush a file or a directory entry list to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Flush every file and directory under root, then root itself."""
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            _fsync_path(Path(dirpath) / name)
        _fsync_path(Path(dirpath))


def _target(index_dir: Path, link: str) -> str | None:
    """Return the generation a link names, or None when the link is absent."""
    try:
        return os.readlink(index_dir / link)
    except (FileNotFoundError, OSError):
        return None


def _point(index_dir: Path, link: str, generation: str) -> None:
    """Make a link name a generation atomically (a new symlink renamed over the old one)."""
    temp = index_dir / f".{link}-{os.getpid()}.link"
    temp.unlink(missing_ok=True)
    os.symlink(generation, temp)
    os.replace(temp, index_dir / link)
    _fsync_path(index_dir)


def current_generation(index_dir: Path) -> Path:
    """Return the directory of the live generation; raises IndexMissing when there is none."""
    name = _target(index_dir, CURRENT)
    if name is None or not (index_dir / name).is_dir():
        raise IndexMissing(f"no index in {index_dir}; run `quotebot index` to build one")
    return index_dir / name


def load_manifest(generation: Path) -> Manifest:
    """Read one generation's manifest; raises IndexCorrupt when it is unreadable."""
    try:
        return manifest_from_json((generation / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IndexCorrupt(f"cannot read {generation / MANIFEST} ({exc}); {FULL_FIX}") from exc


def read_manifest(index_dir: Path) -> Manifest:
    """Return the live generation's manifest."""
    return load_manifest(current_generation(index_dir))


def load_passages(generation: Path) -> list[Passage]:
    """Read a generation's passages in index order; raises IndexCorrupt."""
    try:
        with (generation / PASSAGES).open(encoding="utf-8") as lines:
            return [Passage(**json.loads(line)) for line in lines if line.strip()]
    except (OSError, ValueError, TypeError) as exc:
        raise IndexCorrupt(f"cannot read {generation / PASSAGES} ({exc}); {FULL_FIX}") from exc


def load_vectors(generation: Path, manifest: Manifest) -> np.ndarray:
    """Map a generation's vectors (rows in passage order); raises IndexCorrupt."""
    try:
        vectors = np.load(generation / VECTORS, mmap_mode="r")
    except (OSError, ValueError) as exc:
        raise IndexCorrupt(f"cannot read {generation / VECTORS} ({exc}); {FULL_FIX}") from exc
    if vectors.shape != (manifest.passages, manifest.dimension) or vectors.dtype != np.float32:
        raise IndexCorrupt(
            f"{generation / VECTORS} holds {vectors.shape} {vectors.dtype}, the manifest says "
            f"({manifest.passages}, {manifest.dimension}) float32; {FULL_FIX}"
        )
    return vectors


@contextmanager
def index_lock(index_dir: Path) -> Iterator[None]:
    """Hold the reindex lock of index_dir; raises IndexBusy when another process holds it."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with (index_dir / LOCK_FILE).open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise IndexBusy(
                f"another reindex of {index_dir} is running (pid {holder}); "
                "wait for it to finish, then try again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prune(index_dir: Path) -> list[str]:
    """Delete generations other than current and previous, and leftovers of killed runs (lock held)."""
    keep = {_target(index_dir, CURRENT), _target(index_dir, PREVIOUS)}
    gone = []
    for entry in index_dir.iterdir():
        name = entry.name
        if name.endswith(".link") and name.startswith("."):
            entry.unlink(missing_ok=True)
        elif (name.startswith(TEMP_PREFIX) or name.startswith(GENERATION_PREFIX)) and name not in keep:
            shutil.rmtree(entry, ignore_errors=True)
            gone.append(name)
    return gone


def rollback(index_dir: Path) -> Manifest:
    """Make the previous generation live again (the current one becomes previous) and return its manifest."""
    with index_lock(index_dir):
        before = _target(index_dir, PREVIOUS)
        if before is None or not (index_dir / before).is_dir():
            raise IndexMissing(f"no previous index in {index_dir} to roll back to")
        manifest = load_manifest(index_dir / before)
        now = _target(index_dir, CURRENT)
        _point(index_dir, CURRENT, before)
        if now is not None and (index_dir / now).is_dir():
            _point(index_dir, PREVIOUS, now)
        log.info("rolled back %s from %s to %s", index_dir, now, before)
        return manifest


def _new_generation_name(index_dir: Path) -> str:
    """Return an unused, time-ordered generation name."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name, n = f"{GENERATION_PREFIX}{stamp}", 0
    while (index_dir / name).exists():
        n += 1
        name = f"{GENERATION_PREFIX}{stamp}-{n}"
    return name


def _write_generation(
    index_dir: Path,
    manifest: Manifest,
    passages: Sequence[Passage],
    vectors: np.ndarray,
    dense: DenseIndex,
    lexical: Any,
) -> str:
    """Write a complete generation beside the live one, flush it, rename it in place; return its name."""
    temp = index_dir / f"{TEMP_PREFIX}{manifest.generation}-{os.getpid()}"
    temp.mkdir()
    try:
        with (temp / PASSAGES).open("w", encoding="utf-8") as out:
            for p in passages:
                out.write(json.dumps(asdict(p), ensure_ascii=False) + "\n")
        with (temp / VECTORS).open("wb") as out:
            np.save(out, np.ascontiguousarray(vectors, dtype=np.float32))
        dense.save(temp / DENSE)
        (temp / LEXICAL).mkdir()
        lexical.save(temp / LEXICAL)
        (temp / MANIFEST).write_text(manifest_to_json(manifest), encoding="utf-8")
        _fsync_tree(temp)
        os.rename(temp, index_dir / manifest.generation)
        _fsync_path(index_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return manifest.generation


# ---------------------------------------------------------------- reindex


def chunks_longest_first(texts: Sequence[str], size: int) -> list[list[int]]:
    """Return row numbers in chunks of size, longest text first (so the model's batches pad little)."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return [order[start : start + size] for start in range(0, len(order), max(1, size))]


class EmbeddingCache:
    """Vectors a reindex has embedded so far, kept on disk so a killed run's successor need not redo them."""

    def __init__(self, index_dir: Path, model: str, dimension: int, prompts: Mapping[str, str]) -> None:
        self.directory = index_dir / PARTIAL
        self.dimension = dimension
        key = {"model": model, "dimension": dimension, "prompts": dict(prompts)}
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

    def load(self) -> dict[int, np.ndarray]:
        """Return the cached vectors by passage id (unreadable chunks, e.g. cut by a kill, are ignored)."""
        cached: dict[int, np.ndarray] = {}
        for path in sorted(self.directory.glob("chunk-*.npz")):
            try:
                with np.load(path) as data:
                    ids, vectors = data["ids"], data["vectors"]
            except (OSError, ValueError, KeyError):
                continue
            if vectors.ndim == 2 and vectors.shape[1] == self.dimension and len(ids) == len(vectors):
                cached.update(zip(ids.tolist(), vectors, strict=True))
        return cached

    def save(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add one chunk atomically (written aside, then renamed)."""
        self.count += 1
        temp = self.directory / f".chunk-{self.count:06d}.tmp"
        with temp.open("wb") as out:
            np.savez(out, ids=ids, vectors=vectors)
        os.replace(temp, self.directory / f"chunk-{self.count:06d}.npz")


class _Reporter:
    """Turns reindex milestones into ReindexProgress snapshots for the caller."""

    def __init__(self, callback: Progress | None, pages_total: int) -> None:
        self.callback = callback
        self.pages_total = pages_total
        self.pages_scanned = 0
        self.pages_changed = 0
        self.passages_total = 0
        self.embed_started = 0.0
        self.chars_total = 0
        self.chars_done = 0

    def emit(self, stage: str, embedded: int = 0, eta: float | None = None) -> None:
        if self.callback is not None:
            self.callback(
                ReindexProgress(
                    stage=stage,
                    pages_scanned=self.pages_scanned,
                    pages_total=self.pages_total,
                    pages_changed=self.pages_changed,
                    passages_embedded=embedded,
                    passages_total=self.passages_total,
                    eta_seconds=eta,
                )
            )

    def embedded(self, done: int, chars: int) -> None:
        # Passages go longest first, so the ETA follows characters, not passages.
        self.chars_done += chars
        elapsed = time.monotonic() - self.embed_started
        rate = self.chars_done / elapsed if elapsed > 0 else 0.0
        eta = (self.chars_total - self.chars_done) / rate if rate > 0 else None
        self.emit("embed", done, eta)


def _previous_state(index_dir: Path, encoder: Encoder, full: bool) -> tuple[Path | None, Manifest | None]:
    """Return the live generation and manifest an incremental run builds on (None, None for --full)."""
    if full:
        return None, None
    try:
        generation = current_generation(index_dir)
    except IndexMissing:
        return None, None
    manifest = load_manifest(generation)
    reason = mismatch(manifest, encoder.model_id, None, None)
    if reason:
        raise IndexMismatch(
            f"the index in {index_dir} was {reason}; an incremental reindex would mix them: {FULL_FIX}"
        )
    return generation, manifest


def build_index(
    corpus_dir: Path,
    index_dir: Path,
    encoder: Encoder,
    *,
    full: bool = False,
    max_page_bytes: int = 5_000_000,
    progress: Progress | None = None,
) -> ReindexReport:
    """Bring the index in line with the corpus (incrementally unless full) and swap it in atomically."""
    from corpus.load import list_pages, scan_corpus

    started = time.monotonic()
    corpus_dir, index_dir = Path(corpus_dir), Path(index_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(
            f"corpus directory {corpus_dir} does not exist; pass CORPUS_DIR or set QUOTEBOT_CORPUS_DIR"
        )
    with index_lock(index_dir):
        prune(index_dir)
        previous, manifest = _previous_state(index_dir, encoder, full)
        known = {path: rec.content_hash for path, rec in manifest.pages.items()} if manifest else {}
        if manifest and manifest.corpus_dir != str(corpus_dir.resolve()):
            log.warning(
                "the index was built from %s; updating it from %s (pages missing there leave the index)",
                manifest.corpus_dir,
                corpus_dir,
            )
        pages = list_pages(corpus_dir)
        if not pages:
            raise CorpusError(f"no .html or .htm pages under {corpus_dir}; nothing to index")
        reporter = _Reporter(progress, len(pages))

        def scanned(results: Iterable[FileResult]) -> Iterator[FileResult]:
            for result in results:
                reporter.pages_scanned += 1
                reporter.pages_changed += result.status == "ok"
                reporter.emit("scan")
                yield result

        skip = known
        if manifest and manifest.package_version != package_version():
            # Another quotebot may parse pages differently: parse them all again, reusing every vector
            # whose paragraph text is unchanged (passage ids hash the text).
            log.info("index built by quotebot %s: re-parsing every page", manifest.package_version)
            skip = {}
        results = list(scanned(scan_corpus(corpus_dir, max_bytes=max_page_bytes, known=skip)))
        old: list[Passage] | None = None
        if previous is not None and any(r.status == "ok" for r in results):
            old = load_passages(previous)  # to spot copies of unchanged pages; _assemble reuses them
        diff = diff_pages(known, results, page_fingerprints(old or ()))
        if previous is not None and not diff.changes_index:
            reporter.emit("done")
            return _report(diff, manifest.passages if manifest else 0, started, full)
        if not diff.kept and not diff.fresh:
            raise CorpusError(nothing_to_index(corpus_dir, diff))
        contents = _assemble(index_dir, diff, previous, manifest, encoder, reporter, old)
        reporter.emit("write", len(contents.embedded))
        generation = _commit(index_dir, corpus_dir, contents, diff, previous, manifest)
        shutil.rmtree(index_dir / PARTIAL, ignore_errors=True)  # its vectors are in the generation now
        log.info("index %s now serves %s (%d passages)", index_dir, generation, len(contents.passages))
        reporter.emit("done", len(contents.embedded))
        return _report(diff, len(contents.passages), started, full)


@dataclass
class _Contents:
    """What a new generation holds before it is written."""

    passages: list[Passage]
    vectors: np.ndarray  # rows in passage order
    embedded: list[int]  # rows embedded by this run (the rest came from the previous generation)
    model: str
    dimension: int
    prompts: dict[str, str]


def _assemble(
    index_dir: Path,
    diff: PageDiff,
    previous: Path | None,
    manifest: Manifest | None,
    encoder: Encoder,
    reporter: _Reporter,
    old: list[Passage] | None = None,
) -> _Contents:
    """Return the new generation's passages and vectors, embedding only passages not indexed before."""
    old_rows: dict[int, int] = {}
    old_texts: dict[str, int] = {}
    old_vectors: np.ndarray | None = None
    passages: list[Passage] = []
    if previous is not None and manifest is not None:
        old = load_passages(previous) if old is None else old
        old_vectors = load_vectors(previous, manifest)
        if len(old) != manifest.passages:
            raise IndexCorrupt(
                f"{previous / PASSAGES} has {len(old)} passages, the manifest says "
                f"{manifest.passages}; {FULL_FIX}"
            )
        old_rows = {p.id: row for row, p in enumerate(old)}
        # A vector depends only on the text: a paragraph moved by an insertion above it keeps its vector.
        old_texts = {p.text: row for row, p in enumerate(old)}
        kept = set(diff.kept)
        passages = [p for p in old if p.doc in kept]
    for article in diff.fresh:
        passages.extend(passages_of(article))
    passages = _unique(sorted(passages, key=lambda p: (p.doc, p.ordinal)))
    todo = [i for i, p in enumerate(passages) if p.id not in old_rows]
    source = [old_rows.get(p.id, old_texts.get(p.text)) for p in passages]
    encode = [i for i in todo if source[i] is None]
    if encode or manifest is None:
        dimension, prompts = encoder.dimension, encoder.prompts
        if manifest is not None and (reason := mismatch(manifest, encoder.model_id, dimension, prompts)):
            raise IndexMismatch(f"the index was {reason}; an incremental reindex would mix them: {FULL_FIX}")
    else:
        dimension, prompts = manifest.dimension, dict(manifest.prompts)
    vectors = np.empty((len(passages), dimension), dtype=np.float32)
    reuse = [(i, row) for i, row in enumerate(source) if row is not None]
    if reuse and old_vectors is not None:
        vectors[[i for i, _ in reuse]] = old_vectors[[row for _, row in reuse]]
    if encode:
        cache = EmbeddingCache(index_dir, encoder.model_id, dimension, prompts)
        _embed(encoder, passages, encode, vectors, cache, reporter)
    log.info("reused %d vectors, embedded %d passages", len(reuse), len(encode))
    return _Contents(passages, vectors, todo, encoder.model_id, dimension, dict(prompts))


def _embed(
    encoder: Encoder,
    passages: Sequence[Passage],
    rows: Sequence[int],
    vectors: np.ndarray,
    cache: EmbeddingCache,
    reporter: _Reporter,
) -> None:
    """Fill vectors[rows], taking what an interrupted run already embedded and saving each new chunk."""
    cached = cache.load()
    have = [i for i in rows if passages[i].id in cached]
    for i in have:
        vectors[i] = cached[passages[i].id]
    if have:
        log.info("reusing %d vectors embedded by an interrupted reindex", len(have))
    missing = [i for i in rows if passages[i].id not in cached]
    reporter.passages_total = len(missing)
    reporter.chars_total = sum(len(passages[i].text) for i in missing)
    reporter.embed_started = time.monotonic()
    reporter.emit("embed", 0)
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


def _dense_index(contents: _Contents, previous: Path | None) -> DenseIndex:
    """Return the dense index: the previous one with ids removed and added, else built from the vectors."""
    from embeddings.dense import DenseIndex

    passages, vectors = contents.passages, contents.vectors
    ids = np.fromiter((p.id for p in passages), dtype=np.int64, count=len(passages))
    if previous is not None:
        # Reusing the old index skips retraining IVF centroids on large corpora.
        try:
            dense = DenseIndex.load(previous / DENSE)
            old = dense.ids()
            dense.remove(old[~np.isin(old, ids)])
            rows = contents.embedded
            dense.add(ids[rows], vectors[rows])
            if len(dense) == len(passages):
                return dense
            log.warning("previous dense index out of step with the passages; rebuilding it")
        except Exception as exc:
            log.warning("cannot update the previous dense index (%s); rebuilding it", exc)
    dense = DenseIndex.create(contents.dimension, expected_size=len(passages))
    dense.add(ids, vectors)
    return dense


def _commit(
    index_dir: Path,
    corpus_dir: Path,
    contents: _Contents,
    diff: PageDiff,
    previous: Path | None,
    before_manifest: Manifest | None,
) -> str:
    """Build both indexes, write the generation and make it current (the old one becomes previous)."""
    from embeddings.lexical import LexicalIndex

    passages, vectors = contents.passages, contents.vectors
    dense = _dense_index(contents, previous)
    lexical = LexicalIndex.build([p.id for p in passages], [p.text for p in passages])
    by_doc: dict[str, list[int]] = {}
    for p in passages:
        by_doc.setdefault(p.doc, []).append(p.id)
    hashes = (
        {path: rec.content_hash for path, rec in before_manifest.pages.items()} if before_manifest else {}
    )
    hashes.update({a.path: a.content_hash for a in diff.fresh})
    pages = {doc: PageRecord(hashes[doc], tuple(ids_)) for doc, ids_ in by_doc.items()}
    name = _new_generation_name(index_dir)
    manifest = Manifest(
        schema=SCHEMA_VERSION,
        model=contents.model,
        dimension=contents.dimension,
        prompts=contents.prompts,
        articles=len(pages),
        passages=len(passages),
        created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        package_version=package_version(),
        corpus_dir=str(corpus_dir.resolve()),
        corpus_fingerprint=corpus_fingerprint(pages),
        dense_kind=dense.kind,
        pages=pages,
        generation=name,
    )
    _write_generation(index_dir, manifest, passages, vectors, dense, lexical)
    before = _target(index_dir, CURRENT)
    if before is not None and (index_dir / before).is_dir():
        _point(index_dir, PREVIOUS, before)
    _point(index_dir, CURRENT, name)
    prune(index_dir)
    return name


def _report(diff: PageDiff, passages: int, started: float, full: bool) -> ReindexReport:
    """Summarise a reindex."""
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


# ---------------------------------------------------------------- reading


def open_searcher(
    index_dir: Path,
    encoder: Encoder,
    *,
    top_k: int = 3,
    max_per_article: int = 2,
    min_score: float | None = None,
) -> Searcher:
    """Open the live generation for searching, checked against the configured encoder."""
    return open_generation(
        current_generation(Path(index_dir)),
        encoder,
        top_k=top_k,
        max_per_article=max_per_article,
        min_score=min_score,
    )


def open_generation(
    generation: Path,
    encoder: Encoder,
    *,
    top_k: int = 3,
    max_per_article: int = 2,
    min_score: float | None = None,
) -> Searcher:
    """Load one generation fully into memory and return a Searcher over it."""
    from embeddings.dense import DenseIndex
    from embeddings.lexical import LexicalIndex
    from embeddings.search import IndexStats, Searcher

    manifest = load_manifest(generation)
    index_dir = generation.parent
    reason = mismatch(manifest, encoder.model_id, None, None) or mismatch(
        manifest, encoder.model_id, encoder.dimension, encoder.prompts
    )
    if reason:
        raise IndexMismatch(
            f"the index in {index_dir} was {reason}; run `quotebot index --full` to rebuild it for the "
            f"configured model, or set QUOTEBOT_MODEL={manifest.model} to use it as it is"
        )
    passages = load_passages(generation)
    try:
        dense = DenseIndex.load(generation / DENSE)
        lexical = LexicalIndex.load(generation / LEXICAL)
    except IndexCorrupt as exc:
        raise IndexCorrupt(str(exc) if "--full" in str(exc) else f"{exc}; {FULL_FIX}") from exc
    except Exception as exc:
        raise IndexCorrupt(f"cannot load the index files in {generation} ({exc}); {FULL_FIX}") from exc
    if not len(passages) == len(dense) == manifest.passages:
        raise IndexCorrupt(
            f"{generation} holds {len(passages)} passages and {len(dense)} vectors, the manifest says "
            f"{manifest.passages}; {FULL_FIX}"
        )
    dates = sorted(p.date for p in passages if p.date)
    stats = IndexStats(
        articles=manifest.articles,
        passages=manifest.passages,
        date_min=dates[0] if dates else None,
        date_max=dates[-1] if dates else None,
        model=manifest.model,
        created=manifest.created,
        dense_kind=manifest.dense_kind,
    )
    return Searcher(
        passages,
        dense,
        lexical,
        encoder,
        stats,
        top_k=top_k,
        max_per_article=max_per_article,
        min_score=min_score,
    )

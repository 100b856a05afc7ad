"""The page diff: how a corpus scan differs from the pages already indexed."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from corpus.models import Article
from corpus.text import text_fingerprint
from embeddings.errors import FULL_FIX
from embeddings.ids import passages_of
from embeddings.models import Failure, Passage

if TYPE_CHECKING:
    from corpus.load import FileResult


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
    noted: tuple[Failure, ...] = ()  # fresh pages indexed in part, with the parser's note

    @property
    def changes_index(self) -> bool:
        """Return whether the index must be rewritten."""
        return bool(self.fresh or self.removed or self.dropped)


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
    previous: Mapping[str, str],
    results: Iterable[FileResult],
    fingerprints: Mapping[str, str] | None = None,
    *,
    named: Collection[str] | None = None,
) -> PageDiff:
    """Compare scan results with the indexed pages (path -> content hash) and sort them into a diff.

    fingerprints (indexed path -> text fingerprint) lets a new page with the text of an unchanged
    indexed page count as its duplicate, as a full scan would: an unchanged page is never parsed.
    named: the scan read only these pages; every other indexed page is unchanged, and a named page
    the scan did not find is removed.
    """
    from corpus.load import article_fingerprint

    results = list(results)
    fingerprints = fingerprints or {}
    # Pages not named are unchanged without a look (in path order, as a scan would report them).
    left = set(named or ())
    kept: list[str] = [] if named is None else [p for p in previous if p not in left]
    unchanged = [r.path for r in results if r.status == "unchanged" and r.path in previous]
    by_text: dict[str, str] = {}
    for path in reversed([*kept, *unchanged]):  # reversed: the first page with a text keeps it
        if path in fingerprints:
            by_text[fingerprints[path]] = path
    by_hash: dict[str, str] = {previous[p]: p for p in reversed(kept)}
    seen: set[str] = set(kept)
    fresh: list[Article] = []
    dropped: list[str] = []
    skipped: list[Failure] = []
    failed: list[Failure] = []
    noted: list[Failure] = []
    added = updated = reparsed = 0
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
                if result.reason:
                    noted.append(Failure(path, result.reason))
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
        noted=tuple(noted),
    )


def nothing_to_index(source: str, diff: PageDiff) -> str:
    """Return the message for a corpus none of whose pages yields text, with the first reasons."""
    problems = [*diff.failed, *diff.skipped]
    reasons = "; ".join(f"{f.doc}: {f.reason}" for f in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return (
        f"no page under {source} has text to index ({len(diff.skipped)} skipped, "
        f"{len(diff.failed)} failed: {reasons}{more}); the index is left as it was"
    )

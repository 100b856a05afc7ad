"""The live corpus: add a page by URL, follow feeds and sitemaps, poll them, save new articles as pages.

All network reads go through corpus.fetch's Fetcher. A page file is written (atomically, fsynced) before
its item is recorded as done, and a feed's validators (ETag, Last-Modified) are stored only once every
item in it is done, so a poll killed at any point loses nothing and the next poll finishes it; the
reindex leaves pages whose bytes it already indexed alone, so nothing is indexed twice.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from bot.sources.pages import address_problem, page_path, same_site, save_page, with_address
from bot.sources.schedule import next_due
from bot.sources.store import Source, SourceStore, WebPage
from corpus.errors import CorpusError, FetchError, PageError
from corpus.feeds import Feed, FeedItem, canonical_url, discover_feeds, normalise_url, parse_feed
from corpus.fetch import HOST_ERRORS, Fetched, Fetcher
from corpus.load import article_fingerprint
from corpus.models import Article
from corpus.parse import read_page
from embeddings.ids import passages_of

log = logging.getLogger(__name__)

PageStatus = Literal["added", "updated", "unchanged", "duplicate", "refused"]
MAX_ITEMS_PER_POLL = 1000  # the rest wait for the next poll (the feed's validators are not kept)
MAX_SUB_SITEMAPS = 50
MAX_FEED_LINKS = 3  # feeds an HTML page links that are tried when following it
MAX_TRIES = 3  # an item whose page fails this often is given up (and keeps its reason)
BATCH = 50  # pages saved between two reindexes during a long poll
# Fetch failures worth another try at the next poll (the host's trouble, not the page's); others are final.
TRANSIENT = HOST_ERRORS | {"backoff", "robots"}


@dataclass(frozen=True)
class PageOutcome:
    """What adding one URL did: the page's file and citation fields, or why it was not added."""

    url: str
    status: PageStatus
    reason: str | None = None
    path: str | None = None
    title: str | None = None
    outlet: str | None = None
    date: str | None = None
    passages: int = 0
    fetch_error: str | None = None  # FetchError.kind when the fetch failed

    @property
    def transient(self) -> bool:
        """Tell whether the page failed for a reason that may pass (a host error, robots.txt unreachable)."""
        return self.fetch_error in TRANSIENT

    @property
    def saved(self) -> bool:
        """Tell whether the corpus changed (a new page, or new text for a known one)."""
        return self.status in ("added", "updated")


@dataclass(frozen=True)
class PollOutcome:
    """One poll of one source: its status ("ok" or why not) and what each new item became."""

    source: Source
    status: str
    items: int = 0
    pages: tuple[PageOutcome, ...] = ()

    @property
    def added(self) -> int:
        """Return how many pages this poll added or updated."""
        return sum(p.saved for p in self.pages)


class SourceRefused(Exception):
    """A URL cannot be followed; the message says why."""


class LiveCorpus:
    """Adds pages and polls sources into corpus_dir, through one fetcher, keeping state in the store."""

    def __init__(
        self,
        corpus_dir: Path,
        fetcher: Fetcher,
        store: SourceStore,
        *,
        max_page_bytes: int = 5_000_000,
        poll_minutes: int = 30,
        index: Callable[[], None] | None = None,
        batch: int = BATCH,
    ) -> None:
        self.corpus_dir = corpus_dir
        self.fetcher = fetcher
        self.store = store
        self.max_page_bytes = max_page_bytes
        self.poll_minutes = poll_minutes
        self.index = index  # called every `batch` saved pages during a poll (None: the caller indexes)
        self.batch = batch
        self._unindexed = 0
        # The pages this process saved since the last reindex, in order; complete while no other process
        # saved any (the store's counters tell): then a reindex reads just them, not the whole corpus.
        self._saved: list[str] = []
        self._saved_lock = threading.Lock()
        self._complete = not store.index_pending()
        self.stopped = threading.Event()  # set when the process stops: a poll ends after its current page

    # ------------------------------------------------------------ add by URL

    def add(self, url: str, *, source_id: int | None = None) -> PageOutcome:
        """Fetch a page (conditionally when known), check it is news and new, and save it into the corpus."""
        problem = address_problem(url)
        if problem:
            return PageOutcome(url, "refused", problem)
        asked = normalise_url(url)
        known = self.store.page_by(url=asked)
        # Validators only while the file is there: an admin may have deleted it to fetch it afresh.
        present = known is not None and (self.corpus_dir / known.path).is_file()
        try:
            fetched = self.fetcher.get(
                url,
                kind="page",
                etag=known.etag if known and present else None,
                last_modified=known.last_modified if known and present else None,
            )
        except FetchError as exc:
            return PageOutcome(url, "refused", exc.reason, fetch_error=exc.kind)
        if fetched.status == 304 and known is not None:
            return self._described(url, "unchanged", known.path)
        return self._keep(url, asked, fetched, known, source_id)

    def _keep(
        self, url: str, asked: str, fetched: Fetched, known: WebPage | None, source_id: int | None
    ) -> PageOutcome:
        """Parse a fetched page, refuse duplicates and non-news, and write it into the corpus."""
        try:
            final = normalise_url(fetched.final_url)
            stated = normalise_url(canonical_url(fetched.text(), fetched.final_url))
        except (CorpusError, ValueError) as exc:
            return PageOutcome(url, "refused", f"not a readable page: {exc}")
        # A page may name any canonical address; one on another site could squat that site's pages.
        canonical = stated if same_site(stated, final) else final
        rel = known.path if known is not None else page_path(canonical)
        data = fetched.content
        try:
            article = read_page(data, rel)[0]
            if article.url is None:  # the page names no address of its own: keep the one it came from
                data = with_address(data, fetched.final_url)
                article = read_page(data, rel)[0]
        except PageError as exc:
            return PageOutcome(url, "refused", f"not a news page: {exc.reason}")
        except CorpusError as exc:
            return PageOutcome(url, "refused", f"not a news page: {exc}")
        text_hash = article_fingerprint(article)
        twin = self.store.page_by(canonical=canonical) or self.store.page_by(text_hash=text_hash)
        if twin is not None and (known is None or twin.path != known.path):
            return replace(self._described(url, "duplicate", twin.path), reason=twin.path)
        page = WebPage(
            rel,
            asked,
            fetched.final_url,
            canonical,
            hashlib.sha256(fetched.content).hexdigest(),
            text_hash,
            fetched.etag,
            fetched.last_modified,
            source_id if known is None else known.source_id,
        )
        if known is not None and known.text_hash == text_hash and (self.corpus_dir / rel).is_file():
            # New bytes, same text: nothing to embed, nothing to write.
            self.store.record_page(page, new=False, changed=False)
            return _outcome(url, "unchanged", article)
        written = save_page(self.corpus_dir, rel, data, self.max_page_bytes)
        if written not in ("saved", "replaced", "unchanged"):
            return PageOutcome(url, "refused", f"could not be written into the corpus ({written})")
        # Recorded only now that the file is on disk: a crash before this re-fetches the page next time.
        changed = known is None or written != "unchanged"
        with self._saved_lock:
            self.store.record_page(page, new=known is None, changed=changed)
            if changed:
                self._saved.append(rel)
        self._unindexed += 1
        return _outcome(url, "added" if known is None else "updated", article)

    def _described(self, url: str, status: PageStatus, path: str) -> PageOutcome:
        """Return an outcome for a page already in the corpus, its fields read from its file."""
        try:
            article = read_page((self.corpus_dir / path).read_bytes(), path)[0]
        except (OSError, CorpusError):
            return PageOutcome(url, status, path, path)
        return replace(_outcome(url, status, article), reason=path)

    # ------------------------------------------------------------ follow

    def follow(self, url: str, every: int | None = None) -> Source:
        """Follow a feed, a sitemap, or an HTML page that links its feed; raises SourceRefused."""
        problem = address_problem(url)
        if problem:
            raise SourceRefused(problem)
        try:
            fetched = self.fetcher.get(url, kind="feed")
        except FetchError as exc:
            raise SourceRefused(exc.reason) from None
        feed_url, feed = self._feed_of(fetched)
        return self.store.add_source(normalise_url(url), feed_url, feed.kind, feed.title, every)

    def _feed_of(self, fetched: Fetched) -> tuple[str, Feed]:
        """Return the feed a fetched URL is, or the first working feed its HTML links."""
        try:
            return fetched.final_url, parse_feed(fetched.content, fetched.final_url)
        except FEED_ERRORS as exc:
            first_problem = str(exc)
        try:
            links = discover_feeds(fetched.text(), fetched.final_url)
        except (CorpusError, ValueError):
            links = []
        for link in links[:MAX_FEED_LINKS]:
            try:
                linked = self.fetcher.get(link, kind="feed")
                return linked.final_url, parse_feed(linked.content, linked.final_url)
            except FetchError as exc:
                first_problem = f"{link}: {exc.reason}"
            except FEED_ERRORS as exc:
                first_problem = f"{link}: {exc}"
        if not links:
            raise SourceRefused(f"not a feed or sitemap, and it links no feed ({first_problem})")
        raise SourceRefused(f"none of the feeds it links works ({first_problem})")

    def unfollow(self, key: str) -> Source | None:
        """Stop following the source with this id or URL; return it, or None when there is none."""
        source = self.store.find(key) or self.store.find(normalise_url(key))
        if source is not None:
            self.store.remove_source(source.id)
        return source

    # ------------------------------------------------------------ poll

    def poll_due(self, *, now: float | None = None, force: bool = False) -> list[PollOutcome]:
        """Poll every source that is due (every one when force), then index what is still unindexed."""
        now = time.time() if now is None else now
        due = [s for s in self.store.sources() if force or s.next_check <= now]
        outcomes = [self.poll(source) for source in due]
        self.flush()
        return outcomes

    def flush(self) -> None:
        """Index the saved pages no reindex has taken in yet (when this corpus indexes by itself)."""
        if self.index is not None and self.store.index_pending():
            self.index()
        self._unindexed = 0

    def pending(self) -> Pending:
        """Return what a reindex of the saved pages must read: just the pages saved since the last one
        when this process saved them all, else None (every page: after a restart, or when another
        process saved pages too)."""
        with self._saved_lock:
            mark = self.store.saved_mark()
            complete = self._complete and mark - self.store.indexed_mark() == len(self._saved)
            return Pending(mark, tuple(self._saved) if complete else None, len(self._saved))

    def indexed(self, pending: Pending) -> None:
        """Record that a reindex of pending finished (pages saved since stay pending)."""
        with self._saved_lock:
            self.store.indexed(pending.mark)
            del self._saved[: pending.taken]
            self._complete = True  # it read every page saved before the mark; this list has the rest

    def poll(self, source: Source) -> PollOutcome:
        """Fetch one source (conditionally), add each new item's article page, and schedule the next poll."""
        every = source.every_minutes or self.poll_minutes
        try:
            fetched = self.fetcher.get(
                source.feed_url,
                kind="feed",
                etag=source.etag or None,
                last_modified=source.last_modified or None,
            )
        except FetchError as exc:
            return self._failed(source, exc.reason, exc.retry_after)
        if fetched.status == 304:
            when = next_due(time.time(), every, retry_after=fetched.retry_after)
            self.store.record_poll(source.id, ok=True, status="ok", next_check=when)
            return PollOutcome(source, "ok")
        try:
            feed = parse_feed(fetched.content, fetched.final_url)
        except FEED_ERRORS as exc:
            return self._failed(source, f"not a feed: {exc}", fetched.retry_after)
        items = [*feed.items, *self._sub_items(feed)]
        pages, finished = self._take_items(source, items)
        # Validators only when every item is done: else a 304 next time would hide the rest.
        etag, modified = (fetched.etag, fetched.last_modified) if finished else ("", "")
        when = next_due(time.time(), every, ttl_minutes=feed.ttl_minutes, retry_after=fetched.retry_after)
        self.store.record_poll(
            source.id, ok=True, status="ok", next_check=when, etag=etag, last_modified=modified
        )
        return PollOutcome(source, "ok", len(items), tuple(pages))

    def _sub_items(self, feed: Feed) -> list[FeedItem]:
        """Return the items of a sitemap index's sitemaps (those that fail are left for the next poll)."""
        items: list[FeedItem] = []
        for url in feed.sub_sitemaps[:MAX_SUB_SITEMAPS]:
            try:
                fetched = self.fetcher.get(url, kind="feed")
                items.extend(parse_feed(fetched.content, fetched.final_url).items)
            except FetchError as exc:
                log.warning("sitemap %s: %s", url, exc.reason)
            except FEED_ERRORS as exc:
                log.warning("sitemap %s: %s", url, exc)
        return items

    def _take_items(self, source: Source, items: list[FeedItem]) -> tuple[list[PageOutcome], bool]:
        """Add the article page of each item not done yet; return the outcomes and whether all are done."""
        states = self.store.item_states(source.id)
        outcomes: list[PageOutcome] = []
        finished = True
        taken = 0
        for item in items:
            key = normalise_url(item.url)
            state, tries = states.get(key, ("new", 0))
            if state == "done":
                continue
            if taken >= MAX_ITEMS_PER_POLL or self.stopped.is_set():
                finished = False
                break
            taken += 1
            states[key] = ("done", tries)  # a feed may list an item twice
            outcome = self._take(source, key, item.url, tries)
            outcomes.append(outcome)
            if outcome.fetch_error == "backoff":  # the host is resting: the rest waits for the next poll
                return outcomes, False
            finished &= not outcome.transient or tries + 1 >= MAX_TRIES
        return outcomes, finished

    def _take(self, source: Source, key: str, url: str, tries: int) -> PageOutcome:
        """Add one item's page (not re-fetched when already in the corpus) and record the item."""
        known = self.store.page_by(url=key)
        if known is not None:
            outcome = PageOutcome(url, "duplicate", known.path, known.path)
        else:
            outcome = self.add(url, source_id=source.id)
        if outcome.fetch_error == "backoff":
            return outcome  # not tried: the item keeps its state
        retry = outcome.transient and tries + 1 < MAX_TRIES
        self.store.mark_item(source.id, key, "retry" if retry else "done", outcome.reason)
        if self.index is not None and self._unindexed >= self.batch:
            self.flush()
        return outcome

    def _failed(self, source: Source, reason: str, retry_after: float | None) -> PollOutcome:
        """Record a failed poll and back off."""
        every = source.every_minutes or self.poll_minutes
        when = next_due(time.time(), every, retry_after=retry_after, failures=source.failures + 1)
        self.store.record_poll(source.id, ok=False, status=reason, next_check=when)
        log.warning("source %d (%s): %s", source.id, source.feed_url, reason)
        return PollOutcome(source, reason)


# parse_feed's refusals of bytes that are no feed (malformed XML, an HTML page, an unknown root).
FEED_ERRORS: tuple[type[Exception], ...] = (CorpusError, ValueError)


@dataclass(frozen=True)
class Pending:
    """The pages a reindex of the saved pages reads (None: all), and the mark to record when it ends."""

    mark: int
    pages: tuple[str, ...] | None
    taken: int  # how many of the pages saved in this process it covers


def _outcome(url: str, status: PageStatus, article: Article) -> PageOutcome:
    return PageOutcome(
        url,
        status,
        None,
        article.path,
        article.title,
        article.outlet,
        article.date,
        len(passages_of(article)),
    )

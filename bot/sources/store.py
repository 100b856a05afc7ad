"""Followed sources, the items seen in them and the pages fetched from the web, in the bot's state store.

The tables live in the bot's SQLite state file (bot.state.BotState), so they survive restarts and the
CLI (`quotebot poll --once`) and a running bot share them; each change is one transaction.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.state import BotState

# Counters: pages saved so far, and how many of them the last finished reindex had seen on its start.
SAVED = "sources_pages_saved"
INDEXED = "sources_pages_indexed"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL UNIQUE, feed_url TEXT NOT NULL,
    kind TEXT NOT NULL, title TEXT, every_minutes INTEGER, added REAL NOT NULL,
    last_fetch REAL, last_ok REAL, status TEXT NOT NULL DEFAULT 'new', failures INTEGER NOT NULL DEFAULT 0,
    next_check REAL NOT NULL, etag TEXT, last_modified TEXT, pages_added INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS source_items (
    source_id INTEGER NOT NULL, url TEXT NOT NULL, state TEXT NOT NULL, tries INTEGER NOT NULL DEFAULT 0,
    reason TEXT, seen REAL NOT NULL, PRIMARY KEY (source_id, url)
);
CREATE TABLE IF NOT EXISTS web_pages (
    path TEXT PRIMARY KEY, url TEXT NOT NULL, final_url TEXT NOT NULL, canonical TEXT NOT NULL,
    content_hash TEXT NOT NULL, text_hash TEXT NOT NULL, etag TEXT, last_modified TEXT,
    source_id INTEGER, added REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS web_pages_url ON web_pages(url);
CREATE INDEX IF NOT EXISTS web_pages_canonical ON web_pages(canonical);
CREATE INDEX IF NOT EXISTS web_pages_text ON web_pages(text_hash);
"""

_SOURCE_COLUMNS = (
    "id, url, feed_url, kind, title, every_minutes, added, last_fetch, last_ok, status, failures, "
    "next_check, etag, last_modified, pages_added"
)
_PAGE_COLUMNS = "path, url, final_url, canonical, content_hash, text_hash, etag, last_modified, source_id"


@dataclass(frozen=True)
class Source:
    """A followed feed or sitemap: where it is, how it was last fetched, and when it is due."""

    id: int
    url: str  # as the admin gave it (an HTML page that links its feed, or the feed itself)
    feed_url: str  # what is polled
    kind: str  # rss, atom, sitemap, sitemapindex
    title: str | None
    every_minutes: int | None  # None: QUOTEBOT_POLL_MINUTES
    added: float
    last_fetch: float | None
    last_ok: float | None  # the last successful poll (ops' metrics read it)
    status: str  # "ok", "new", or why the last poll failed
    failures: int  # polls failed in a row (the backoff's exponent)
    next_check: float
    etag: str | None
    last_modified: str | None
    pages_added: int


@dataclass(frozen=True)
class WebPage:
    """A page fetched from the web into the corpus: its file, its addresses and its hashes."""

    path: str  # corpus-relative
    url: str  # normalised address it was asked for
    final_url: str  # where the last redirect ended
    canonical: str  # normalised canonical address (rel=canonical, else the final URL)
    content_hash: str  # sha256 of the fetched bytes
    text_hash: str  # corpus.load.article_fingerprint: the same article under another address
    etag: str | None = None
    last_modified: str | None = None
    source_id: int | None = None


class SourceStore:
    """The sources' tables in the bot's state database."""

    def __init__(self, state: BotState) -> None:
        self.state = state
        state.add_tables(_SCHEMA)

    # ------------------------------------------------------------ sources

    def add_source(self, url: str, feed_url: str, kind: str, title: str | None, every: int | None) -> Source:
        """Follow a source (due now); following a followed URL again updates its feed and interval."""
        now = time.time()
        with self.state.transaction() as run:
            run(
                "INSERT INTO sources(url, feed_url, kind, title, every_minutes, added, next_check) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(url) DO UPDATE SET feed_url = excluded.feed_url, "
                "kind = excluded.kind, title = excluded.title, every_minutes = excluded.every_minutes",
                (url, feed_url, kind, title, every, now, now),
            )
            rows = run(f"SELECT {_SOURCE_COLUMNS} FROM sources WHERE url = ?", (url,))
        return _source(rows[0])

    def sources(self) -> list[Source]:
        """Return every followed source, oldest first."""
        with self.state.transaction() as run:
            return [_source(r) for r in run(f"SELECT {_SOURCE_COLUMNS} FROM sources ORDER BY id")]

    def find(self, key: str) -> Source | None:
        """Return the source with this id, URL or feed URL, or None."""
        for source in self.sources():
            if key in (str(source.id), source.url, source.feed_url):
                return source
        return None

    def remove_source(self, source_id: int) -> None:
        """Stop following a source and forget its items (its pages stay in the corpus)."""
        with self.state.transaction() as run:
            run("DELETE FROM source_items WHERE source_id = ?", (source_id,))
            run("DELETE FROM sources WHERE id = ?", (source_id,))

    def record_poll(
        self,
        source_id: int,
        *,
        ok: bool,
        status: str,
        next_check: float,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> None:
        """Record how a poll of a source ended and when it is due again."""
        now = time.time()
        with self.state.transaction() as run:
            if ok:
                run(
                    "UPDATE sources SET last_fetch = ?, last_ok = ?, status = ?, failures = 0, "
                    "next_check = ?, "
                    "etag = COALESCE(?, etag), last_modified = COALESCE(?, last_modified) WHERE id = ?",
                    (now, now, status, next_check, etag, last_modified, source_id),
                )
            else:
                run(
                    "UPDATE sources SET last_fetch = ?, status = ?, failures = failures + 1, next_check = ? "
                    "WHERE id = ?",
                    (now, status, next_check, source_id),
                )

    # ------------------------------------------------------------ items

    def item_states(self, source_id: int) -> dict[str, tuple[str, int]]:
        """Return each item URL of a source seen so far with its state ("done" or "retry") and tries."""
        with self.state.transaction() as run:
            rows = run("SELECT url, state, tries FROM source_items WHERE source_id = ?", (source_id,))
        return {url: (state, tries) for url, state, tries in rows}

    def mark_item(self, source_id: int, url: str, state: str, reason: str | None = None) -> None:
        """Record an item as done (saved, a duplicate, or given up) or to retry, counting its tries."""
        with self.state.transaction() as run:
            run(
                "INSERT INTO source_items(source_id, url, state, tries, reason, seen) "
                "VALUES (?, ?, ?, 1, ?, ?) "
                "ON CONFLICT(source_id, url) DO UPDATE SET state = excluded.state, tries = tries + 1, "
                "reason = excluded.reason",
                (source_id, url, state, reason, time.time()),
            )

    # ------------------------------------------------------------ pages

    def page_by(
        self, *, url: str | None = None, canonical: str | None = None, text_hash: str = ""
    ) -> WebPage | None:
        """Return the page fetched from this address, with this canonical address, or with this text."""
        with self.state.transaction() as run:
            for column, value in (("url", url), ("canonical", canonical), ("text_hash", text_hash)):
                if value:
                    rows = run(f"SELECT {_PAGE_COLUMNS} FROM web_pages WHERE {column} = ? LIMIT 1", (value,))
                    if rows:
                        return WebPage(*rows[0])
            if url:  # the address the admin gave may be the canonical one of a page fetched by another
                rows = run(f"SELECT {_PAGE_COLUMNS} FROM web_pages WHERE canonical = ? LIMIT 1", (url,))
                if rows:
                    return WebPage(*rows[0])
        return None

    def record_page(self, page: WebPage, *, new: bool, changed: bool = True) -> None:
        """Record a fetched page (its source counts it when new); changed marks the index stale."""
        with self.state.transaction() as run:
            run(
                f"INSERT OR REPLACE INTO web_pages({_PAGE_COLUMNS}, added) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*_page_values(page), time.time()),
            )
            if new and page.source_id is not None:
                run("UPDATE sources SET pages_added = pages_added + 1 WHERE id = ?", (page.source_id,))
            if changed:
                run(
                    "INSERT INTO counters(name, value) VALUES (?, 1) "
                    "ON CONFLICT(name) DO UPDATE SET value = value + 1",
                    (SAVED,),
                )

    def pages(self) -> list[WebPage]:
        """Return every page fetched into the corpus."""
        with self.state.transaction() as run:
            return [WebPage(*r) for r in run(f"SELECT {_PAGE_COLUMNS} FROM web_pages ORDER BY path")]

    def saved_mark(self) -> int:
        """Return how many pages were saved so far (take it before a reindex starts scanning)."""
        return self.state.counter(SAVED)

    def indexed_mark(self) -> int:
        """Return the saved_mark() of the last reindex that finished."""
        return self.state.counter(INDEXED)

    def index_pending(self) -> bool:
        """Tell whether pages were saved that no finished reindex has scanned."""
        return self.state.counter(SAVED) > self.state.counter(INDEXED)

    def indexed(self, mark: int) -> None:
        """Record that a reindex which started at saved_mark() mark has finished."""
        with self.state.transaction() as run:
            run(
                "INSERT INTO counters(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)",
                (INDEXED, mark),
            )


def _source(row: tuple[Any, ...]) -> Source:
    return Source(*row)


def _page_values(page: WebPage) -> tuple[object, ...]:
    return (
        page.path,
        page.url,
        page.final_url,
        page.canonical,
        page.content_hash,
        page.text_hash,
        page.etag,
        page.last_modified,
        page.source_id,
    )

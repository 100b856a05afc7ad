"""Live-corpus messages: what /add did with each URL, /follow's and /unfollow's replies, and /sources."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

from bot.i18n import Lang, text
from bot.sources.live_corpus import PageOutcome
from bot.sources.store import Source


def render_added(outcome: PageOutcome, lang: Lang) -> str:
    """Return the reply to one URL of /add: title, outlet, date and passages, or why it was not added."""
    url = escape(outcome.url)
    if outcome.status == "refused":
        return text(lang, "add_refused", url=url, reason=escape(outcome.reason or "?"))
    if outcome.status == "duplicate":
        return text(lang, "add_duplicate", url=url, path=escape(outcome.path or "?"))
    unknown = text(lang, "unknown_field")
    return text(
        lang,
        f"add_{outcome.status}",
        title=escape(outcome.title or unknown),
        outlet=escape(outcome.outlet or unknown),
        date=escape(outcome.date or unknown),
        passages=outcome.passages,
        path=escape(outcome.path or "?"),
    )


def render_followed(source: Source, every: int, lang: Lang) -> str:
    """Return the reply to /follow."""
    return text(
        lang,
        "followed",
        id=source.id,
        title=escape(source.title or source.url),
        kind=source.kind,
        every=every,
        url=escape(source.feed_url),
    )


def render_unfollowed(source: Source, lang: Lang) -> str:
    """Return the reply to /unfollow."""
    return text(lang, "unfollowed", id=source.id, url=escape(source.url), pages=source.pages_added)


def when(stamp: float | None, lang: Lang) -> str:
    """Return a UTC time as 2026-12-06 09:30 UTC, or "never"."""
    if stamp is None:
        return text(lang, "status_never")
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def render_sources(sources: Sequence[Source], lang: Lang) -> str:
    """Return /sources: each source's id, URL, kind, last fetch, status, pages added and next check."""
    if not sources:
        return text(lang, "sources_none")
    lines = [f"<b>{text(lang, 'sources_title')}</b>"]
    for source in sources:
        status = {"ok": "source_ok", "new": "source_new"}.get(source.status)
        lines.append(
            text(
                lang,
                "source_line",
                id=source.id,
                url=escape(source.url),
                kind=source.kind,
                last=when(source.last_fetch, lang),
                status=text(lang, status) if status else escape(source.status),
                pages=source.pages_added,
                next=when(source.next_check, lang),
            )
        )
    return "\n\n".join(lines)

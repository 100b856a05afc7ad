"""The live corpus and its fetcher, put together from the settings and the bot's state store."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bot.config import Settings
from bot.sources.live_corpus import LiveCorpus
from bot.sources.store import SourceStore

if TYPE_CHECKING:
    from corpus.fetch import Fetcher

    from bot.state import BotState


def open_fetcher(settings: Settings, on_fetch: Callable[..., Any] | None = None) -> Fetcher:
    """Return the one fetcher, with the allow-list and page size limit of the settings."""
    from corpus.fetch import Fetcher, FetchPolicy

    policy = FetchPolicy(allow=tuple(settings.fetch_allow), max_bytes=settings.max_page_bytes)
    return Fetcher(policy, on_fetch=on_fetch)


def open_live_corpus(
    settings: Settings,
    state: BotState,
    *,
    index: Callable[[], None] | None = None,
    on_fetch: Callable[..., Any] | None = None,
) -> LiveCorpus:
    """Return the live corpus over the configured corpus directory, its state in the bot's state store."""
    return LiveCorpus(
        settings.corpus_dir,
        open_fetcher(settings, on_fetch),
        SourceStore(state),
        max_page_bytes=settings.max_page_bytes,
        poll_minutes=settings.poll_minutes,
        index=index,
    )

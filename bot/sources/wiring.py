"""The live corpus and its fetcher, put together from the settings and the bot's state store."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.sources.live_corpus import LiveCorpus
from bot.sources.store import SourceStore

if TYPE_CHECKING:
    from bot.state import BotState
    from corpus.fetch import Fetcher


def open_fetcher(settings: Settings, on_fetch: Callable[[str, str], None] | None = None) -> Fetcher:
    """Return the one fetcher, with the allow-list and page size limit of the settings."""
    from corpus.fetch import Fetcher, FetchPolicy

    policy = FetchPolicy(
        allow=tuple(settings.fetch_allow),
        max_bytes=settings.max_page_bytes,
        per_host_interval=settings.fetch_interval,
    )
    return Fetcher(policy, on_fetch=on_fetch)


def open_live_corpus(
    settings: Settings,
    state: BotState,
    *,
    index: Callable[[], None] | None = None,
    on_fetch: Callable[[str, str], None] | None = None,
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

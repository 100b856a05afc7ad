"""What every handler shares (the runtime, the reindex job, search) and the typed context handing it over."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot.config import Settings
from bot.languages import DEFAULT, Lang
from bot.metrics import Metrics
from bot.state import BotState
from bot.telegram.limiter import QuestionLimiter
from embeddings.models import Answer, ReindexProgress

if TYPE_CHECKING:
    from bot.sources.live_corpus import LiveCorpus
    from bot.telegram.search_queue import SearchQueue
    from embeddings.backend import TextEncoder
    from embeddings.live import LiveSearcher


@dataclass
class ReindexJob:
    """The one reindex running in the background and the chat message that shows its progress."""

    full: bool
    chat_id: int | None  # None: nobody to tell (the watched folder, the schedule, a followed source)
    message_id: int
    lang: Lang
    trigger: str = "admin"  # the metrics' label: admin, upload, watch, schedule, source...
    only: tuple[str, ...] | None = None  # the pages to read (None: every page of the corpus)
    saved: bool = False  # also the pages the live corpus saved since the last reindex (see build)
    progress: ReindexProgress | None = None
    again: bool = False  # files arrived while running: run once more afterwards
    again_chat: tuple[int, Lang] | None = None  # the chat that asked for it, when this job has none
    finished: bool = False

    def running(self) -> bool:
        """Tell whether the job has not finished yet."""
        return not self.finished

    def run_again(self, chat_id: int | None = None, lang: Lang = DEFAULT) -> None:
        """Have the job run once more after it ends; a chat that asks gets that run's report."""
        self.again = True
        if self.chat_id is None and chat_id is not None:
            self.again_chat = (chat_id, lang)


@dataclass
class Runtime:
    """Settings, the live index, the model, state, the limiter, the queue, the reindex job and metrics."""

    settings: Settings
    live: LiveSearcher
    encoder: TextEncoder
    state: BotState
    started: float = field(default_factory=time.time)
    limiter: QuestionLimiter = field(default_factory=lambda: QuestionLimiter(20))
    examples: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reindex: ReindexJob | None = None  # the job that runs or ran last
    queue: SearchQueue | None = None
    sources: LiveCorpus | None = None  # pages by URL and followed feeds (bot.sources)
    sources_lock: threading.Lock = field(default_factory=threading.Lock)  # one poll at a time
    wake: asyncio.Event = field(default_factory=asyncio.Event)  # set to poll the sources now
    poller: asyncio.Task[None] | None = None  # the task that polls the sources when they are due
    metrics: Metrics = field(default_factory=Metrics)
    background: list[asyncio.Task[None]] = field(default_factory=list)  # watcher, schedule: cancelled at stop

    def is_admin(self, user_id: int | None) -> bool:
        """Tell whether a Telegram user id is on the admin allowlist."""
        return user_id is not None and user_id in self.settings.admin_ids


async def search(rt: Runtime, question: str, offset: int = 0, *, user_id: int = 0) -> Answer:
    """Search the live index off the event loop (first pages batched with other users' questions)."""
    if offset == 0 and rt.queue is not None:
        return await rt.queue.ask(question, user_id)

    def run() -> Answer:
        return rt.live.current.search(question, offset=offset)

    return await asyncio.to_thread(run)


class BotData:
    """application.bot_data: PTB creates it empty; build_application puts the runtime in."""

    runtime: Runtime


# ExtBot[int]: the bot's rate limiter (AIORateLimiter) takes an int per request. user_data and
# chat_data stay PTB's plain dicts: the bot keeps nothing per user or chat there.
class BotContext(CallbackContext[ExtBot[int], dict[Any, Any], dict[Any, Any], BotData]):
    """The context every handler gets: PTB's, plus the shared runtime."""

    @property
    def runtime(self) -> Runtime:
        """Return the runtime the application was built with."""
        return self.bot_data.runtime


CONTEXT_TYPES = ContextTypes(context=BotContext, bot_data=BotData)
BotApplication = Application[ExtBot[int], BotContext, dict[Any, Any], dict[Any, Any], BotData, None]

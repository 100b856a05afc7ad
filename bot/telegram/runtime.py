"""What every handler shares, and the context type that hands it to them typed (PTB's contexttypesbot)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot.config import Settings
from bot.metrics import Metrics
from bot.state import BotState
from bot.telegram.limiter import QuestionLimiter

if TYPE_CHECKING:
    from bot.telegram.reindex import ReindexJob
    from bot.telegram.search_queue import SearchQueue
    from embeddings.backend import TextEncoder
    from embeddings.live import LiveSearcher


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
    metrics: Metrics = field(default_factory=Metrics)
    background: list[asyncio.Task[None]] = field(default_factory=list)  # watcher, schedule: cancelled at stop

    def is_admin(self, user_id: int | None) -> bool:
        """Tell whether a Telegram user id is on the admin allowlist."""
        return user_id is not None and user_id in self.settings.admin_ids


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

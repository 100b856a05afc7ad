"""What every handler shares: settings, the live index, the model, state, the limiter and the queue."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from telegram.ext import ContextTypes

from bot.config import Settings
from bot.state import BotState
from bot.telegram.limiter import QuestionLimiter

if TYPE_CHECKING:
    from bot.telegram.reindex import ReindexJob
    from bot.telegram.search_queue import SearchQueue
    from embeddings.encoder import Encoder
    from embeddings.live import LiveSearcher


@dataclass
class Runtime:
    """Everything handlers share, kept in application.bot_data["runtime"]."""

    settings: Settings
    live: LiveSearcher
    encoder: Encoder
    state: BotState
    started: float = field(default_factory=time.time)
    limiter: QuestionLimiter = field(default_factory=lambda: QuestionLimiter(20))
    examples: dict[str, tuple[str, ...]] = field(default_factory=dict)
    reindex: ReindexJob | None = None  # the job that runs or ran last
    queue: SearchQueue | None = None

    def is_admin(self, user_id: int | None) -> bool:
        """Tell whether a Telegram user id is on the admin allowlist."""
        return user_id is not None and user_id in self.settings.admin_ids


def runtime(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    """Return the shared runtime of the application."""
    return context.bot_data["runtime"]  # type: ignore[no-any-return]

"""The greeting and the help text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.i18n import Lang, text
from bot.render.markup import esc, short_date
from bot.render.reply import fit

if TYPE_CHECKING:
    from embeddings.search import IndexStats


def render_start(stats: IndexStats, examples: Sequence[str], lang: Lang) -> str:
    """Greet with what the bot knows: corpus size and date range (examples go on buttons)."""
    if not stats.articles:
        greeting = text(lang, "start_empty")
    elif stats.date_min and stats.date_max:
        greeting = text(
            lang,
            "start",
            articles=stats.articles,
            passages=stats.passages,
            date_min=esc(short_date(stats.date_min) or ""),
            date_max=esc(short_date(stats.date_max) or ""),
        )
    else:
        greeting = text(lang, "start_undated", articles=stats.articles, passages=stats.passages)
    if examples and stats.articles:
        greeting += "\n\n" + text(lang, "start_examples")
    return fit(greeting)


def render_help(lang: Lang, *, is_admin: bool) -> str:
    """Explain how to ask; admins also see their commands."""
    parts = [text(lang, "help")] + ([text(lang, "help_admin")] if is_admin else [])
    return fit("\n\n".join(parts))

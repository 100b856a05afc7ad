"""Telegram I/O: keyboards, sending replies, the typing indicator and quiet edits (retries: delivery.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
)
from telegram.constants import ChatAction
from telegram.error import BadRequest, TelegramError

from bot.render.reply import Button, InlineItem, Reply

if TYPE_CHECKING:
    from telegram import Bot

log = logging.getLogger(__name__)

TYPING_EVERY = 4.5  # Telegram shows "typing" for 5 s or until the next message


def markup(buttons: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    """Turn render's buttons into a Telegram inline keyboard."""
    rows = [
        [InlineKeyboardButton(b.text, callback_data=b.data, url=b.url) for b in row] for row in buttons if row
    ]
    return InlineKeyboardMarkup(rows) if rows else None


def inline_results(items: Sequence[InlineItem]) -> list[InlineQueryResultArticle]:
    """Turn render's inline items into Telegram inline-query results."""
    return [
        InlineQueryResultArticle(
            id=item.id,
            title=item.title,
            description=item.description,
            input_message_content=InputTextMessageContent(item.html),
        )
        for item in items
    ]


# Chat actions still in flight when their block ended (kept referenced until they finish).
_FINISHING: set[asyncio.Task[None]] = set()


@contextlib.asynccontextmanager
async def typing_action(bot: Bot, chat_id: int) -> AsyncIterator[None]:
    """Show "typing" in a chat until the block ends, renewing it before Telegram lets it lapse.

    The end of the block stops the renewals but never cancels a request in flight: httpcore 1.0.9
    loses a pool connection for good to a request cancelled while it waits for one (encode/httpcore
    #1093), and under load that left a bot with every connection lost and no answer sent.
    """
    done = asyncio.Event()

    async def keep_typing() -> None:
        while not done.is_set():
            try:
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            except TelegramError as exc:
                log.debug("chat action failed in chat %s: %s", chat_id, exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), TYPING_EVERY)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        done.set()
        if not task.done():
            _FINISHING.add(task)
            task.add_done_callback(_FINISHING.discard)


async def send_replies(
    bot: Bot, chat_id: int, replies: Sequence[Reply], *, quote: Message | None = None
) -> None:
    """Send rendered replies in order, the first one quoting the asker's message in groups."""
    for i, reply in enumerate(replies):
        await bot.send_message(
            chat_id,
            reply.html,
            reply_markup=markup(reply.buttons),
            reply_to_message_id=quote.message_id if quote is not None and i == 0 else None,
            allow_sending_without_reply=True,
        )


async def acknowledge(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a callback query, shrugging off Telegram's refusal of one that is too old."""
    try:
        await query.answer(text, show_alert=text is not None)
    except BadRequest as exc:
        # A press queued while the bot was down is "too old" to answer, but still deserves its result.
        log.info("callback query %s not answered: %s", query.id, exc)


async def edit_quietly(bot: Bot, chat_id: int, message_id: int, html: str) -> None:
    """Edit a message, ignoring Telegram's "message is not modified" refusal."""
    try:
        await bot.edit_message_text(html, chat_id=chat_id, message_id=message_id)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise

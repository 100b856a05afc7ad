"""Telegram handlers for users: questions, /start, /help, /ask, buttons, inline mode, and errors."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from telegram import InlineQuery, Message, Update
from telegram.error import BadRequest, NetworkError, TelegramError

from bot import i18n
from bot.render.answers import render_context, render_inline
from bot.render.markup import one_line
from bot.render.reply import Button
from bot.render.welcome import render_help, render_start
from bot.telegram.examples import examples_for
from bot.telegram.links import decode_start_payload
from bot.telegram.questions import addressed_question, answer_question, language_of
from bot.telegram.runtime import BotContext, Runtime, search
from bot.telegram.sending import acknowledge, inline_results, markup, send_replies
from embeddings.errors import BadQuestion, IndexMissing
from embeddings.models import Passage

log = logging.getLogger(__name__)

MAX_INLINE_RESULTS = 50
INLINE_SETTLE = 0.4  # seconds without a newer inline query from the user before searching
EXAMPLE_BUTTON_CHARS = 40


async def on_start(update: Update, context: BotContext) -> None:
    """Greet with what the bot knows and three example questions, or answer a deep-link question."""
    if update.message is None:
        return
    question = decode_start_payload(context.args[0]) if context.args else None
    if question:
        await answer_question(update, context, question)
    else:
        await greet(update.message, context.runtime, language_of(update))


async def greet(message: Message, rt: Runtime, lang: i18n.Lang) -> None:
    """Reply with what the index holds and example-question buttons (or that there is no index yet)."""
    try:
        examples = await examples_for(rt)
        stats = await asyncio.to_thread(lambda: rt.live.current.stats)
    except IndexMissing:
        await message.reply_html(i18n.text(lang, "index_missing"))
        return
    buttons = [
        [Button(text=one_line(q, EXAMPLE_BUTTON_CHARS), data="q:" + rt.state.remember(q))] for q in examples
    ]
    await message.reply_html(render_start(stats, examples, lang), reply_markup=markup(buttons))


async def on_help(update: Update, context: BotContext) -> None:
    """Explain how to ask, with admin commands for admins."""
    if update.message is None:
        return
    rt = context.runtime
    user = update.effective_user
    is_admin = rt.is_admin(user.id if user else None)
    await update.message.reply_html(render_help(language_of(update), is_admin=is_admin))


async def on_ask(update: Update, context: BotContext) -> None:
    """Answer `/ask question` in any chat."""
    if update.message is None:
        return
    question = " ".join(context.args or []).strip()
    if not question:
        await update.message.reply_html(i18n.text(language_of(update), "usage_ask"))
        return
    await answer_question(update, context, question)


async def on_private_text(update: Update, context: BotContext) -> None:
    """Treat a plain private message as a question."""
    if update.message and update.message.text:
        await answer_question(update, context, update.message.text)


async def on_group_text(update: Update, context: BotContext) -> None:
    """Answer in groups only when mentioned or replied to; otherwise stay silent."""
    message = update.message
    if message is None or not message.text:
        return
    question = addressed_question(message, context.bot.id, context.bot.username)
    if question is None:
        return
    if not question:
        await message.reply_html(i18n.text(language_of(update), "usage_ask"), do_quote=True)
        return
    await answer_question(update, context, question)


async def on_button(update: Update, context: BotContext) -> None:
    """Handle "more", "context" and example-question buttons; always answer the callback query."""
    query = update.callback_query
    if query is None:
        return
    rt = context.runtime
    lang = language_of(update)
    kind, _, key = (query.data or "").partition(":")
    chat_id = query.message.chat.id if query.message else None
    if kind in ("m", "q") and chat_id is not None:
        ref = await asyncio.to_thread(rt.state.recall, key)
        if ref is None:
            await acknowledge(query, i18n.text(lang, "stale"))
            return
        await acknowledge(query)
        await answer_question(update, context, ref.question, offset=ref.offset if kind == "m" else 0)
    elif kind == "c" and chat_id is not None:
        await show_context(update, context, key, chat_id, lang)
    else:
        await acknowledge(query, i18n.text(lang, "stale"))


async def show_context(
    update: Update, context: BotContext, token: str, chat_id: int, lang: i18n.Lang
) -> None:
    """Send the paragraphs around a quoted passage."""
    query = update.callback_query
    assert query is not None
    rt = context.runtime
    try:
        passage_id = int(token, 36)
    except ValueError:
        await acknowledge(query, i18n.text(lang, "stale"))
        return
    # Each press sends a message: a flood of presses counts against the asker's question limit,
    # and past it gets only the toast.
    if wait := rt.limiter.wait_seconds(query.from_user.id):
        await acknowledge(query, i18n.text(lang, "rate_limited", seconds=wait))
        return

    def neighbours() -> tuple[Passage, ...]:
        return tuple(rt.live.current.context(passage_id, radius=1))

    passages = await asyncio.to_thread(neighbours)
    if not passages:
        await acknowledge(query, i18n.text(lang, "context_missing"))
        return
    await acknowledge(query)
    await send_replies(context.bot, chat_id, render_context(passages, passage_id, lang))


async def on_inline(update: Update, context: BotContext) -> None:
    """Offer quotes with their sources for `@bot question` once the user stops typing, within the limit."""
    query = update.inline_query
    if query is None:
        return
    question = query.query.strip()
    if not question:
        await query.answer([], cache_time=60)
        return
    rt = context.runtime
    user_id = query.from_user.id
    # Clients send a query per keystroke: only the one the user stops at is searched and counted.
    rt.limiter.typing_inline(user_id, query.id)
    try:
        await asyncio.sleep(INLINE_SETTLE)
        if rt.limiter.superseded(user_id, query.id):
            return  # Telegram drops answers to queries the user typed past
        if rt.limiter.wait_seconds(user_id):
            await query.answer([], cache_time=0, is_personal=True)  # never cached for others
            rt.metrics.record_question(None, "rate_limited")
            return
        await answer_inline(rt, query, question, language_of(update))
    finally:
        rt.limiter.inline_done(user_id, query.id)


async def answer_inline(rt: Runtime, query: InlineQuery, question: str, lang: i18n.Lang) -> None:
    """Answer an inline query with up to 50 quotes, each with its source."""
    started = time.perf_counter()
    try:
        answer = await search(rt, question, user_id=query.from_user.id)
    except (BadQuestion, IndexMissing) as exc:
        await query.answer([], cache_time=60)
        reason = "bad_question" if isinstance(exc, BadQuestion) else "no_index"
        rt.metrics.record_question(time.perf_counter() - started, reason)
        return
    await query.answer(inline_results(render_inline(answer, lang)[:MAX_INLINE_RESULTS]), cache_time=300)
    rt.metrics.record_question(time.perf_counter() - started, None if answer.answered else "not_found")
    await asyncio.to_thread(rt.state.count, "questions")


async def apologise(update: object, context: BotContext) -> None:
    """Log an error with its context and tell the user, briefly, that it failed."""
    error = context.error
    if isinstance(update, Update):
        chat = update.effective_chat
        log.error(
            "update %s in chat %s failed: %s",
            update.update_id,
            chat.id if chat else None,
            type(error).__name__,
            exc_info=error,
        )
        lang = language_of(update)
        # A send that failed on the way may still have arrived: say so, and never resend it here.
        key = (
            "send_failed"
            if isinstance(error, NetworkError) and not isinstance(error, BadRequest)
            else "error"
        )
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer(i18n.text(lang, key))
        if chat is not None:
            with contextlib.suppress(TelegramError):
                await context.bot.send_message(chat.id, i18n.text(lang, key))
    else:
        log.error("error outside an update: %s", type(error).__name__, exc_info=error)

"""Answering one question in a chat: whom it is from, the limit, typing, search, render, send."""

from __future__ import annotations

import asyncio
import logging
import time

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType

from bot import i18n
from bot.render.answers import render_answer
from bot.render.reply import Reply
from bot.telegram.links import passage_token
from bot.telegram.runtime import BotContext, Runtime, search
from bot.telegram.sending import send_replies, typing_action
from embeddings.errors import BadQuestion, IndexMissing
from embeddings.models import Answer

log = logging.getLogger(__name__)


def language_of(update: Update) -> i18n.Lang:
    """Pick the UI language of the user behind an update."""
    user = update.effective_user
    return i18n.pick_language(user.language_code if user else None)


def answer_replies(rt: Runtime, answer: Answer, lang: i18n.Lang, offset: int) -> list[Reply]:
    """Render an answer with "more" and "context" buttons whose keys survive restarts."""
    if offset > 0 and not answer.hits:
        return [Reply(html=i18n.text(lang, "more_none"))]
    more_data = None
    if answer.has_more:
        more_data = "m:" + rt.state.remember(answer.question, offset + len(answer.hits))
    context_data = [f"c:{passage_token(hit.passage_id)}" for hit in answer.hits]
    return render_answer(answer, lang, more_data=more_data, context_data=context_data)


async def answer_question(update: Update, context: BotContext, question: str, *, offset: int = 0) -> None:
    """Answer one question in the update's chat: rate limit, typing, search, render, send."""
    chat = update.effective_chat
    if chat is None:
        return
    lang = language_of(update)
    user = update.effective_user
    asker = user.id if user else chat.id
    rt = context.runtime
    if await over_limit(context, asker, chat.id, lang):
        if offset == 0:
            rt.metrics.record_question(None, "rate_limited")
        return
    started = time.perf_counter()
    log.debug("question in chat %s: %r", chat.id, question)
    async with typing_action(context.bot, chat.id):
        replies, answer, refusal = await replies_for(rt, question, lang, offset, asker)
    ready = time.perf_counter()  # searched and rendered: what follows is Telegram's send budget
    # In groups the reply quotes the question, so the asker sees which one it answers.
    quote = update.message if chat.type != ChatType.PRIVATE else None
    await send_replies(context.bot, chat.id, replies, quote=quote)
    if offset == 0:  # a "more" page is not another question
        rt.metrics.record_question(time.perf_counter() - started, refusal)
    if answer is None:
        return
    await asyncio.to_thread(rt.state.count, "questions")
    ms = (time.perf_counter() - started) * 1000
    log.info(
        "answered chat=%s answered=%s hits=%d offset=%d in %.0f ms (ready after %.0f ms)",
        *(chat.id, answer.answered, len(answer.hits), offset, ms, (ready - started) * 1000),
    )


async def over_limit(context: BotContext, asker: int, chat_id: int, lang: i18n.Lang) -> bool:
    """Tell whether the asker is over the question limit, telling them so once per wait."""
    limiter = context.runtime.limiter
    wait = limiter.wait_seconds(asker)
    # One notice per wait: a flood of questions (in a group, too) must not get a flood of replies.
    if wait and limiter.first_refusal(asker, wait):
        await send_replies(context.bot, chat_id, [Reply(i18n.text(lang, "rate_limited", seconds=wait))])
    return wait > 0


async def replies_for(
    rt: Runtime, question: str, lang: i18n.Lang, offset: int, asker: int
) -> tuple[list[Reply], Answer | None, str | None]:
    """Search and render; or say why there is no answer to give. The third item names a refusal."""
    try:
        answer = await search(rt, question, offset, user_id=asker)
    except BadQuestion:
        return [Reply(i18n.text(lang, "usage_question"))], None, "bad_question"
    except IndexMissing:
        return [Reply(i18n.text(lang, "index_missing"))], None, "no_index"
    # Rendering and the button keys' SQLite writes stay off the event loop too.
    replies = await asyncio.to_thread(answer_replies, rt, answer, lang, offset)
    return replies, answer, None if answer.answered else "not_found"


def addressed_question(message: Message, bot_id: int, bot_username: str) -> str | None:
    """Return the question a group message puts to the bot, or None when it is not addressed to it."""
    text = message.text or ""
    mentions = [
        e
        for e in message.entities
        if (e.type == MessageEntity.MENTION and message.parse_entity(e).lower() == f"@{bot_username}".lower())
        or (e.type == MessageEntity.TEXT_MENTION and e.user is not None and e.user.id == bot_id)
    ]
    replied = message.reply_to_message
    is_reply = replied is not None and replied.from_user is not None and replied.from_user.id == bot_id
    if not mentions and not is_reply:
        return None
    if message.entities and mentions:
        # Cut the mention out; offsets are UTF-16 code units, so work on the encoded text.
        raw = text.encode("utf-16-le")
        for e in sorted(mentions, key=lambda e: e.offset, reverse=True):
            raw = raw[: 2 * e.offset] + raw[2 * (e.offset + e.length) :]
        text = raw.decode("utf-16-le")
    return text.strip(" \t\n,，:：")

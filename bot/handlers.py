"""Telegram handlers for users: questions, /start, /help, /ask, buttons, inline mode."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import re
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from telegram import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import i18n, render
from bot.config import Settings
from bot.state import BotState
from embeddings.errors import BadQuestion, IndexMissing
from embeddings.models import Answer

if TYPE_CHECKING:
    from telegram import Bot

    from embeddings.encoder import Encoder
    from embeddings.live import LiveSearcher

log = logging.getLogger(__name__)

TYPING_EVERY = 4.5  # Telegram shows "typing" for 5 s or until the next message
MAX_INLINE_RESULTS = 50
START_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
EXAMPLE_COUNT = 3
EXAMPLE_BUTTON_CHARS = 40
EXAMPLES_FILE = "examples.json"  # curated example questions shipped with a corpus


def language_of(update: Update) -> i18n.Lang:
    """Pick the UI language of the user behind an update."""
    user = update.effective_user
    return i18n.pick_language(user.language_code if user else None)


def encode_start_payload(question: str) -> str | None:
    """Return the /start deep-link payload of a question (base64url of UTF-8, unpadded), if it fits."""
    payload = base64.urlsafe_b64encode(question.strip().encode()).decode().rstrip("=")
    return payload if START_PAYLOAD.match(payload) else None


def decode_start_payload(payload: str) -> str | None:
    """Return the question a /start payload carries, or None when it is not one of ours."""
    if not START_PAYLOAD.match(payload):
        return None
    try:
        question = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        question = ""
    if question.strip() and question.isprintable():
        return question.strip()
    # Not base64 of text: a hand-made link like ?start=covid_vaccine is read as words.
    return payload.replace("_", " ").replace("-", " ").strip() or None


def passage_token(passage_id: int) -> str:
    """Return a passage id in base 36 (at most 13 characters for a 63-bit id)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    n, out = passage_id, ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


class QuestionLimiter:
    """A per-user sliding one-minute window of questions."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._seen: dict[int, deque[float]] = defaultdict(deque)
        self._told_until: dict[int, float] = {}

    def wait_seconds(self, user_id: int, now: float | None = None) -> int:
        """Record a question and return 0, or return the seconds to wait before the next one."""
        now = time.monotonic() if now is None else now
        window = self._seen[user_id]
        while window and now - window[0] >= 60.0:
            window.popleft()
        if len(window) >= self.per_minute:
            return max(1, int(60.0 - (now - window[0])) + 1)
        window.append(now)
        return 0

    def first_refusal(self, user_id: int, wait: int, now: float | None = None) -> bool:
        """Tell whether a limited user should hear about the wait (once per wait, so floods get one reply)."""
        now = time.monotonic() if now is None else now
        if now < self._told_until.get(user_id, 0.0):
            return False
        self._told_until[user_id] = now + wait
        return True


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
    reindex: Any = None  # bot.admin.ReindexJob while one runs
    queue: SearchQueue | None = None

    def is_admin(self, user_id: int | None) -> bool:
        """Tell whether a Telegram user id is on the admin allowlist."""
        return user_id is not None and user_id in self.settings.admin_ids


def runtime(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    """Return the shared runtime of the application."""
    return context.bot_data["runtime"]  # type: ignore[no-any-return]


def markup(buttons: Sequence[Sequence[render.Button]]) -> InlineKeyboardMarkup | None:
    """Turn render's buttons into a Telegram inline keyboard."""
    rows = [
        [InlineKeyboardButton(b.text, callback_data=b.data, url=b.url) for b in row] for row in buttons if row
    ]
    return InlineKeyboardMarkup(rows) if rows else None


@contextlib.asynccontextmanager
async def typing_action(bot: Bot, chat_id: int) -> AsyncIterator[None]:
    """Show "typing" in a chat until the block ends, renewing it before Telegram lets it lapse."""

    async def keep_typing() -> None:
        while True:
            try:
                await bot.send_chat_action(chat_id, ChatAction.TYPING)
            except TelegramError as exc:
                log.debug("chat action failed in chat %s: %s", chat_id, exc)
            await asyncio.sleep(TYPING_EVERY)

    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class SearchQueue:
    """Batches first-page questions that arrive together into one search_many call off the event loop.

    While a batch is being answered, new questions queue up and go in the next batch together, so
    one user sees no added wait and many users share the model's batched encoding.
    """

    def __init__(self, live: LiveSearcher, *, max_batch: int = 32, workers: int = 2) -> None:
        self.live = live
        self.max_batch = max_batch
        self.workers = workers
        self._pending: list[tuple[str, asyncio.Future[Answer]]] = []
        self._running = 0

    async def ask(self, question: str) -> Answer:
        """Return the answer to one question (raises BadQuestion like Searcher.search)."""
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending.append((question, future))
        if self._running < self.workers:
            self._running += 1
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    def _search(self, questions: list[str]) -> list[Answer | BadQuestion]:
        return self.live.current.search_many(questions)

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                try:
                    results = await asyncio.to_thread(self._search, [q for q, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._running -= 1


async def search(rt: Runtime, question: str, offset: int = 0) -> Answer:
    """Search the live index off the event loop (first pages batched with other users' questions)."""
    if offset == 0 and rt.queue is not None:
        return await rt.queue.ask(question)

    def run() -> Answer:
        return rt.live.current.search(question, offset=offset)

    return await asyncio.to_thread(run)


async def send_replies(
    bot: Bot, chat_id: int, replies: Sequence[render.Reply], *, quote: Message | None = None
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


def answer_replies(rt: Runtime, answer: Answer, lang: i18n.Lang, offset: int) -> list[render.Reply]:
    """Render an answer with "more" and "context" buttons whose keys survive restarts."""
    if offset > 0 and not answer.hits:
        return [render.Reply(html=i18n.text(lang, "more_none"))]
    more_data = None
    if answer.has_more:
        more_data = "m:" + rt.state.remember(answer.question, offset + len(answer.hits))
    context_data = [f"c:{passage_token(hit.passage_id)}" for hit in answer.hits]
    return render.render_answer(answer, lang, more_data=more_data, context_data=context_data)


async def answer_question(
    update: Update, context: ContextTypes.DEFAULT_TYPE, question: str, *, offset: int = 0
) -> None:
    """Answer one question in the update's chat: rate limit, typing, search, render, send."""
    rt = runtime(context)
    lang = language_of(update)
    chat = update.effective_chat
    user = update.effective_user
    if chat is None:
        return
    message = update.message
    quote = message if chat.type != ChatType.PRIVATE and message is not None else None
    asker = user.id if user else chat.id
    wait = rt.limiter.wait_seconds(asker)
    if wait:
        # One notice per wait: a flood of questions (in a group, too) must not get a flood of replies.
        if rt.limiter.first_refusal(asker, wait):
            await send_replies(
                context.bot, chat.id, [render.Reply(i18n.text(lang, "rate_limited", seconds=wait))]
            )
        return
    started = time.perf_counter()
    log.debug("question in chat %s: %r", chat.id, question)
    async with typing_action(context.bot, chat.id):
        try:
            answer = await search(rt, question, offset)
        except BadQuestion:
            await send_replies(
                context.bot, chat.id, [render.Reply(i18n.text(lang, "usage_question"))], quote=quote
            )
            return
        except IndexMissing:
            await send_replies(
                context.bot, chat.id, [render.Reply(i18n.text(lang, "index_missing"))], quote=quote
            )
            return
        # Rendering and the button keys' SQLite writes stay off the event loop too.
        replies = await asyncio.to_thread(answer_replies, rt, answer, lang, offset)
    await send_replies(context.bot, chat.id, replies, quote=quote)
    await asyncio.to_thread(rt.state.count, "questions")
    log.info(
        "answered chat=%s answered=%s hits=%d offset=%d in %.0f ms",
        chat.id,
        answer.answered,
        len(answer.hits),
        offset,
        (time.perf_counter() - started) * 1000,
    )


def curated_examples(corpus_dir: Path) -> list[str]:
    """Return the questions of corpus_dir/examples.json (a list of {"question": ...}), if any."""
    try:
        entries = json.loads((corpus_dir / EXAMPLES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(entries, list):
        return []
    return [
        e["question"].strip() for e in entries if isinstance(e, dict) and isinstance(e.get("question"), str)
    ]


async def examples_for(rt: Runtime) -> tuple[str, ...]:
    """Return up to three example questions the current index really answers (cached per index).

    Curated questions from the corpus's examples.json come first; headlines of the newest articles
    (which find their own article) fill the rest. Each is asked before it is offered.
    """

    def derive() -> tuple[str, tuple[str, ...]]:
        searcher = rt.live.current
        key = searcher.stats.created
        if key in rt.examples:
            return key, rt.examples[key]
        candidates = curated_examples(rt.settings.corpus_dir)
        candidates += [h.title.strip() for h in searcher.headlines(4 * EXAMPLE_COUNT)]
        unique = list(dict.fromkeys(q for q in candidates if q))
        # One batched encode for all candidates instead of a model call per question.
        answers = searcher.search_many(unique)
        found = [q for q, a in zip(unique, answers, strict=True) if isinstance(a, Answer) and a.answered]
        return key, tuple(found[:EXAMPLE_COUNT])

    key, found = await asyncio.to_thread(derive)
    rt.examples = {key: found}
    return found


async def on_start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet with what the bot knows and three example questions, or answer a deep-link question."""
    if update.message is None:
        return
    if context.args:
        question = decode_start_payload(context.args[0])
        if question:
            await answer_question(update, context, question)
            return
    rt = runtime(context)
    lang = language_of(update)
    try:
        examples = await examples_for(rt)
        stats = await asyncio.to_thread(lambda: rt.live.current.stats)
    except IndexMissing:
        await update.message.reply_html(i18n.text(lang, "index_missing"))
        return
    buttons = [
        [render.Button(text=render.one_line(q, EXAMPLE_BUTTON_CHARS), data="q:" + rt.state.remember(q))]
        for q in examples
    ]
    await update.message.reply_html(render.render_start(stats, examples, lang), reply_markup=markup(buttons))


async def on_help(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain how to ask, with admin commands for admins."""
    if update.message is None:
        return
    rt = runtime(context)
    user = update.effective_user
    is_admin = rt.is_admin(user.id if user else None)
    await update.message.reply_html(render.render_help(language_of(update), is_admin=is_admin))


async def on_ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer `/ask question` in any chat."""
    if update.message is None:
        return
    question = " ".join(context.args or []).strip()
    if not question:
        await update.message.reply_html(i18n.text(language_of(update), "usage_ask"))
        return
    await answer_question(update, context, question)


async def on_private_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Treat a plain private message as a question."""
    if update.message and update.message.text:
        await answer_question(update, context, update.message.text)


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


async def on_group_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
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


async def acknowledge(query: CallbackQuery, text: str | None = None) -> None:
    """Answer a callback query, shrugging off Telegram's refusal of one that is too old."""
    try:
        await query.answer(text, show_alert=text is not None)
    except BadRequest as exc:
        # A press queued while the bot was down is "too old" to answer, but still deserves its result.
        log.info("callback query %s not answered: %s", query.id, exc)


async def on_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Handle "more", "context" and example-question buttons; always answer the callback query."""
    query = update.callback_query
    if query is None:
        return
    rt = runtime(context)
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
    update: Update, context: ContextTypes.DEFAULT_TYPE, token: str, chat_id: int, lang: i18n.Lang
) -> None:
    """Send the paragraphs around a quoted passage."""
    query = update.callback_query
    assert query is not None
    rt = runtime(context)
    try:
        passage_id = int(token, 36)
    except ValueError:
        await acknowledge(query, i18n.text(lang, "stale"))
        return

    def neighbours() -> tuple[Any, ...]:
        return tuple(rt.live.current.context(passage_id, radius=1))

    passages = await asyncio.to_thread(neighbours)
    if not passages:
        await acknowledge(query, i18n.text(lang, "context_missing"))
        return
    await acknowledge(query)
    await send_replies(context.bot, chat_id, render.render_context(passages, passage_id, lang))


async def on_inline(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Offer quotes with their sources for `@bot question` in any chat."""
    query = update.inline_query
    if query is None:
        return
    question = query.query.strip()
    if not question:
        await query.answer([], cache_time=60)
        return
    rt = runtime(context)
    lang = language_of(update)
    try:
        answer = await search(rt, question)
    except (BadQuestion, IndexMissing):
        await query.answer([], cache_time=60)
        return
    items = render.render_inline(answer, lang)[:MAX_INLINE_RESULTS]
    results = [
        InlineQueryResultArticle(
            id=item.id,
            title=item.title,
            description=item.description,
            input_message_content=InputTextMessageContent(item.html),
        )
        for item in items
    ]
    await query.answer(results, cache_time=300)
    await asyncio.to_thread(rt.state.count, "questions")


async def apologise(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
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
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):
                await update.callback_query.answer(i18n.text(lang, "error"))
        if chat is not None:
            with contextlib.suppress(TelegramError):
                await context.bot.send_message(chat.id, i18n.text(lang, "error"))
    else:
        log.error("error outside an update: %s", type(error).__name__, exc_info=error)

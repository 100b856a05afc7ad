"""Builds the PTB Application: rate limiting, retries, handlers, command menus, polling or webhook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from telegram import BotCommand, BotCommandScopeChat, BotCommandScopeDefault, LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import InvalidToken, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    Defaults,
    InlineQueryHandler,
    MessageHandler,
    filters,
)

from bot.backends import open_state, state_file
from bot.config import ConfigError, Settings
from bot.metrics import Metrics
from bot.sources.wiring import open_live_corpus
from bot.telegram import admin, autoreindex, handlers, sources
from bot.telegram.delivery import MAX_SENDS, DeliveryLimiter
from bot.telegram.limiter import QuestionLimiter
from bot.telegram.redaction import redact_token
from bot.telegram.runtime import CONTEXT_TYPES, BotApplication, Runtime
from bot.telegram.search_queue import SearchQueue

if TYPE_CHECKING:
    from embeddings.backend import TextEncoder
    from embeddings.live import LiveSearcher

log = logging.getLogger(__name__)

CONCURRENT_UPDATES = 64  # many users at once; CPU work goes to threads, so this is mostly waiting
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")  # what setWebhook accepts

USER_COMMANDS = (
    ("start", "开始 · Start"),
    ("help", "帮助 · Help"),
    ("ask", "提问 · Ask a question"),
)
ADMIN_COMMANDS = (
    ("reindex", "重建索引（full 为全量）· Reindex (full: from scratch)"),
    ("status", "运行状态 · Status"),
    ("add", "按网址加入网页 · Add a page by URL"),
    ("follow", "关注订阅源 · Follow a feed"),
    ("sources", "关注的来源 · Followed sources"),
    ("unfollow", "取消关注 · Unfollow a source"),
)


def token_of(settings: Settings) -> str:
    """Return the bot token, or fail with a message that names QUOTEBOT_TELEGRAM_TOKEN."""
    token = settings.telegram_token.get_secret_value().strip() if settings.telegram_token else ""
    if not token:
        raise ConfigError(
            "QUOTEBOT_TELEGRAM_TOKEN is not set: get a token from @BotFather and put it in the "
            "environment or .env (or run `quotebot chat` to use the bot in a terminal without one)"
        )
    return token


def build_application(
    settings: Settings, live: LiveSearcher, encoder: TextEncoder, *, metrics: Metrics | None = None
) -> BotApplication:
    """Build the bot: the Bot API server from settings, throttling, retries and every handler."""
    token = token_of(settings)
    redact_token(token)
    url = settings.telegram_api_url
    application = (
        Application.builder()
        .token(token)
        .context_types(CONTEXT_TYPES)
        .job_queue(None)  # the reindex, watcher and schedule are asyncio tasks (bot.telegram.autoreindex)
        .base_url(f"{url}/bot")
        .base_file_url(f"{url}/file/bot")
        .rate_limiter(DeliveryLimiter(max_retries=MAX_SENDS - 1))  # max_retries: getUpdates only
        .defaults(
            Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True))
        )
        .concurrent_updates(CONCURRENT_UPDATES)
        .connection_pool_size(CONCURRENT_UPDATES)
        .pool_timeout(30.0)
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    state = open_state(settings, state_file(settings))
    metrics = metrics or Metrics()
    application.bot_data.runtime = Runtime(
        settings=settings,
        live=live,
        encoder=encoder,
        state=state,
        limiter=QuestionLimiter(settings.questions_per_minute),
        queue=SearchQueue(live),
        # Every network read of /add, /follow and the poller is counted by kind and outcome.
        sources=open_live_corpus(settings, state, on_fetch=metrics.record_fetch),
        metrics=metrics,
    )
    add_handlers(application)
    return application


def add_handlers(application: BotApplication) -> None:
    """Register the user and admin handlers and the error handler."""
    private = filters.ChatType.PRIVATE
    groups = filters.ChatType.GROUPS
    application.add_handlers(
        [
            CommandHandler("start", handlers.on_start),
            CommandHandler("help", handlers.on_help),
            CommandHandler("ask", handlers.on_ask),
            CommandHandler("reindex", admin.on_reindex),
            CommandHandler("status", admin.on_status),
            CommandHandler("add", sources.on_add),
            CommandHandler("follow", sources.on_follow),
            CommandHandler("sources", sources.on_sources),
            CommandHandler("unfollow", sources.on_unfollow),
            MessageHandler(filters.Document.ALL & private, admin.on_document),
            MessageHandler(filters.TEXT & ~filters.COMMAND & private, handlers.on_private_text),
            MessageHandler(filters.TEXT & ~filters.COMMAND & groups, handlers.on_group_text),
            CallbackQueryHandler(handlers.on_button),
            InlineQueryHandler(handlers.on_inline),
        ]
    )
    application.add_error_handler(handlers.apologise)


async def post_init(application: BotApplication) -> None:
    """Set the command menus (admins get theirs in their own chat) and tidy old button keys."""
    rt = application.bot_data.runtime
    bot = application.bot
    users = [BotCommand(name, text) for name, text in USER_COMMANDS]
    admins = users + [BotCommand(name, text) for name, text in ADMIN_COMMANDS]
    await bot.set_my_commands(users, scope=BotCommandScopeDefault())
    for admin_id in sorted(rt.settings.admin_ids):
        try:
            # A menu is not access control: admin handlers check the allowlist themselves.
            await bot.set_my_commands(admins, scope=BotCommandScopeChat(admin_id))
        except TelegramError as exc:  # the admin has not started a chat with the bot yet
            log.warning("could not set the admin menu for %s: %s", admin_id, exc)
    pruned = await asyncio.to_thread(rt.state.prune)
    log.info("bot @%s ready (%d stale button keys pruned)", bot.username, pruned)
    # Not application.create_task: the application awaits those when it stops, and this one never ends.
    rt.poller = asyncio.create_task(sources.run_poller(application))
    autoreindex.start(application)


async def post_stop(application: BotApplication) -> None:
    """Stop polling the sources and the watched folder and schedule (their reindex has finished)."""
    rt = application.bot_data.runtime
    if rt.sources is not None:
        rt.sources.stopped.set()
    poller, rt.poller = rt.poller, None
    if poller is not None:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
    await autoreindex.stop(application)


async def post_shutdown(application: BotApplication) -> None:
    """Close the fetcher and the state database."""
    rt = application.bot_data.runtime
    if rt.sources is not None:
        with rt.sources_lock:  # wait for a poll's thread to leave the fetcher and the database
            rt.sources.fetcher.close()
    rt.state.close()


def polling_options() -> dict[str, Any]:
    """Return the options of long polling (shared by serve and the tests)."""
    return {"allowed_updates": ["message", "callback_query", "inline_query"], "drop_pending_updates": False}


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Return the options of webhook mode: listen address, path from the URL, and a secret token."""
    if not settings.webhook_url:
        raise ConfigError("QUOTEBOT_WEBHOOK_URL is not set; webhook mode needs the public HTTPS URL")
    secret = (
        settings.webhook_secret.get_secret_value()
        if settings.webhook_secret
        else secrets.token_urlsafe(32)  # still protected when none is configured
    )
    if not WEBHOOK_SECRET.fullmatch(secret):
        # setWebhook refuses any other secret, which would otherwise surface as a traceback.
        raise ConfigError("QUOTEBOT_WEBHOOK_SECRET must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
    return {
        "listen": settings.webhook_listen,
        "port": settings.webhook_port,
        "url_path": urlsplit(settings.webhook_url).path.lstrip("/"),
        "webhook_url": settings.webhook_url,
        "secret_token": secret,
        "allowed_updates": ["message", "callback_query", "inline_query"],
    }


def serve(application: BotApplication, settings: Settings) -> None:
    """Run the bot by long polling, or by webhook when one is configured, until interrupted."""
    try:
        if settings.webhook_url:
            log.info("webhook mode on port %d", settings.webhook_port)
            application.run_webhook(**webhook_options(settings))
        else:
            log.info("long polling %s", settings.telegram_api_url)
            application.run_polling(**polling_options())
    except InvalidToken:
        # PTB's own message quotes the token, and an uncaught traceback would print it to stderr.
        raise ConfigError(
            f"the Bot API server at {settings.telegram_api_url} rejected QUOTEBOT_TELEGRAM_TOKEN; "
            "check the token from @BotFather"
        ) from None

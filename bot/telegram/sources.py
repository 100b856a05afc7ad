"""Telegram handlers of the live corpus (/add, /follow, /sources, /unfollow) and the background poller."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from telegram import Update

from bot import i18n
from bot.render.sources import render_added, render_followed, render_sources, render_unfollowed
from bot.sources.live_corpus import SourceRefused
from bot.telegram.admin import refuse_non_admin, reindex_upload
from bot.telegram.questions import language_of
from bot.telegram.reindex import claim_job, run_reindex

if TYPE_CHECKING:
    from bot.sources.live_corpus import LiveCorpus
    from bot.telegram.runtime import BotApplication, BotContext, Runtime

log = logging.getLogger(__name__)

POLL_TICK = 30.0  # seconds between two looks at which sources are due
MAX_ADD_URLS = 10  # URLs one /add takes
T = TypeVar("T")


def corpus_of(rt: Runtime) -> LiveCorpus:
    """Return the runtime's live corpus (build_application always sets one)."""
    assert rt.sources is not None
    return rt.sources


async def in_corpus(rt: Runtime, work: Callable[[], T], *, poll: bool = False) -> T:
    """Run blocking live-corpus work in a thread; polls one at a time (an /add may go between pages)."""

    def locked() -> T:
        with rt.sources_lock:
            return work()

    return await asyncio.to_thread(locked if poll else work)


async def on_add(update: Update, context: BotContext) -> None:
    """Fetch the pages of `/add URL...` into the corpus, say what each became, and index them."""
    message = update.effective_message
    if await refuse_non_admin(update, context) or message is None or update.effective_chat is None:
        return
    lang = language_of(update)
    urls = (context.args or [])[:MAX_ADD_URLS]
    if not urls:
        await message.reply_html(i18n.text(lang, "usage_add"))
        return
    corpus = corpus_of(context.runtime)
    saved = False
    saved_paths: list[str] = []
    for url in urls:
        outcome = await in_corpus(context.runtime, lambda url=url: corpus.add(url))  # type: ignore[misc]
        log.info("/add %s: %s %s", url, outcome.status, outcome.reason or "")
        context.runtime.metrics.record_pages_added(int(outcome.saved), "add")
        saved |= outcome.saved
        if outcome.saved and outcome.path:
            saved_paths.append(outcome.path)
        await message.reply_html(render_added(outcome, lang))
    if saved:
        await reindex_upload(
            update, context, update.effective_chat.id, lang, only=tuple(saved_paths), saved=True
        )


async def on_follow(update: Update, context: BotContext) -> None:
    """Follow the feed, sitemap or feed-linking page of `/follow URL [MINUTES]`."""
    message = update.effective_message
    if await refuse_non_admin(update, context) or message is None:
        return
    lang = language_of(update)
    args = context.args or []
    if not args or len(args) > 2 or (len(args) == 2 and not (args[1].isdigit() and int(args[1]) >= 1)):
        await message.reply_html(i18n.text(lang, "usage_follow"))
        return
    every = int(args[1]) if len(args) == 2 else None
    corpus = corpus_of(context.runtime)
    try:
        source = await in_corpus(context.runtime, lambda: corpus.follow(args[0], every))
    except SourceRefused as exc:
        await message.reply_html(i18n.text(lang, "follow_refused", url=_esc(args[0]), reason=_esc(str(exc))))
        return
    context.runtime.wake.set()  # poll it now, not at the next tick
    await message.reply_html(render_followed(source, every or corpus.poll_minutes, lang))


async def on_sources(update: Update, context: BotContext) -> None:
    """List the followed sources with their last fetch, status, pages added and next check."""
    message = update.effective_message
    if await refuse_non_admin(update, context) or message is None:
        return
    sources = await asyncio.to_thread(corpus_of(context.runtime).store.sources)
    await message.reply_html(render_sources(sources, language_of(update)))


async def on_unfollow(update: Update, context: BotContext) -> None:
    """Stop following the source of `/unfollow ID|URL` (its pages stay)."""
    message = update.effective_message
    if await refuse_non_admin(update, context) or message is None:
        return
    lang = language_of(update)
    args = context.args or []
    if len(args) != 1:
        await message.reply_html(i18n.text(lang, "usage_unfollow"))
        return
    key = args[0].lstrip("#")
    corpus = corpus_of(context.runtime)
    source = await in_corpus(context.runtime, lambda: corpus.unfollow(key))
    if source is None:
        await message.reply_html(i18n.text(lang, "no_such_source", source=_esc(key)))
        return
    context.runtime.metrics.forget_source(str(source.id))
    await message.reply_html(render_unfollowed(source, lang))


def _esc(value: str) -> str:
    from html import escape

    return escape(value[:300])


# ---------------------------------------------------------------- the poller


async def run_poller(application: BotApplication) -> None:
    """Poll each source when it is due, and index what the polls saved, until cancelled."""
    rt = application.bot_data.runtime
    corpus = corpus_of(rt)
    loop = asyncio.get_running_loop()

    def index_batch() -> None:  # called in the poll thread every few dozen saved pages
        asyncio.run_coroutine_threadsafe(index_saved(application), loop).result()

    corpus.index = index_batch
    while True:
        try:
            await poll_due(application)
        except Exception:  # a bug in one poll must not stop the polling
            log.exception("polling the sources failed")
        rt.wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(rt.wake.wait(), POLL_TICK)


async def poll_due(application: BotApplication) -> None:
    """Poll the sources that are due, one at a time, then index the pages saved."""
    rt = application.bot_data.runtime
    corpus = corpus_of(rt)
    now = time.time()
    for source in await asyncio.to_thread(corpus.store.sources):
        if source.next_check <= now:
            outcome = await in_corpus(rt, lambda source=source: corpus.poll(source), poll=True)  # type: ignore[misc]
            log.info("source %d: %s, %d pages added", source.id, outcome.status, outcome.added)
            rt.metrics.record_poll(str(source.id), outcome.status == "ok")
            rt.metrics.record_pages_added(outcome.added, str(source.id))
    if await asyncio.to_thread(corpus.store.index_pending):
        await index_saved(application)


async def index_saved(application: BotApplication) -> None:
    """Index the pages the polls saved through the one reindex slot, counted in the metrics as
    "source" (a running reindex runs once more instead, and that run reads every page)."""
    rt = application.bot_data.runtime
    job = await claim_job(rt, application.bot, None, i18n.DEFAULT, full=False, trigger="source")
    if job is None:
        if rt.reindex is not None:
            rt.reindex.run_again()
        return
    job.only, job.saved = (), True
    await run_reindex(rt, application.bot, job)

"""The background reindex: one job at a time, its progress message edited in place, then the report.

Admins start it (/reindex, uploads); the watched folder, the schedule and followed sources start it
with `request_reindex`, which has no chat to report to. Every run is counted in the bot's metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from html import escape
from typing import TYPE_CHECKING

from telegram.error import TelegramError

from bot import i18n
from bot.render.admin import render_progress, render_report
from bot.render.split import split_message
from bot.status import remember_reindex, report_summary
from bot.telegram.runtime import BotApplication, BotContext, ReindexJob, Runtime
from bot.telegram.sending import edit_quietly
from corpus.errors import CorpusError
from embeddings.errors import EmbeddingsError, IndexBusy
from embeddings.models import ReindexProgress, ReindexReport

if TYPE_CHECKING:
    from telegram import Bot, Update

log = logging.getLogger(__name__)

PROGRESS_EVERY = 3.0  # seconds between progress edits; Telegram throttles edits of one message


def start_progress() -> ReindexProgress:
    """Return the progress shown before the reindex reports anything."""
    return ReindexProgress(
        stage="scan",
        pages_scanned=0,
        pages_total=0,
        pages_changed=0,
        passages_embedded=0,
        passages_total=0,
        eta_seconds=None,
    )


async def start_reindex(
    context: BotContext,
    chat_id: int,
    lang: i18n.Lang,
    *,
    full: bool,
    update: Update | None = None,
    trigger: str = "admin",
    only: tuple[str, ...] | None = None,
    saved: bool = False,
) -> bool:
    """Start a background reindex with a progress message (only: of just these pages, and saved: of
    the live corpus's saved pages); return False when one already runs."""
    job = await claim_job(context.runtime, context.bot, chat_id, lang, full=full, trigger=trigger)
    if job is None:
        return False
    job.only, job.saved = only, saved
    # PTB awaits the tasks it created when the application stops (so the swap and the report
    # finish while the bot can still send) and hands their errors to the error handler.
    context.application.create_task(run_reindex(context.runtime, context.bot, job), update=update)
    return True


async def request_reindex(application: BotApplication, trigger: str) -> bool:
    """Start an incremental reindex that reports to no chat, or have the running one run once more.

    Return whether a new run started. The same job slot, index lock and incremental reindex as /reindex.
    """
    if not application.running:  # stopping: nothing may start that the stop would not wait for
        return False
    rt = application.bot_data.runtime
    job = await claim_job(rt, application.bot, None, i18n.DEFAULT, full=False, trigger=trigger)
    if job is None:
        if rt.reindex is not None:
            rt.reindex.run_again()  # changes came during the running job: run once more after it
        return False
    application.create_task(run_reindex(rt, application.bot, job))
    return True


async def claim_job(
    rt: Runtime, bot: Bot, chat_id: int | None, lang: i18n.Lang, *, full: bool, trigger: str = "admin"
) -> ReindexJob | None:
    """Take the one reindex slot and send its progress message; None when a job already runs."""
    if rt.reindex is not None and rt.reindex.running():
        return None
    # Claim the slot before the first await, so two /reindex arriving together start one job.
    job = ReindexJob(full=full, chat_id=chat_id, message_id=0, lang=lang, trigger=trigger)
    rt.reindex = job
    if chat_id is None:
        return job
    try:
        message = await bot.send_message(chat_id, render_progress(start_progress(), lang))
    except BaseException:
        job.finished = True
        raise
    job.message_id = message.message_id
    return job


async def run_reindex(rt: Runtime, bot: Bot, job: ReindexJob | None) -> None:
    """Run the job, then once more while uploads arrived during it (the whole chain in one task)."""
    while job is not None:
        try:
            await reindex_and_report(rt, bot, job)
        finally:
            job.finished = True
        if job.again:
            chat_id, lang = job.again_chat or (job.chat_id, job.lang)
            job = await claim_job(rt, bot, chat_id, lang, full=False, trigger=job.trigger)
        else:
            job = None


async def reindex_and_report(rt: Runtime, bot: Bot, job: ReindexJob) -> None:
    """Run one reindex for a job, serve what it built, and tell its chat how it went."""
    started = time.time()
    worker = asyncio.ensure_future(asyncio.to_thread(build, rt, job))
    await show_progress(bot, job, worker)
    try:
        report = worker.result()
    except IndexBusy:
        rt.metrics.record_reindex(job.trigger, "locked", time.time() - started)
        remember_reindex(rt.state, started, report=None, error="locked by another process")
        if job.chat_id is not None:
            await edit_quietly(bot, job.chat_id, job.message_id, i18n.text(job.lang, "reindex_locked"))
        return
    except (CorpusError, EmbeddingsError, OSError) as exc:  # e.g. an empty or missing corpus dir
        log.error("reindex failed: %s", exc)
        await report_failure(rt, bot, job, started, str(exc))
        return
    except Exception as exc:  # a bug: no frozen progress message, then on to the error handler
        await report_failure(rt, bot, job, started, f"{type(exc).__name__}: {exc}")
        raise
    problem = await serve(rt)
    error = f"built, but the new index cannot be opened: {problem}" if problem else None
    remember_reindex(rt.state, started, report=report, error=error)
    rt.metrics.record_reindex(job.trigger, "not_served" if problem else "ok", time.time() - started)
    rt.metrics.record_report(report)
    log.info("reindex (%s) done: %s", job.trigger, report_summary(report))
    if job.chat_id is None:
        return
    final = i18n.text(job.lang, "reindex_not_served", reason=escape(problem)) if problem else None
    await send_report(bot, job, report, final)


async def report_failure(rt: Runtime, bot: Bot, job: ReindexJob, started: float, reason: str) -> None:
    """Remember a failed reindex for /status and say why in its progress message."""
    rt.metrics.record_reindex(job.trigger, "failed", time.time() - started)
    remember_reindex(rt.state, started, report=None, error=reason)
    if job.chat_id is None:
        return
    text = i18n.text(job.lang, "reindex_failed", reason=escape(reason))
    with contextlib.suppress(TelegramError):
        await edit_quietly(bot, job.chat_id, job.message_id, text)


async def serve(rt: Runtime) -> str | None:
    """Swap the new index in; return why it cannot be opened (e.g. prompts that differ), else None."""
    try:
        await asyncio.to_thread(rt.live.reload)
    except (EmbeddingsError, OSError) as exc:
        log.error("reindex done, but the new index cannot be opened: %s", exc)
        return str(exc)
    return None


def build(rt: Runtime, job: ReindexJob) -> ReindexReport:
    """Build the index for a job (in a worker thread), leaving each progress snapshot on the job.

    A job of the live corpus's saved pages (job.saved) reads them beside job.only, or every page when
    the corpus cannot name them (after a restart, or pages another process saved) and the job names
    none. A run that read them, or every page, records them indexed, so no poll reads them again.
    """
    from bot.backends import reindex

    def progress(snapshot: ReindexProgress) -> None:
        job.progress = snapshot  # called from the worker thread; one attribute store is atomic

    corpus = rt.sources
    pending = corpus.pending() if corpus is not None else None
    only, covers = job.only, job.only is None
    if job.saved and pending is not None and only is not None:
        if pending.pages is not None:
            only, covers = tuple(dict.fromkeys((*only, *pending.pages))), True
        elif not only:
            only, covers = None, True
    settings = rt.settings
    report = reindex(settings, rt.encoder, settings.corpus_dir, full=job.full, progress=progress, only=only)
    if covers and corpus is not None and pending is not None:
        corpus.indexed(pending)
    return report


async def show_progress(bot: Bot, job: ReindexJob, worker: asyncio.Future[ReindexReport]) -> None:
    """Edit the job's message with each new progress snapshot until the build ends."""
    shown: ReindexProgress | None = None
    while not worker.done():
        await asyncio.wait({worker}, timeout=PROGRESS_EVERY)
        snapshot = job.progress
        if job.chat_id is None:
            continue
        if snapshot is not None and snapshot != shown and not worker.done():
            shown = snapshot
            with contextlib.suppress(TelegramError):
                await edit_quietly(bot, job.chat_id, job.message_id, render_progress(snapshot, job.lang))


async def send_report(bot: Bot, job: ReindexJob, report: ReindexReport, final: str | None = None) -> None:
    """Show the final progress (or final, what went wrong after the build) in place, then the report."""
    if job.chat_id is None:
        return
    if final is None and job.progress is not None:
        final = render_progress(job.progress, job.lang)
    if final is not None:
        with contextlib.suppress(TelegramError):
            await edit_quietly(bot, job.chat_id, job.message_id, final)
    for part in split_message(render_report(report, job.lang)):
        await bot.send_message(job.chat_id, part)

"""Telegram handlers for admins: /reindex in the background, /status, and page uploads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from html import escape

from telegram import Document, Update

from bot import i18n, uploads
from bot.render.admin import render_status, render_upload
from bot.status import Status, recall_reindex
from bot.telegram.questions import language_of
from bot.telegram.reindex import start_reindex
from bot.telegram.runtime import BotContext, Runtime
from embeddings.errors import EmbeddingsError

log = logging.getLogger(__name__)


async def refuse_non_admin(update: Update, context: BotContext) -> bool:
    """Refuse anyone not on the allowlist; return True when refused (and nothing may run)."""
    user = update.effective_user
    if context.runtime.is_admin(user.id if user else None):
        return False
    log.info("refused admin command from user %s", user.id if user else None)
    if update.effective_message is not None:
        await update.effective_message.reply_html(i18n.text(language_of(update), "refused"))
    return True


async def on_reindex(update: Update, context: BotContext) -> None:
    """Start `/reindex` (incremental) or `/reindex full` in the background."""
    if await refuse_non_admin(update, context) or update.effective_chat is None:
        return
    args = context.args or []
    full = bool(args) and args[0].lower() == "full"
    lang = language_of(update)
    if not await start_reindex(context, update.effective_chat.id, lang, full=full, update=update):
        await context.bot.send_message(update.effective_chat.id, i18n.text(lang, "busy"))


async def on_status(update: Update, context: BotContext) -> None:
    """Report index size, the last reindex, the model, uptime and questions answered."""
    if await refuse_non_admin(update, context) or update.effective_message is None:
        return
    status = await asyncio.to_thread(status_of, context.runtime)
    await update.effective_message.reply_html(render_status(status, language_of(update)))


def status_of(rt: Runtime) -> Status:
    """Collect what /status shows."""
    stats = None
    with contextlib.suppress(EmbeddingsError):
        stats = rt.live.current.stats
    return Status(
        stats=stats,
        model=rt.encoder.model_id,
        last_reindex=recall_reindex(rt.state),
        uptime_seconds=time.time() - rt.started,
        questions=rt.state.counter("questions"),
        reindexing=rt.reindex is not None and rt.reindex.running(),
    )


async def on_document(update: Update, context: BotContext) -> None:
    """Save an admin's uploaded .html/.htm page or .zip of pages into the corpus, then index it."""
    message = update.message
    if message is None or message.document is None or update.effective_chat is None:
        return
    if await refuse_non_admin(update, context):
        return
    rt = context.runtime
    lang = language_of(update)
    name = message.document.file_name or ""
    limit = rt.settings.max_upload_bytes
    data, refusal = await download_upload(message.document, lang, limit)
    if refusal is not None:
        await message.reply_html(i18n.text(lang, "upload_refused", name=escape(name or "?"), reason=refusal))
        return
    plan, outcome = await save_uploaded(rt, name, data)
    await message.reply_html(render_upload(plan, outcome, lang, limit))
    log.info("upload %s: %s, refused %d", name, [s for _, s in outcome], len(plan.refused))
    rt.metrics.record_pages_added(sum(status == "saved" for _, status in outcome), "upload")
    if any(status in ("saved", "replaced") for _, status in outcome):
        await reindex_upload(update, context, update.effective_chat.id, lang)


async def save_uploaded(
    rt: Runtime, name: str, data: bytes
) -> tuple[uploads.UploadPlan, list[tuple[str, str]]]:
    """Plan what an upload adds and write it into the corpus, both off the event loop."""
    # Unpacking a zip (up to ZIP_EXPANSION * limit bytes) is CPU work.
    plan = await asyncio.to_thread(
        uploads.plan_upload,
        name,
        data,
        max_page_bytes=rt.settings.max_page_bytes,
        max_total_bytes=uploads.ZIP_EXPANSION * rt.settings.max_upload_bytes,
    )
    return plan, await asyncio.to_thread(uploads.save_upload, rt.settings.corpus_dir, plan)


async def download_upload(document: Document, lang: i18n.Lang, limit: int) -> tuple[bytes, str | None]:
    """Download an uploaded file, or return why it is refused (wrong kind, too big) without fetching it."""
    name = document.file_name or ""
    if not uploads.accepts(name):
        return b"", i18n.text(lang, "upload_bad_type")
    if document.file_size is not None and document.file_size > limit:
        return b"", i18n.text(lang, "upload_too_big", limit=limit)
    data = bytes(await (await document.get_file()).download_as_bytearray())
    if len(data) > limit:
        return b"", i18n.text(lang, "upload_too_big", limit=limit)
    return data, None


async def reindex_upload(
    update: Update,
    context: BotContext,
    chat_id: int,
    lang: i18n.Lang,
    *,
    only: tuple[str, ...] | None = None,
    saved: bool = False,
) -> None:
    """Index what an upload saved (only: the pages it saved, when known; saved: with the live corpus's
    saved pages), or queue one more run when a reindex is already going (that run reads every page)."""
    if await start_reindex(
        context, chat_id, lang, full=False, update=update, trigger="upload", only=only, saved=saved
    ):
        return
    job = context.runtime.reindex
    if job is not None:  # start_reindex refuses only while a job runs
        job.run_again(chat_id, lang)
    if update.message is not None:
        await update.message.reply_html(i18n.text(lang, "reindex_queued"))

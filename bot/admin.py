"""Telegram handlers for admins: /reindex in the background, page uploads, /status."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import stat
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from pathlib import Path, PurePosixPath
from typing import Any

from telegram import Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ContextTypes

from bot import i18n, render
from bot.handlers import Runtime, language_of, runtime
from corpus.errors import CorpusError
from corpus.load import PAGE_SUFFIXES
from embeddings.errors import EmbeddingsError, IndexBusy
from embeddings.models import Failure, ReindexProgress, ReindexReport

log = logging.getLogger(__name__)

PROGRESS_EVERY = 3.0  # seconds between progress edits; Telegram throttles edits of one message
ZIP_EXPANSION = 10  # a zip may unpack to at most this many times max_upload_bytes
UPLOAD_LINES_MAX = 20  # files listed one by one in the reply to an upload


# Reason codes of plan_upload -> i18n keys.
REASON_KEYS = {
    "path": "upload_unsafe_path",
    "kind": "upload_bad_type",
    "size": "upload_too_big",
    "link": "upload_link",
    "zip": "upload_broken_zip",
}


# ---------------------------------------------------------------- uploads (pure, then disk)


@dataclass(frozen=True)
class UploadPlan:
    """What an upload would write: (relative POSIX path, bytes), and (name, reason code) refused."""

    files: tuple[tuple[str, bytes], ...] = ()
    refused: tuple[tuple[str, str], ...] = ()


def safe_relpath(name: str) -> str | None:
    """Return a safe relative POSIX path for an uploaded name, or None for traversal tricks."""
    if not name or "\\" in name or ":" in name or "\x00" in name or name.startswith("/"):
        return None
    parts = PurePosixPath(name).parts
    if not parts or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
        return None
    return "/".join(parts)


def is_page(name: str) -> bool:
    """Tell whether a file name is an HTML page by its suffix."""
    return name.lower().endswith(PAGE_SUFFIXES)


def plan_upload(name: str, data: bytes, *, max_page_bytes: int, max_total_bytes: int) -> UploadPlan:
    """Decide which files an uploaded page or zip adds, refusing unsafe or oversized entries."""
    if is_page(name):
        rel = safe_relpath(PurePosixPath(name).name)
        if rel is None:
            return UploadPlan(refused=((name, "path"),))
        if len(data) > max_page_bytes:
            return UploadPlan(refused=((name, "size"),))
        return UploadPlan(files=((rel, data),))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return UploadPlan(refused=((name, "zip"),))
    files: list[tuple[str, bytes]] = []
    refused: list[tuple[str, str]] = []
    total = 0
    for entry in entries:
        if entry.is_dir():
            continue
        rel = safe_relpath(entry.filename)
        if rel is None:
            refused.append((entry.filename, "path"))
        elif stat.S_ISLNK(entry.external_attr >> 16):
            refused.append((entry.filename, "link"))
        elif not is_page(rel):
            refused.append((entry.filename, "kind"))
        elif entry.file_size > max_page_bytes or total + entry.file_size > max_total_bytes:
            refused.append((entry.filename, "size"))
        else:
            try:
                content = archive.read(entry)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError):
                refused.append((entry.filename, "zip"))
                continue
            total += len(content)
            files.append((rel, content))
    return UploadPlan(files=tuple(files), refused=tuple(refused))


def save_upload(corpus_dir: Path, plan: UploadPlan) -> list[tuple[str, str]]:
    """Write planned files atomically under corpus_dir; return (path, status) for each."""
    root = corpus_dir.resolve()
    outcome: list[tuple[str, str]] = []
    for rel, content in plan.files:
        target = (root / rel).resolve()
        if not target.is_relative_to(root) or target == root:
            outcome.append((rel, "path"))  # a symlinked directory inside the corpus points outside
            continue
        status = "saved"
        if target.exists():
            if not target.is_file():
                outcome.append((rel, "path"))
                continue
            status = "unchanged" if target.read_bytes() == content else "replaced"
        if status != "unchanged":
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload-")
            with os.fdopen(fd, "wb") as out:
                out.write(content)
            os.replace(tmp, target)
        outcome.append((rel, status))
    return outcome


# ---------------------------------------------------------------- reindex in the background


@dataclass
class ReindexJob:
    """The one reindex running in the background and the chat message that shows its progress."""

    full: bool
    chat_id: int
    message_id: int
    lang: i18n.Lang
    progress: ReindexProgress | None = None
    again: bool = False  # files arrived while running: run once more afterwards
    finished: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def running(self) -> bool:
        """Tell whether the job has not finished yet."""
        return not self.finished


async def edit_quietly(bot: Any, chat_id: int, message_id: int, html: str) -> None:
    """Edit a message, ignoring Telegram's "message is not modified" refusal."""
    try:
        await bot.edit_message_text(html, chat_id=chat_id, message_id=message_id)
    except BadRequest as exc:
        if "not modified" not in str(exc).lower():
            raise


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


async def start_reindex(rt: Runtime, bot: Any, chat_id: int, lang: i18n.Lang, *, full: bool) -> bool:
    """Start a background reindex with a progress message; return False when one already runs."""
    if rt.reindex is not None and rt.reindex.running():
        return False
    # Claim the slot before the first await, so two /reindex arriving together start one job.
    job = ReindexJob(full=full, chat_id=chat_id, message_id=0, lang=lang)
    rt.reindex = job
    try:
        message = await bot.send_message(chat_id, render.render_progress(start_progress(), lang))
    except BaseException:
        job.finished = True
        raise
    job.message_id = message.message_id
    job.task = asyncio.create_task(run_reindex(rt, bot, job))
    return True


async def run_reindex(rt: Runtime, bot: Any, job: ReindexJob) -> None:
    """Build the index in a worker thread, edit the progress message, swap in and report."""
    try:
        await reindex_and_report(rt, bot, job)
    except Exception:  # nobody awaits this task: log here, and still honour a queued rerun
        log.exception("reindex job failed")
    finally:
        job.finished = True
    if job.again:
        await start_reindex(rt, bot, job.chat_id, job.lang, full=False)


async def reindex_and_report(rt: Runtime, bot: Any, job: ReindexJob) -> None:
    """Run one reindex for a job and tell its chat how it went."""
    from embeddings.store import build_index

    settings = rt.settings

    def progress(snapshot: ReindexProgress) -> None:
        job.progress = snapshot  # called from the worker thread; one attribute store is atomic

    def build() -> ReindexReport:
        return build_index(
            settings.corpus_dir,
            settings.index_dir,
            rt.encoder,
            full=job.full,
            max_page_bytes=settings.max_page_bytes,
            progress=progress,
        )

    started = time.time()
    worker = asyncio.ensure_future(asyncio.to_thread(build))
    shown: ReindexProgress | None = None
    while not worker.done():
        await asyncio.wait({worker}, timeout=PROGRESS_EVERY)
        snapshot = job.progress
        if snapshot is not None and snapshot != shown and not worker.done():
            shown = snapshot
            with contextlib.suppress(TelegramError):
                await edit_quietly(
                    bot, job.chat_id, job.message_id, render.render_progress(snapshot, job.lang)
                )
    try:
        report = worker.result()
    except IndexBusy:
        remember_reindex(rt, started, report=None, error="locked by another process")
        await edit_quietly(bot, job.chat_id, job.message_id, i18n.text(job.lang, "reindex_locked"))
        return
    except (CorpusError, EmbeddingsError, OSError) as exc:  # e.g. an empty or missing corpus dir
        log.error("reindex failed: %s", exc)
        remember_reindex(rt, started, report=None, error=str(exc))
        await edit_quietly(
            bot, job.chat_id, job.message_id, i18n.text(job.lang, "reindex_failed", reason=escape(str(exc)))
        )
        return
    await asyncio.to_thread(rt.live.reload)
    remember_reindex(rt, started, report=report, error=None)
    log.info("reindex done: %s", report_summary(report))
    if job.progress is not None:
        with contextlib.suppress(TelegramError):
            await edit_quietly(
                bot, job.chat_id, job.message_id, render.render_progress(job.progress, job.lang)
            )
    for part in render.split_message(render.render_report(report, job.lang)):
        await bot.send_message(job.chat_id, part)


def report_summary(report: ReindexReport) -> dict[str, object]:
    """Return a reindex report as a small JSON-able mapping."""
    return {
        "added": report.added,
        "updated": report.updated,
        "removed": report.removed,
        "unchanged": report.unchanged,
        "skipped": report.skipped,
        "failed": [[f.doc, f.reason] for f in report.failed],
        "passages": report.passages,
        "seconds": round(report.seconds, 1),
        "full": report.full,
    }


def report_from_summary(summary: dict[str, Any]) -> ReindexReport:
    """Rebuild a (reasons-only) reindex report from its stored summary."""
    counts = {
        k: summary[k]
        for k in ("added", "updated", "removed", "unchanged", "skipped", "passages")
        if k in summary
    }
    failed = tuple(Failure(doc=doc, reason=reason) for doc, reason in summary.get("failed", []))
    return ReindexReport(
        **counts, failed=failed, seconds=float(summary.get("seconds", 0.0)), full=bool(summary.get("full"))
    )


def remember_reindex(rt: Runtime, started: float, *, report: ReindexReport | None, error: str | None) -> None:
    """Store when the last reindex ran and how it ended, for /status after restarts."""
    when = datetime.fromtimestamp(started, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    fact: dict[str, object] = {"at": when, "error": error}
    if report is not None:
        fact["report"] = report_summary(report)
    rt.state.put_fact("last_reindex", fact)


# ---------------------------------------------------------------- handlers


async def refuse_non_admin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """Refuse anyone not on the allowlist; return True when refused (and nothing may run)."""
    user = update.effective_user
    if runtime(context).is_admin(user.id if user else None):
        return False
    log.info("refused admin command from user %s", user.id if user else None)
    if update.effective_message is not None:
        await update.effective_message.reply_html(i18n.text(language_of(update), "refused"))
    return True


async def on_reindex(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Start `/reindex` (incremental) or `/reindex full` in the background."""
    if await refuse_non_admin(update, context) or update.effective_chat is None:
        return
    full = bool(context.args) and context.args[0].lower() == "full"  # type: ignore[index]
    lang = language_of(update)
    if not await start_reindex(runtime(context), context.bot, update.effective_chat.id, lang, full=full):
        await context.bot.send_message(update.effective_chat.id, i18n.text(lang, "busy"))


async def on_status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Report index size, the last reindex, the model, uptime and questions answered."""
    if await refuse_non_admin(update, context) or update.effective_message is None:
        return
    rt = runtime(context)
    status = await asyncio.to_thread(status_of, rt)
    await update.effective_message.reply_html(render.render_status(status, language_of(update)))


def status_of(rt: Runtime) -> dict[str, object]:
    """Collect what /status shows, in the keys render_status knows."""
    status: dict[str, object] = {}
    with contextlib.suppress(EmbeddingsError):
        status["stats"] = rt.live.current.stats
    last = rt.state.fact("last_reindex")
    result: object = None
    if isinstance(last, dict):
        result = report_from_summary(last["report"]) if last.get("report") else last.get("error")
    status.update(
        model=rt.encoder.model_id,
        last_reindex=last.get("at") if isinstance(last, dict) else None,
        last_result=result,
        uptime_seconds=time.time() - rt.started,
        questions=rt.state.counter("questions"),
        reindexing=rt.reindex is not None and rt.reindex.running(),
    )
    return status


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Save an admin's uploaded .html/.htm page or .zip of pages into the corpus, then index it."""
    message = update.message
    if message is None or message.document is None or update.effective_chat is None:
        return
    if await refuse_non_admin(update, context):
        return
    rt = runtime(context)
    lang = language_of(update)
    document = message.document
    name = document.file_name or ""
    limit = rt.settings.max_upload_bytes
    refusal = None
    if not (is_page(name) or name.lower().endswith(".zip")):
        refusal = i18n.text(lang, "upload_bad_type")
    elif document.file_size is not None and document.file_size > limit:
        refusal = i18n.text(lang, "upload_too_big", limit=limit)
    if refusal is None:
        data = bytes(await (await document.get_file()).download_as_bytearray())
        if len(data) > limit:
            refusal = i18n.text(lang, "upload_too_big", limit=limit)
    if refusal is not None:
        await message.reply_html(i18n.text(lang, "upload_refused", name=escape(name or "?"), reason=refusal))
        return
    # Unpacking a zip (up to ZIP_EXPANSION * limit bytes) is CPU work: keep it off the event loop.
    plan = await asyncio.to_thread(
        plan_upload,
        name,
        data,
        max_page_bytes=rt.settings.max_page_bytes,
        max_total_bytes=ZIP_EXPANSION * limit,
    )
    outcome = await asyncio.to_thread(save_upload, rt.settings.corpus_dir, plan)
    await message.reply_html(upload_text(plan, outcome, lang, limit))
    log.info("upload %s: %s, refused %d", name, [s for _, s in outcome], len(plan.refused))
    if any(status in ("saved", "replaced") for _, status in outcome):
        chat_id = update.effective_chat.id
        if not await start_reindex(rt, context.bot, chat_id, lang, full=False):
            rt.reindex.again = True
            await message.reply_html(i18n.text(lang, "reindex_queued"))


def upload_text(plan: UploadPlan, outcome: list[tuple[str, str]], lang: i18n.Lang, limit: int) -> str:
    """Describe what an upload saved, replaced, kept or refused (a line per file, then the summary)."""
    lines: list[str] = []
    refused = [(name, code) for name, code in plan.refused]
    for rel, status in outcome:
        if status == "path":
            refused.append((rel, "path"))
        else:
            lines.append(i18n.text(lang, f"upload_{status}", name=escape(rel)))
    for name, code in refused:
        reason = i18n.text(lang, REASON_KEYS[code], limit=limit)
        lines.append(i18n.text(lang, "upload_refused", name=escape(name), reason=reason))
    if len(lines) > UPLOAD_LINES_MAX:
        # A zip of thousands of entries must not push the summary out of the one message.
        hidden = len(lines) - UPLOAD_LINES_MAX
        lines = [*lines[:UPLOAD_LINES_MAX], escape(i18n.text(lang, "report_more", n=hidden))]
    saved = sum(1 for _, status in outcome if status in ("saved", "replaced"))
    if saved:
        summary = i18n.text(lang, "upload_summary", saved=saved, refused=len(refused))
    else:
        summary = i18n.text(lang, "upload_nothing")
    listed = render.split_message("\n".join(lines), render.MESSAGE_LIMIT - len(summary) - 1)
    return "\n".join([*listed[:1], summary])

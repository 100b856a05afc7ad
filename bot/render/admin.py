"""Admin messages: /status, reindex progress and report, and what an upload saved or refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from html import escape

from bot.i18n import Lang, text
from bot.render.markup import esc, one_line
from bot.render.reply import fit
from bot.render.split import MESSAGE_LIMIT, split_message
from bot.status import Status
from bot.uploads import ZIP_MAX_ENTRIES, UploadPlan
from embeddings.models import Failure, ReindexProgress, ReindexReport

REPORT_LINES_MAX = 8
UPLOAD_LINES_MAX = 20  # files listed one by one in the reply to an upload

# Reason codes of bot.uploads.plan_upload -> i18n keys.
REASON_KEYS = {
    "path": "upload_unsafe_path",
    "kind": "upload_bad_type",
    "size": "upload_too_big",
    "link": "upload_link",
    "zip": "upload_broken_zip",
    "entries": "upload_too_many_entries",
    "write": "upload_write_failed",
}
SAVED_STATUSES = ("saved", "replaced", "unchanged")


def duration(seconds: float, lang: Lang) -> str:
    """Return a duration in words: seconds, minutes, hours or days."""
    if seconds < 60:
        return text(lang, "duration_s", s=f"{seconds:.1f}" if seconds < 10 else f"{round(seconds)}")
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return text(lang, "duration_d", d=days, h=hours)
    if hours:
        return text(lang, "duration_h", h=hours, m=minutes)
    return text(lang, "duration_m", m=minutes, s=secs)


def _shown(value: ReindexReport | str | None, lang: Lang) -> str:
    """Return a status value on one line: a report's counts, "never" for None, else the text."""
    if isinstance(value, ReindexReport):
        return text(
            lang,
            "result_short",
            added=value.added,
            updated=value.updated,
            removed=value.removed,
            failed=len(value.failed),
        )
    return text(lang, "status_never") if value is None else one_line(value, 300)


def _index_lines(status: Status, lang: Lang) -> list[str]:
    stats = status.stats
    if stats is None:
        return [text(lang, "status_model", model=esc(one_line(status.model, 300)))] if status.model else []
    lines = [text(lang, "status_index", articles=stats.articles, passages=stats.passages)]
    if stats.date_min or stats.date_max:
        dates = [esc(_shown(d, lang)) for d in (stats.date_min, stats.date_max)]
        lines.append(text(lang, "status_dates", date_min=dates[0], date_max=dates[1]))
    model = status.model if status.model is not None else stats.model
    for key, field, value in [
        ("status_model", "model", model),
        ("status_dense", "kind", stats.dense_kind),
        ("status_created", "created", stats.created),
    ]:
        if value is not None:
            lines.append(text(lang, key, **{field: esc(one_line(str(value), 300))}))
    if stats.calibration:
        key = "status_calibration" if stats.calibrated else "status_calibration_defaults"
        lines.append(text(lang, key, model=esc(one_line(stats.calibration, 300))))
    return lines


def render_status(status: Status, lang: Lang) -> str:
    """Render /status: index, model, last reindex, uptime, questions and whether a reindex runs."""
    lines = [f"<b>{esc(text(lang, 'status_title'))}</b>", *_index_lines(status, lang)]
    last = status.last_reindex
    lines.append(text(lang, "status_last_reindex", when=esc(_shown(last.at if last else None, lang))))
    if last is not None:
        lines.append(text(lang, "status_last_result", result=esc(_shown(last.result, lang))))
    if status.uptime_seconds is not None:
        lines.append(text(lang, "status_uptime", uptime=esc(duration(status.uptime_seconds, lang))))
    if status.questions is not None:
        lines.append(text(lang, "status_questions", questions=status.questions))
    if status.reindexing:
        lines.append(text(lang, "status_reindexing"))
    lines += [f"{esc(one_line(k, 60))}: {esc(one_line(v, 300))}" for k, v in status.extra]
    return fit("\n".join(lines))


def render_progress(progress: ReindexProgress, lang: Lang) -> str:
    """Render one reindex progress snapshot (the message edited in place; reused vectors counted apart)."""
    stage_key = f"stage_{progress.stage}"
    try:
        stage = text(lang, stage_key)
    except KeyError:
        stage = esc(one_line(progress.stage, 40))
    eta = (
        duration(progress.eta_seconds, lang)
        if progress.eta_seconds is not None and progress.eta_seconds >= 0
        else text(lang, "eta_unknown")
    )
    # The message names the snapshot's counts by their fields.
    return fit(text(lang, "progress", **(asdict(progress) | {"stage": stage, "eta": esc(eta)})))


def _failures(header_key: str, failures: Sequence[Failure], lang: Lang) -> list[str]:
    if not failures:
        return []
    lines = [f"<b>{esc(text(lang, header_key))}</b>"]
    for failure in failures[:REPORT_LINES_MAX]:
        lines.append(
            f"• <code>{esc(one_line(failure.doc, 120))}</code>: {esc(one_line(failure.reason, 200))}"
        )
    if len(failures) > REPORT_LINES_MAX:
        lines.append(esc(text(lang, "report_more", n=len(failures) - REPORT_LINES_MAX)))
    return lines


def render_report(report: ReindexReport, lang: Lang) -> str:
    """Render the final reindex report: counts, then failed and skipped pages with reasons."""
    mode = text(lang, "mode_full" if report.full else "mode_incremental")
    summary = text(
        lang,
        "report",
        mode=mode[:1].upper() + mode[1:] if lang == "en" else mode,
        seconds=esc(duration(report.seconds, lang)),
        added=report.added,
        updated=report.updated,
        removed=report.removed,
        unchanged=report.unchanged,
        skipped=report.skipped,
        failed=len(report.failed),
        passages=report.passages,
    )
    lines = [summary]
    lines += _failures("report_failed", report.failed, lang)
    lines += _failures("report_skipped", report.skipped_reasons, lang)
    lines += _failures("report_notes", report.notes, lang)
    if report.recalibrated:
        lines.append(text(lang, "report_recalibrated", model=esc(one_line(report.recalibrated, 300))))
    return fit("\n".join(lines))


def render_upload(plan: UploadPlan, outcome: Sequence[tuple[str, str]], lang: Lang, limit: int) -> str:
    """Describe what an upload saved, replaced, kept or refused (a line per file, then the summary)."""
    lines: list[str] = []
    refusals = list(plan.refused)
    for rel, status in outcome:
        if status not in SAVED_STATUSES:  # refused while saving: unsafe path, inflated too far, disk error
            refusals.append((rel, status))
        else:
            lines.append(text(lang, f"upload_{status}", name=escape(rel)))
    for name, code in refusals:
        reason = text(lang, REASON_KEYS[code], limit=limit, entries=ZIP_MAX_ENTRIES)
        lines.append(text(lang, "upload_refused", name=escape(name), reason=reason))
    if len(lines) > UPLOAD_LINES_MAX:
        # A zip of thousands of entries must not push the summary out of the one message.
        hidden = len(lines) - UPLOAD_LINES_MAX
        lines = [*lines[:UPLOAD_LINES_MAX], escape(text(lang, "report_more", n=hidden))]
    saved = sum(1 for _, status in outcome if status in ("saved", "replaced"))
    if saved:
        summary = text(lang, "upload_summary", saved=saved, refused=len(refusals))
    else:
        summary = text(lang, "upload_nothing")
    listed = split_message("\n".join(lines), MESSAGE_LIMIT - len(summary) - 1)
    return "\n".join([*listed[:1], summary])

"""What /status reports, as a typed record, and the last reindex as the bot's state keeps it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from embeddings.models import Failure, ReindexReport

if TYPE_CHECKING:
    from bot.state import BotState
    from embeddings.search import IndexStats

LAST_REINDEX = "last_reindex"  # the state fact that survives restarts


@dataclass(frozen=True)
class LastReindex:
    """When the last reindex ran and how it ended: its report, or the reason it failed."""

    at: str
    result: ReindexReport | str | None


@dataclass(frozen=True)
class Status:
    """What /status shows; a None leaves its line out, and no last reindex reads "never"."""

    stats: IndexStats | None = None
    model: str | None = None
    last_reindex: LastReindex | None = None
    uptime_seconds: float | None = None
    questions: int | None = None
    reindexing: bool = False
    extra: tuple[tuple[str, str], ...] = ()  # further (name, value) lines, shown as they are


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


def remember_reindex(
    state: BotState, started: float, *, report: ReindexReport | None, error: str | None
) -> None:
    """Store when the last reindex ran and how it ended (its report, and what went wrong), for /status."""
    when = datetime.fromtimestamp(started, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    fact: dict[str, object] = {"at": when, "error": error}
    if report is not None:
        fact["report"] = report_summary(report)
    state.put_fact(LAST_REINDEX, fact)


def recall_reindex(state: BotState) -> LastReindex | None:
    """Return the stored last reindex, or None when there has been none."""
    last = state.fact(LAST_REINDEX)
    if not isinstance(last, dict):
        return None
    # A reindex that built its index but could not serve it keeps both: the problem is shown.
    result = last.get("error") or (report_from_summary(last["report"]) if last.get("report") else None)
    return LastReindex(at=str(last.get("at")), result=result)

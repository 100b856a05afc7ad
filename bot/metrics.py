"""The bot's Prometheus metrics, in a registry of their own: questions, fetches, polls, reindexes, index size.

One `Metrics` per bot process (the Runtime holds it); every recorder is cheap and thread-safe, so the
fetcher's and poller's worker threads may call `record_fetch`, `record_pages_added` and `record_poll`
directly (pass `metrics.record_fetch` as the fetcher's `on_fetch`).
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from embeddings.models import ReindexReport
    from embeddings.search import IndexStats

# Question latency runs from under a second to the send budget of a busy chat; a reindex from seconds
# (a page) to hours (a full build of a large corpus).
QUESTION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
REINDEX_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0)
REFUSAL_REASONS = ("not_found", "bad_question", "no_index", "rate_limited")
PAGE_CHANGES = ("added", "updated", "removed", "failed")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"  # Prometheus' text exposition format


class Metrics:
    """Every metric of the bot, registered in this object's own CollectorRegistry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        reg = self.registry
        self.questions = Counter("quotebot_questions", "Questions received (first pages).", registry=reg)
        self.answers = Counter("quotebot_answers", "Questions answered with quotes.", registry=reg)
        self.refusals = Counter(
            "quotebot_refusals", "Questions not answered with a quote, by reason.", ["reason"], registry=reg
        )
        self.question_seconds = Histogram(
            "quotebot_question_seconds",
            "Seconds from a question's arrival to its answer sent.",
            buckets=QUESTION_BUCKETS,
            registry=reg,
        )
        self.fetches = Counter(
            "quotebot_fetches", "Network reads by kind and outcome.", ["kind", "outcome"], registry=reg
        )
        self.pages_added = Counter(
            "quotebot_pages_added", "Pages saved into the corpus, by source.", ["source"], registry=reg
        )
        self.reindex_runs = Counter(
            "quotebot_reindex_runs", "Reindex runs by cause and result.", ["trigger", "outcome"], registry=reg
        )
        self.reindex_pages = Counter(
            "quotebot_reindex_pages",
            "Pages reindexes found added, updated, removed, failed.",
            ["change"],
            registry=reg,
        )
        self.reindex_seconds = Histogram(
            "quotebot_reindex_seconds", "Seconds one reindex took.", buckets=REINDEX_BUCKETS, registry=reg
        )
        self.index_passages = Gauge("quotebot_index_passages", "Passages in the served index.", registry=reg)
        self.index_articles = Gauge("quotebot_index_articles", "Articles in the served index.", registry=reg)
        self.last_poll = Gauge(
            "quotebot_source_last_success_timestamp_seconds",
            "Unix time of each followed source's last successful poll (0: none yet).",
            ["source"],
            registry=reg,
        )
        for reason in REFUSAL_REASONS:  # present from the start, so rate() works before the first one
            self.refusals.labels(reason)
        for change in PAGE_CHANGES:
            self.reindex_pages.labels(change)

    def record_question(self, seconds: float | None, refusal: str | None) -> None:
        """Count one question, answered (refusal None) or refused for a reason, and its latency."""
        self.questions.inc()
        if refusal is None:
            self.answers.inc()
        else:
            self.refusals.labels(refusal).inc()
        if seconds is not None:  # a rate-limited question was never searched
            self.question_seconds.observe(seconds)

    def record_fetch(self, kind: str, outcome: str) -> None:
        """Count one network read (kind: feed, page, robots...; outcome: ok, not_modified, an error name)."""
        self.fetches.labels(kind, outcome).inc()

    def record_pages_added(self, n: int, source: str) -> None:
        """Count pages a source (a followed source's id, "add", "upload") saved into the corpus."""
        if n > 0:
            self.pages_added.labels(source).inc(n)

    def record_poll(self, source_id: str, ok: bool) -> None:
        """Note a poll of a followed source; a successful one moves its last-success time to now."""
        gauge = self.last_poll.labels(source_id)  # a source that never succeeded shows 0
        if ok:
            gauge.set(time.time())

    def forget_source(self, source_id: str) -> None:
        """Drop an unfollowed source's series."""
        with contextlib.suppress(KeyError):
            self.last_poll.remove(source_id)

    def record_reindex(self, trigger: str, outcome: str, seconds: float) -> None:
        """Count one reindex run (outcome: ok, failed, locked, not_served) and its duration."""
        self.reindex_runs.labels(trigger, outcome).inc()
        self.reindex_seconds.observe(seconds)

    def record_report(self, report: ReindexReport) -> None:
        """Count the pages a finished reindex added, updated, removed and failed on."""
        counts = (report.added, report.updated, report.removed, len(report.failed))
        for change, n in zip(PAGE_CHANGES, counts, strict=True):
            if n:
                self.reindex_pages.labels(change).inc(n)

    def record_index(self, stats: IndexStats | None) -> None:
        """Set the index-size gauges from the served index's stats (zero when none is served)."""
        self.index_passages.set(stats.passages if stats else 0)
        self.index_articles.set(stats.articles if stats else 0)

    def exposition(self) -> bytes:
        """Return every metric in Prometheus' text format."""
        return generate_latest(self.registry)

"""Records that leave the embeddings package: passages, hits, answers, reindex reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, TypedDict


class Cited(Protocol):
    """Anything that carries its article's citation: an Article, a Passage."""

    @property
    def title(self) -> str: ...
    @property
    def outlet(self) -> str | None: ...
    @property
    def url(self) -> str | None: ...
    @property
    def date(self) -> str | None: ...


class Citation(TypedDict):
    """How an article is cited beside a quote: its title, outlet, URL and date."""

    title: str
    outlet: str | None
    url: str | None
    date: str | None


def citation(record: Cited) -> Citation:
    """Return the citation fields of a record, to pass on to the record made from it."""
    return Citation(title=record.title, outlet=record.outlet, url=record.url, date=record.date)


@dataclass(frozen=True)
class Passage:
    """One indexed paragraph with the provenance needed to cite it."""

    id: int  # stable signed 64-bit id (FAISS IndexIDMap key)
    doc: str  # page path relative to the corpus root
    ordinal: int  # paragraph ordinal within the article
    text: str  # exact paragraph text as parsed
    kind: str  # "body" or "caption"
    title: str
    outlet: str | None
    url: str | None
    date: str | None


@dataclass(frozen=True)
class Source:
    """Where a (possibly syndicated) passage was published."""

    doc: str
    title: str
    outlet: str | None
    url: str | None
    date: str | None


@dataclass(frozen=True)
class Hit:
    """A passage that answers a question, with the sentence spans that answer it best."""

    passage_id: int
    text: str
    doc: str
    ordinal: int
    title: str
    outlet: str | None
    url: str | None
    date: str | None
    score: float
    highlight: tuple[tuple[int, int], ...]  # exact [start, end) slices of text
    also_in: tuple[Source, ...] = ()  # near-duplicates folded into this hit


@dataclass(frozen=True)
class Headline:
    """A nearby article offered when the corpus has no answer."""

    doc: str
    title: str
    outlet: str | None
    url: str | None
    date: str | None


@dataclass(frozen=True)
class Answer:
    """The result of one question: hits when answered, nearest headlines when not."""

    question: str
    answered: bool
    hits: tuple[Hit, ...] = ()
    nearest: tuple[Headline, ...] = ()
    has_more: bool = False  # further quotable passages exist past these hits


@dataclass(frozen=True)
class Failure:
    """A page that could not be indexed, and why."""

    doc: str
    reason: str


@dataclass(frozen=True)
class ReindexReport:
    """What one reindex did."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: tuple[Failure, ...] = ()
    passages: int = 0
    seconds: float = 0.0
    full: bool = False
    skipped_reasons: tuple[Failure, ...] = field(default=())
    notes: tuple[Failure, ...] = ()  # pages indexed in part (cut at a per-page cap, truncated), and why
    recalibrated: str = ""  # the model of the calibration record this run stored in place of another


@dataclass(frozen=True)
class ReindexProgress:
    """A progress snapshot a reindex reports to its caller (CLI bar or chat message)."""

    stage: str  # "scan", "embed", "write", "done"
    pages_scanned: int
    pages_total: int
    pages_changed: int
    passages_embedded: int  # embedded by the model in this run (reused vectors are not counted)
    passages_total: int  # how many this run embeds
    eta_seconds: float | None
    passages_reused: int = 0  # vectors taken from the base generation or an interrupted run

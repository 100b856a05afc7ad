"""Records that leave the corpus package: articles and their paragraphs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ParagraphKind = Literal["body", "caption"]


@dataclass(frozen=True)
class Paragraph:
    """One displayed paragraph of an article, text exactly as shown on the page."""

    ordinal: int
    text: str
    kind: ParagraphKind = "body"


@dataclass(frozen=True)
class Article:
    """A parsed news page: provenance plus ordered paragraphs."""

    id: str  # stable: derived from the path relative to the corpus root
    path: str  # relative to the corpus root, POSIX separators
    title: str
    outlet: str | None
    url: str | None
    date: str | None  # ISO 8601 date, YYYY-MM-DD
    tags: tuple[str, ...]
    paragraphs: tuple[Paragraph, ...]
    content_hash: str  # sha256 of the raw bytes, for incremental reindexing

    @property
    def body(self) -> tuple[Paragraph, ...]:
        """Return the body paragraphs (no captions)."""
        return tuple(p for p in self.paragraphs if p.kind == "body")

"""Per-page bounds: long paragraphs cut into verbatim passage-sized pieces, and a cap on pieces per page."""

from __future__ import annotations

import re
from collections.abc import Sequence

from corpus.models import ParagraphKind

# The model reads about 512 tokens (~500 Chinese characters) of a passage; no paragraph of the eval
# sets (10,880 of them) is longer than 471 characters, so only hostile or broken pages are cut.
PASSAGE_MAX_CHARS = 1000
# Embedding runs at ~25 passages/s on two cores: 1,000 passages cost about 40 s, never an hour.
PARAGRAPHS_PER_PAGE = 1000

# Where a piece may end, best first: after a sentence end, after a clause mark, after whitespace.
_CUTS = (
    re.compile(r"[。！？!?…]+[”’」』）)\]]*"),
    re.compile(r"[，,；;：:、]"),
    re.compile(r"\s"),
)

Paragraphs = list[tuple[str, ParagraphKind]]


def split_long(text: str, limit: int = PASSAGE_MAX_CHARS) -> list[str]:
    """Cut text into verbatim pieces of at most limit characters, at sentence ends where there are any."""
    pieces: list[str] = []
    start = 0
    while len(text) - start > limit:
        end = _cut(text, start, start + limit)
        piece = text[start:end].strip()
        if piece:
            pieces.append(piece)
        start = end
    rest = text[start:].strip()
    if rest:
        pieces.append(rest)
    return pieces


def _cut(text: str, start: int, stop: int) -> int:
    """Return the best end of a piece in text[start:stop], keeping at least half the window."""
    floor = start + (stop - start) // 2
    for pattern in _CUTS:
        ends = [m.end() for m in pattern.finditer(text, floor, stop)]
        if ends:
            return ends[-1]
    return stop


def bound_paragraphs(paragraphs: Sequence[tuple[str, ParagraphKind]]) -> tuple[Paragraphs, tuple[str, ...]]:
    """Return the page's paragraphs cut to passage size and capped per page, with notes on what was cut."""
    notes: list[str] = []
    pieces: Paragraphs = []
    long = 0
    for text, kind in paragraphs:
        parts = split_long(text)
        long += len(parts) > 1
        pieces += [(part, kind) for part in parts]
    if long:
        notes.append(f"{long:,} paragraph(s) longer than {PASSAGE_MAX_CHARS:,} characters cut into passages")
    if len(pieces) > PARAGRAPHS_PER_PAGE:
        notes.append(
            f"too many paragraphs: indexed the first {PARAGRAPHS_PER_PAGE:,} of {len(pieces):,} "
            f"(at most {PARAGRAPHS_PER_PAGE:,} per page)"
        )
        pieces = pieces[:PARAGRAPHS_PER_PAGE]
    return pieces, tuple(notes)

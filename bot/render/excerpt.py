"""Bounded quotes: a verbatim window of a passage around its highlight, with the cut ends marked."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from embeddings.models import Passage

# One quote, its source line and buttons fit one Telegram message (4,096 characters) with room to
# spare; corpus/ cuts paragraphs at the same length, so only passages indexed before that are cut here.
QUOTE_MAX_CHARS = 1000
CUT_MARK = "…"

_SENTENCE_END = re.compile(r"[。！？!?；;]+[”’」』）)]*\s*")

Keep = Literal["middle", "head", "tail"]


@dataclass(frozen=True)
class Excerpt:
    """A verbatim slice of a passage, its highlight spans shifted into it, and whether either end was cut."""

    text: str
    highlight: tuple[tuple[int, int], ...]
    cut_before: bool
    cut_after: bool

    def marked(self, body: str) -> str:
        """Return body (the rendered excerpt) with the cut mark at each cut end."""
        return (CUT_MARK if self.cut_before else "") + body + (CUT_MARK if self.cut_after else "")


def excerpt(
    text: str,
    spans: Sequence[tuple[int, int]] = (),
    limit: int = QUOTE_MAX_CHARS,
    keep: Keep = "middle",
) -> Excerpt:
    """Return at most limit characters of text: around the first highlight, or its head or tail."""
    if len(text) <= limit:
        return Excerpt(text, tuple(spans), False, False)
    start, end = _window(text, sorted(spans), limit, keep)
    shifted = tuple((max(s, start) - start, min(e, end) - start) for s, e in spans if s < end and e > start)
    return Excerpt(text[start:end], shifted, start > 0, end < len(text))


def _window(text: str, spans: list[tuple[int, int]], limit: int, keep: Keep) -> tuple[int, int]:
    if keep == "tail":
        return _snap_start(text, len(text) - limit, len(text)), len(text)
    if keep == "head" or not spans:
        return 0, _snap_end(text, 0, limit)
    first, last = spans[0][0], spans[0][1]
    if last - first >= limit:  # one highlighted sentence longer than a quote: its head
        return first, first + limit
    start = max(0, min(first - (limit - (last - first)) // 2, len(text) - limit))
    end = start + limit
    return _snap_start(text, start, first), _snap_end(text, last, end)


def _snap_start(text: str, start: int, floor: int) -> int:
    """Move a cut start forward to the next sentence start, if one comes before floor."""
    match = _SENTENCE_END.search(text, start, floor)
    return match.end() if match and start > 0 else start


def _snap_end(text: str, ceiling: int, end: int) -> int:
    """Move a cut end back to the last sentence end after ceiling, if there is one."""
    ends = [m.end() for m in _SENTENCE_END.finditer(text, ceiling, end)]
    return ends[-1] if ends and end < len(text) else end


def context_keep(passage: Passage, focus: Passage) -> Keep:
    """Tell which end of a context paragraph stays when it is cut: the end next to the focus."""
    if passage.id == focus.id:
        return "head"
    return "tail" if passage.doc == focus.doc and passage.ordinal < focus.ordinal else "head"

"""Rules every layout shares: which paragraphs are captions, and the trailers and credits to drop."""

from __future__ import annotations

import re
from collections.abc import Sequence

from corpus import text as tx
from corpus.models import ParagraphKind
from corpus.page_tree import Segment

_CAPTION_CLASS = re.compile(
    r"caption|pic[-_]?(?:txt|text|info|desc)|img[-_]?(?:desc|title|txt)", re.IGNORECASE
)
_CLOSING = re.compile(
    r"^[\s（(【\[]*(?:责任编辑|責任編輯|责编|責編|【纠错】|【糾錯】|纠错】|免责声明|免責聲明)"
)


def kind_of(segment: Segment) -> ParagraphKind:
    """Tell whether a segment is a caption (by its block, an image beside it, or its words) or body."""
    block = segment.block
    if block.tag == "figcaption" or _CAPTION_CLASS.search(block.get("class") or ""):
        return "caption"
    # Short text sharing a block with an image (div.img_wrapper > img + span) describes the image.
    if (
        len(segment.text) <= tx.CAPTION_MAX_CHARS
        and block.tag != "body"
        and next(block.iter("img"), None) is not None
    ):
        return "caption"
    return "caption" if tx.is_caption(segment.text) else "body"


def finish(paragraphs: Sequence[tuple[str, ParagraphKind]]) -> list[tuple[str, ParagraphKind]]:
    """Drop trailers, editor credits and exact repeats, keeping page order."""
    seen: set[str] = set()
    out: list[tuple[str, ParagraphKind]] = []
    for text, kind in paragraphs:
        if tx.is_trailer(text):
            continue
        text = tx.strip_trailer_tail(text)
        if text and text not in seen:
            seen.add(text)
            out.append((text, kind))
    return out


def cut_at_trailer(paragraphs: list[tuple[str, ParagraphKind]]) -> list[tuple[str, ParagraphKind]]:
    """Cut the paragraphs at an editor credit or correction link: what follows on a news site is furniture."""
    for index, (text, _) in enumerate(paragraphs):
        if index and _CLOSING.match(text):
            return paragraphs[:index]
    return paragraphs

"""Message splitting: Telegram HTML cut into messages Telegram accepts, tags closed and reopened at cuts."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence

MESSAGE_LIMIT = 4096  # code points after entity parsing
RAW_LIMIT = 32_000  # Telegram refuses raw text over 32768 bytes before parsing; keep a margin

# Tags, the entities Telegram decodes (each one character once parsed), then single characters.
_TOKEN = re.compile(r"<[^>]*>|&(?:lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});|[^<&]|&", re.S)
_TAG = re.compile(r"<[^>]*>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")
_TAG_NAME = re.compile(r"</?\s*([A-Za-z0-9-]*)")
_SENTENCE_END = set("。！？!?；;…")
_CLOSERS = set("”’」』）)】》\"'")
_SOFT_BREAK = set("，、,：:")
# Characters Telegram trims as empty: a message of only these is refused as "text must be non-empty".
_EMPTY = re.compile(
    "[\\x00-\\x20\\s\u00a0\u030a\u0333\u033f\u0e4f\u0f0b\u180e\u2000-\u200f\u2028-\u202f"
    "\u205f-\u2064\u2800\u3000\u3164\ufeff\uffa0]"
)


def _atom_char(token: str) -> str:
    if token.startswith("&") and len(token) > 1:
        return html.unescape(token)
    return token


def _priority(char: str, prev: str, depth: int, sentence_open: bool) -> int:
    """Rank a cut after `char`: 4 between blocks, 3 line break in a quote, 2 sentence, 1 soft, 0 any."""
    if char == "\n":
        if depth == 0:
            return 4 if prev == "\n" else 1
        return 3
    if char in _SENTENCE_END or (sentence_open and char in _CLOSERS):
        return 2
    if char.isspace():
        return 2 if prev in ".!?;:" else 1
    return 1 if char in _SOFT_BREAK else 0


def _closing(stack: Sequence[str]) -> str:
    return "".join(f"</{_tag_name(tag)}>" for tag in reversed(stack))


def _tag_name(tag: str) -> str:
    match = _TAG_NAME.match(tag)
    return match.group(1).lower() if match else ""


def _has_text(chunk: str) -> bool:
    visible = "".join(_atom_char(t) for t in _TOKEN.findall(chunk) if not t.startswith("<"))
    return bool(_EMPTY.sub("", visible))


def split_message(html_text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split well-formed Telegram HTML into messages of at most `limit` parsed characters.

    Cuts prefer the gap between blocks (a blank line outside any tag, i.e. between quotes) when
    the next block then fits in one message; otherwise a line break or sentence end inside a
    quote, then a space or comma; never inside a tag or an entity. Tags open at a cut are closed
    and reopened, so a long quote continues as a second blockquote. Raw text also stays under
    Telegram's byte cap. Chunks with no visible text (Telegram would refuse them) are dropped.
    """
    if len(_ENTITY.sub("&", _TAG.sub("", html_text))) <= limit and len(html_text.encode()) <= RAW_LIMIT:
        return [html_text] if _has_text(html_text) else []
    tokens = _TOKEN.findall(html_text)
    gaps = _block_gaps(tokens)
    chunks: list[str] = []
    start = 0
    stack: list[str] = []
    while start < len(tokens):
        end, stack_at_end, cut = _next_chunk(tokens, start, stack, limit, gaps)
        body = "".join(stack) + "".join(tokens[start:end]) + (_closing(stack_at_end) if cut else "")
        if _has_text(body):
            chunks.append(body)
        start, stack = end, list(stack_at_end)
        # The previous chunk closed the open tags: drop their end tags here, and blank lines
        # between blocks (whitespace inside a quote is part of the quote and stays).
        while start < len(tokens):
            token = tokens[start]
            if token.startswith("</") and stack:
                stack.pop()
            elif stack or token.startswith("<") or not token.isspace():
                break
            start += 1
    return chunks


def _block_gaps(tokens: list[str]) -> dict[int, int]:
    """Map each gap between blocks (a token index) to the visible length of the block after it."""
    starts: list[int] = []
    counts: list[int] = []  # visible characters before each gap
    depth, prev, seen = 0, "", 0
    for i, token in enumerate(tokens):
        if token.startswith("<"):
            depth = max(0, depth - 1) if token.startswith("</") else depth + 1
            continue
        char = _atom_char(token)
        seen += 1
        if char == "\n" and prev == "\n" and depth == 0:
            starts.append(i + 1)
            counts.append(seen)
        prev = char
    counts.append(seen)
    return {gap: counts[n + 1] - counts[n] for n, gap in enumerate(starts)}


def _next_chunk(
    tokens: list[str], start: int, stack: list[str], limit: int, gaps: Mapping[int, int]
) -> tuple[int, list[str], bool]:
    """Return (end, open tags at end, whether the end is a cut) of the chunk beginning at `start`."""
    open_tags = tuple(stack)
    closing = len(_closing(open_tags))
    length, size = 0, len("".join(open_tags).encode())
    # (priority, end index, open tags there): the best cut overall, and the best since the last gap.
    best: tuple[int, int, tuple[str, ...]] | None = None
    since_gap: tuple[int, int, tuple[str, ...]] | None = None
    prev, sentence_open = "", False
    for i in range(start, len(tokens)):
        token = tokens[i]
        if token.startswith("<"):
            open_tags = open_tags[:-1] if token.startswith("</") else (*open_tags, token)
            closing = len(_closing(open_tags))
            size += len(token.encode())
            continue
        char = _atom_char(token)
        token_size = len(token.encode())
        if length + 1 > limit or size + token_size + closing > RAW_LIMIT:
            if best is None:  # a limit below one character: nothing can be sent
                return i, list(open_tags), True
            # A gap is worth a short message only if the block after it then fits whole.
            if best[0] == 4 and since_gap is not None and gaps.get(best[1], 0) > limit:
                best = since_gap
            return best[1], list(best[2]), True
        length += 1
        size += token_size
        rank = _priority(char, prev, len(open_tags), sentence_open)
        sentence_open = char in _SENTENCE_END or (sentence_open and char in _CLOSERS)
        if best is None or rank >= best[0]:
            best = (rank, i + 1, open_tags)
        if rank == 4:
            since_gap = None
        elif since_gap is None or rank >= since_gap[0]:
            since_gap = (rank, i + 1, open_tags)
        prev = char
    return len(tokens), list(open_tags), False

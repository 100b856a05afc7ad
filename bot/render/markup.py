"""Telegram HTML pieces: escaping, safe links, short dates, titles, source lines and highlights."""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence

from bot.i18n import Lang, text

TITLE_MAX = 200
ALSO_IN_MAX = 5
SEPARATOR = " · "

_SURROGATE = re.compile("[\ud800-\udfff]")
_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)
_ISO_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}")


def clean(value: str) -> str:
    """Replace lone surrogates, which cannot be encoded as UTF-8 (Telegram would never get the message)."""
    return _SURROGATE.sub("\ufffd", value)


def esc(value: str) -> str:
    """Return value as Telegram HTML text."""
    return html.escape(clean(value), quote=False)


def one_line(value: str, limit: int = TITLE_MAX) -> str:
    """Return value on one line, cut to limit characters with an ellipsis."""
    flat = " ".join(clean(value).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def safe_url(url: str | None) -> str | None:
    """Return an http(s) URL fit for a link, or None."""
    if not url or len(url) > 2048 or not _URL.fullmatch(url):
        return None
    return clean(url)


def short_date(date: str | None) -> str | None:
    """Return the day of an ISO timestamp, or any other date text on one line."""
    if not date:
        return None
    match = _ISO_DATETIME.match(date)
    return match.group(1) if match else one_line(date, 40)


def link(title: str, url: str | None) -> str:
    """Return title as a link to url when the URL is safe, else as plain escaped text."""
    safe = safe_url(url)
    label = esc(title)
    return f'<a href="{html.escape(safe, quote=True)}">{label}</a>' if safe else label


def visible(value: str) -> bool:
    """Tell whether value shows anything: a character outside the control, format and space categories."""
    return any(unicodedata.category(ch)[0] not in "CZ" for ch in value)


def title_of(title: str, doc: str, lang: Lang) -> str:
    """Return a one-line title: the article's, else its document path, else "untitled"."""
    # A title of control characters alone would make a message Telegram rejects as empty.
    return next((one_line(t) for t in (title, doc) if visible(t)), "") or text(lang, "untitled")


def source_line(
    title: str, doc: str, outlet: str | None, date: str | None, url: str | None, lang: Lang
) -> str:
    """Return "linked title · outlet · date" in Telegram HTML."""
    parts = [link(title_of(title, doc, lang), url)]
    parts += [esc(p) for p in (one_line(outlet or "", 80), short_date(date)) if p]
    return SEPARATOR.join(parts)


def _spans(length: int, spans: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted((max(0, s), min(length, e)) for s, e in spans):
        if start >= end:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def highlighted(value: str, spans: Sequence[tuple[int, int]], open_: str, close: str, escape: bool) -> str:
    """Wrap the highlight spans of `value` in open_/close, escaping the text for HTML when `escape`."""
    quote: Callable[[str], str] = esc if escape else str
    out: list[str] = []
    pos = 0
    for start, end in _spans(len(value), spans):
        out += [quote(value[pos:start]), open_, quote(value[start:end]), close]
        pos = end
    out.append(quote(value[pos:]))
    return "".join(out)

"""Answers and context for a terminal: plain text, highlights bold (ANSI) or **marked**."""

from __future__ import annotations

import re
from collections.abc import Sequence

from bot.i18n import Lang, text
from bot.render.excerpt import context_keep, excerpt
from bot.render.markup import (
    ALSO_IN_MAX,
    SEPARATOR,
    clean,
    highlighted,
    one_line,
    safe_url,
    short_date,
    title_of,
)
from embeddings.models import Answer, Hit, Passage

ANSI_BOLD, ANSI_RESET = "\x1b[1m", "\x1b[0m"
PLAIN_MARK = "**"

# C0/C1 controls other than tab and newline: a corpus page must not drive the user's terminal.
_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _term(value: str) -> str:
    return _TERMINAL_CONTROL.sub("\ufffd", clean(value))


def _term_source(title: str, doc: str, outlet: str | None, date: str | None, lang: Lang) -> str:
    parts = [_term(title_of(title, doc, lang))]
    parts += [_term(p) for p in (one_line(outlet or "", 80), short_date(date)) if p]
    return SEPARATOR.join(parts)


def _term_quote(value: str, spans: Sequence[tuple[int, int]], color: bool) -> str:
    open_, close = (ANSI_BOLD, ANSI_RESET) if color else (PLAIN_MARK, PLAIN_MARK)
    part = excerpt(value, spans)
    marked = part.marked(highlighted(_term(part.text), part.highlight, open_, close, escape=False))
    return "\n".join("    " + line for line in marked.split("\n"))


def _url_line(url: str | None) -> list[str]:
    safe = safe_url(url)
    return [f"    {_term(safe)}"] if safe else []


def render_terminal(answer: Answer, lang: Lang, *, color: bool = False) -> str:
    """Render an answer for a terminal: numbered quotes with source lines, highlights bold or **marked**."""
    if not answer.answered or not answer.hits:
        lines = [text(lang, "not_found", question=_term(one_line(answer.question, 200)))]
        if answer.nearest:
            lines.append(text(lang, "nearest"))
            for h in answer.nearest:
                lines.append("  • " + _term_source(h.title, h.doc, h.outlet, h.date, lang))
                lines += _url_line(h.url)
        return "\n".join(lines)
    return "\n\n".join(_hit_lines(n, hit, lang, color) for n, hit in enumerate(answer.hits, 1))


def _hit_lines(number: int, hit: Hit, lang: Lang, color: bool) -> str:
    lines = [f"[{number}] " + _term_source(hit.title, hit.doc, hit.outlet, hit.date, lang)]
    lines += _url_line(hit.url)
    lines.append(_term_quote(hit.text, hit.highlight, color))
    if hit.also_in:
        names = [
            SEPARATOR.join(
                _term(p)
                for p in (one_line(s.outlet or "", 80) or title_of(s.title, s.doc, lang), short_date(s.date))
                if p
            )
            for s in hit.also_in[:ALSO_IN_MAX]
        ]
        lines.append("    " + text(lang, "also_in", sources="; ".join(names)))
    return "\n".join(lines)


def render_terminal_context(
    passages: Sequence[Passage], focus_id: int, lang: Lang, *, color: bool = False
) -> str:
    """Render the paragraphs around a quote for a terminal, the focus paragraph marked with ▶."""
    if not passages:
        return text(lang, "context_missing")
    focus = next((p for p in passages if p.id == focus_id), passages[0])
    colon = ": " if lang == "en" else "："
    lines = [
        text(lang, "context_title")
        + colon
        + _term_source(focus.title, focus.doc, focus.outlet, focus.date, lang)
    ]
    for p in passages:
        part = excerpt(p.text, keep=context_keep(p, focus))
        body = part.marked(_term(part.text))
        if p.id == focus.id:
            lines.append("▶ " + (f"{ANSI_BOLD}{body}{ANSI_RESET}" if color else body))
        else:
            lines.append("  " + body)
    return "\n\n".join(lines)

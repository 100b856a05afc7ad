"""Pure presentation: answers, context, status and reports as Telegram HTML, and answers for a terminal.

Every string returned for Telegram is valid Telegram HTML and, once parsed, at most 4096 code points
(raw text also stays under Telegram's 32768-byte cap). Quotes are the passages' exact text,
HTML-escaped, in their original script.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bot.i18n import Lang, text
from embeddings.models import Answer, Headline, Hit, Passage, ReindexProgress, ReindexReport, Source

if TYPE_CHECKING:
    from embeddings.search import IndexStats

MESSAGE_LIMIT = 4096  # code points after entity parsing
RAW_LIMIT = 32_000  # Telegram refuses raw text over 32768 bytes before parsing; keep a margin
EXPANDABLE_AT = 300  # quotes longer than this collapse (Telegram's expandable blockquote)
TITLE_MAX = 200
ALSO_IN_MAX = 5
REPORT_LINES_MAX = 8
SEPARATOR = " · "

ANSI_BOLD, ANSI_RESET = "\x1b[1m", "\x1b[0m"
PLAIN_MARK = "**"


@dataclass(frozen=True)
class Button:
    """An inline keyboard button: callback data or a URL."""

    text: str
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Reply:
    """One Telegram message: HTML text and the inline keyboard under it."""

    html: str
    buttons: tuple[tuple[Button, ...], ...] = ()


@dataclass(frozen=True)
class InlineItem:
    """One inline-mode result: an id, what the picker shows, and the HTML message it inserts."""

    id: str
    title: str
    description: str
    html: str


# --- text hygiene ---------------------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]+", re.IGNORECASE)
# C0/C1 controls other than tab and newline: a corpus page must not drive the user's terminal.
_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_ISO_DATETIME = re.compile(r"(\d{4}-\d{2}-\d{2})[T ]\d{2}:\d{2}")


def _clean(value: str) -> str:
    # Lone surrogates cannot be encoded as UTF-8, so Telegram would never receive the message.
    return _SURROGATE.sub("\ufffd", value)


def _esc(value: str) -> str:
    return html.escape(_clean(value), quote=False)


def one_line(value: str, limit: int = TITLE_MAX) -> str:
    """Return value on one line, cut to limit characters with an ellipsis."""
    flat = " ".join(_clean(value).split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def _safe_url(url: str | None) -> str | None:
    if not url or len(url) > 2048 or not _URL.fullmatch(url):
        return None
    return _clean(url)


def _date(date: str | None) -> str | None:
    if not date:
        return None
    match = _ISO_DATETIME.match(date)
    return match.group(1) if match else one_line(date, 40)


def _link(title: str, url: str | None) -> str:
    safe = _safe_url(url)
    label = _esc(title)
    return f'<a href="{html.escape(safe, quote=True)}">{label}</a>' if safe else label


def _title(title: str, doc: str, lang: Lang) -> str:
    return one_line(title) or one_line(doc) or text(lang, "untitled")


def _source_line(
    title: str, doc: str, outlet: str | None, date: str | None, url: str | None, lang: Lang
) -> str:
    parts = [_link(_title(title, doc, lang), url)]
    parts += [_esc(p) for p in (one_line(outlet or "", 80), _date(date)) if p]
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


def _highlighted(value: str, spans: Sequence[tuple[int, int]], open_: str, close: str, esc: bool) -> str:
    """Wrap the highlight spans of `value` in open_/close, escaping the text for HTML when `esc`."""
    quote: Callable[[str], str] = _esc if esc else str
    out: list[str] = []
    pos = 0
    for start, end in _spans(len(value), spans):
        out += [quote(value[pos:start]), open_, quote(value[start:end]), close]
        pos = end
    out.append(quote(value[pos:]))
    return "".join(out)


# --- splitting ------------------------------------------------------------------------------------

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


def _replies(html_text: str, buttons: tuple[tuple[Button, ...], ...] = ()) -> list[Reply]:
    chunks = split_message(html_text)
    return [Reply(chunk, buttons if i == len(chunks) - 1 else ()) for i, chunk in enumerate(chunks)]


def _fit(html_text: str) -> str:
    chunks = split_message(html_text)
    return chunks[0] if chunks else html_text


# --- answers --------------------------------------------------------------------------------------


def _quote(hit: Hit) -> str:
    tag = "<blockquote expandable>" if len(hit.text) > EXPANDABLE_AT else "<blockquote>"
    return f"{tag}{_highlighted(hit.text, hit.highlight, '<b>', '</b>', esc=True)}</blockquote>"


def _also_in(sources: Sequence[Source], lang: Lang) -> str:
    names = [
        _link(one_line(s.outlet or "", 80) or _title(s.title, s.doc, lang), s.url)
        + (f" ({_esc(d)})" if (d := _date(s.date)) else "")
        for s in sources[:ALSO_IN_MAX]
    ]
    if len(sources) > ALSO_IN_MAX:
        names.append(_esc(text(lang, "also_in_more", n=len(sources) - ALSO_IN_MAX)))
    # The template is HTML-safe; the joined names are already escaped HTML.
    return (
        "<i>" + text(lang, "also_in", sources="、".join(names) if lang != "en" else ", ".join(names)) + "</i>"
    )


def _hit_block(hit: Hit, number: int | None, lang: Lang) -> str:
    header = _source_line(hit.title, hit.doc, hit.outlet, hit.date, hit.url, lang)
    header = f"<b>{number}.</b> {header}" if number is not None else header
    block = f"{header}\n{_quote(hit)}"
    return f"{block}\n{_also_in(hit.also_in, lang)}" if hit.also_in else block


def render_answer(
    answer: Answer, lang: Lang, *, more_data: str | None = None, context_data: Sequence[str] = ()
) -> list[Reply]:
    """Render up to three quotes with their sources; buttons (context per hit, more) go on the last reply."""
    if not answer.answered or not answer.hits:
        return render_not_found(answer, lang)
    body = "\n\n".join(_hit_block(hit, n, lang) for n, hit in enumerate(answer.hits, 1))
    rows: list[tuple[Button, ...]] = []
    contexts = tuple(
        Button(text(lang, "context_button", n=n), data=data)
        for n, data in enumerate(context_data[: len(answer.hits)], 1)
    )
    if contexts:
        rows.append(contexts)
    if more_data is not None:
        rows.append((Button(text(lang, "more_button"), data=more_data),))
    return _replies(body, tuple(rows))


def _headline(headline: Headline, lang: Lang) -> str:
    line = _source_line(headline.title, headline.doc, headline.outlet, headline.date, headline.url, lang)
    return f"• {line}"


def render_not_found(answer: Answer, lang: Lang) -> list[Reply]:
    """Say plainly that the corpus has no answer and list the nearest headlines (never a quote)."""
    question = _esc(one_line(answer.question, 200))
    parts = [text(lang, "not_found", question=question)]
    if answer.nearest:
        parts.append(text(lang, "nearest") + "\n" + "\n".join(_headline(h, lang) for h in answer.nearest))
    return _replies("\n\n".join(parts))


def render_context(passages: Sequence[Passage], focus_id: int, lang: Lang) -> list[Reply]:
    """Render the paragraphs around a quote, the focus paragraph as a blockquote."""
    if not passages:
        return _replies(_esc(text(lang, "context_missing")))
    focus = next((p for p in passages if p.id == focus_id), passages[0])
    header = f"<b>{_esc(text(lang, 'context_title'))}</b>{SEPARATOR}" + _source_line(
        focus.title, focus.doc, focus.outlet, focus.date, focus.url, lang
    )
    paragraphs = [
        f"<blockquote>{_esc(p.text)}</blockquote>" if p.id == focus.id else _esc(p.text) for p in passages
    ]
    return _replies("\n\n".join([header, *paragraphs]))


def render_inline(answer: Answer, lang: Lang) -> list[InlineItem]:
    """Render one inline result per hit (quote plus source), or one not-found result."""
    if not answer.answered or not answer.hits:
        not_found = render_not_found(answer, lang)[0].html
        return [
            InlineItem("notfound", text(lang, "inline_not_found"), one_line(answer.question, 100), not_found)
        ]
    items = []
    for hit in answer.hits:
        block = _hit_block(hit, None, lang)
        chunks = split_message(block)
        if len(chunks) > 1:
            note = _esc(text(lang, "quote_truncated"))
            block = split_message(block, MESSAGE_LIMIT - len(note) - 1)[0] + "\n" + note
        meta = SEPARATOR.join(p for p in (one_line(hit.outlet or "", 80), _date(hit.date)) if p)
        excerpt = one_line(hit.text, 120)
        items.append(
            InlineItem(
                id=str(hit.passage_id),
                title=_title(hit.title, hit.doc, lang)[:100],
                description=f"{meta} — {excerpt}" if meta else excerpt,
                html=block,
            )
        )
    return items


# --- bot messages ---------------------------------------------------------------------------------


def _duration(seconds: float, lang: Lang) -> str:
    if seconds < 60:
        return text(lang, "duration_s", s=f"{seconds:.1f}" if seconds < 10 else f"{round(seconds)}")
    total = round(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return text(lang, "duration_d", d=days, h=hours)
    if hours:
        return text(lang, "duration_h", h=hours, m=minutes)
    return text(lang, "duration_m", m=minutes, s=secs)


def render_start(stats: IndexStats, examples: Sequence[str], lang: Lang) -> str:
    """Greet with what the bot knows: corpus size and date range (examples go on buttons)."""
    if not stats.articles:
        greeting = text(lang, "start_empty")
    elif stats.date_min and stats.date_max:
        greeting = text(
            lang,
            "start",
            articles=stats.articles,
            passages=stats.passages,
            date_min=_esc(_date(stats.date_min) or ""),
            date_max=_esc(_date(stats.date_max) or ""),
        )
    else:
        greeting = text(lang, "start_undated", articles=stats.articles, passages=stats.passages)
    if examples and stats.articles:
        greeting += "\n\n" + text(lang, "start_examples")
    return _fit(greeting)


def render_help(lang: Lang, *, is_admin: bool) -> str:
    """Explain how to ask; admins also see their commands."""
    parts = [text(lang, "help")] + ([text(lang, "help_admin")] if is_admin else [])
    return _fit("\n\n".join(parts))


def _report_summary(report: ReindexReport, lang: Lang) -> str:
    return text(
        lang,
        "result_short",
        added=report.added,
        updated=report.updated,
        removed=report.removed,
        failed=len(report.failed),
    )


def _status_value(value: object, lang: Lang) -> str:
    if isinstance(value, ReindexReport):
        return _report_summary(value, lang)
    if value is None:
        return text(lang, "status_never")
    return one_line(str(value), 300)


def render_status(status: Mapping[str, object], lang: Lang) -> str:
    """Render /status from a mapping.

    Known keys: stats (IndexStats) or articles/passages/date_min/date_max/model/dense_kind/created;
    last_reindex (str | None), last_result (ReindexReport | str | None), uptime_seconds (float),
    questions (int), reindexing (bool). Any other key is shown as `key: value`.
    """
    values = dict(status)
    stats = values.pop("stats", None)
    if stats is not None:
        for name in ("articles", "passages", "date_min", "date_max", "model", "dense_kind", "created"):
            values.setdefault(name, getattr(stats, name, None))

    def show(name: str) -> str:
        return _esc(_status_value(values.pop(name, None), lang))

    lines = [f"<b>{_esc(text(lang, 'status_title'))}</b>"]
    if "articles" in values or "passages" in values:
        lines.append(text(lang, "status_index", articles=show("articles"), passages=show("passages")))
    if values.get("date_min") or values.get("date_max"):
        lines.append(text(lang, "status_dates", date_min=show("date_min"), date_max=show("date_max")))
    for name in ("date_min", "date_max"):
        values.pop(name, None)
    for name, key, field in [
        ("model", "status_model", "model"),
        ("dense_kind", "status_dense", "kind"),
        ("created", "status_created", "created"),
    ]:
        if values.get(name) is not None:
            lines.append(text(lang, key, **{field: show(name)}))
        values.pop(name, None)
    if "last_reindex" in values:
        lines.append(text(lang, "status_last_reindex", when=show("last_reindex")))
    if "last_result" in values:
        lines.append(text(lang, "status_last_result", result=show("last_result")))
    uptime = values.pop("uptime_seconds", None)
    if isinstance(uptime, int | float):
        lines.append(text(lang, "status_uptime", uptime=_esc(_duration(float(uptime), lang))))
    if "questions" in values:
        lines.append(text(lang, "status_questions", questions=show("questions")))
    if values.pop("reindexing", False):
        lines.append(text(lang, "status_reindexing"))
    lines += [f"{_esc(one_line(str(k), 60))}: {show(k)}" for k in list(values)]
    return _fit("\n".join(lines))


def render_progress(progress: ReindexProgress, lang: Lang) -> str:
    """Render one reindex progress snapshot (the message edited in place)."""
    stage_key = f"stage_{progress.stage}"
    try:
        stage = text(lang, stage_key)
    except KeyError:
        stage = _esc(one_line(progress.stage, 40))
    eta = (
        _duration(progress.eta_seconds, lang)
        if progress.eta_seconds is not None and progress.eta_seconds >= 0
        else text(lang, "eta_unknown")
    )
    return _fit(
        text(
            lang,
            "progress",
            stage=stage,
            scanned=progress.pages_scanned,
            total=progress.pages_total,
            changed=progress.pages_changed,
            embedded=progress.passages_embedded,
            passages=progress.passages_total,
            eta=_esc(eta),
        )
    )


def _failures(header_key: str, failures: Sequence[object], lang: Lang) -> list[str]:
    if not failures:
        return []
    lines = [f"<b>{_esc(text(lang, header_key))}</b>"]
    for failure in failures[:REPORT_LINES_MAX]:
        doc, reason = getattr(failure, "doc", ""), getattr(failure, "reason", "")
        lines.append(f"• <code>{_esc(one_line(doc, 120))}</code>: {_esc(one_line(reason, 200))}")
    if len(failures) > REPORT_LINES_MAX:
        lines.append(_esc(text(lang, "report_more", n=len(failures) - REPORT_LINES_MAX)))
    return lines


def render_report(report: ReindexReport, lang: Lang) -> str:
    """Render the final reindex report: counts, then failed and skipped pages with reasons."""
    mode = text(lang, "mode_full" if report.full else "mode_incremental")
    summary = text(
        lang,
        "report",
        mode=mode[:1].upper() + mode[1:] if lang == "en" else mode,
        seconds=_esc(_duration(report.seconds, lang)),
        added=report.added,
        updated=report.updated,
        removed=report.removed,
        unchanged=report.unchanged,
        skipped=report.skipped,
        failed=len(report.failed),
        passages=report.passages,
    )
    lines = [summary]
    lines += _failures("report_failed", report.failed, lang)
    lines += _failures("report_skipped", report.skipped_reasons, lang)
    return _fit("\n".join(lines))


# --- terminal -------------------------------------------------------------------------------------


def _term(value: str) -> str:
    return _TERMINAL_CONTROL.sub("\ufffd", _clean(value))


def _term_source(title: str, doc: str, outlet: str | None, date: str | None, lang: Lang) -> str:
    parts = [_term(_title(title, doc, lang))]
    parts += [_term(p) for p in (one_line(outlet or "", 80), _date(date)) if p]
    return SEPARATOR.join(parts)


def _term_quote(value: str, spans: Sequence[tuple[int, int]], color: bool) -> str:
    open_, close = (ANSI_BOLD, ANSI_RESET) if color else (PLAIN_MARK, PLAIN_MARK)
    marked = _highlighted(_term(value), spans, open_, close, esc=False)
    return "\n".join("    " + line for line in marked.split("\n"))


def render_terminal(answer: Answer, lang: Lang, *, color: bool = False) -> str:
    """Render an answer for a terminal: numbered quotes with source lines, highlights bold or **marked**."""
    if not answer.answered or not answer.hits:
        lines = [text(lang, "not_found", question=_term(one_line(answer.question, 200)))]
        if answer.nearest:
            lines.append(text(lang, "nearest"))
            for h in answer.nearest:
                url = _safe_url(h.url)
                lines.append("  • " + _term_source(h.title, h.doc, h.outlet, h.date, lang))
                lines += [f"    {_term(url)}"] if url else []
        return "\n".join(lines)
    blocks = []
    for n, hit in enumerate(answer.hits, 1):
        lines = [f"[{n}] " + _term_source(hit.title, hit.doc, hit.outlet, hit.date, lang)]
        url = _safe_url(hit.url)
        lines += [f"    {_term(url)}"] if url else []
        lines.append(_term_quote(hit.text, hit.highlight, color))
        if hit.also_in:
            names = [
                SEPARATOR.join(
                    _term(p)
                    for p in (one_line(s.outlet or "", 80) or _title(s.title, s.doc, lang), _date(s.date))
                    if p
                )
                for s in hit.also_in[:ALSO_IN_MAX]
            ]
            lines.append("    " + text(lang, "also_in", sources="; ".join(names)))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


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
        body = _term(p.text)
        if p.id == focus.id:
            lines.append("▶ " + (f"{ANSI_BOLD}{body}{ANSI_RESET}" if color else body))
        else:
            lines.append("  " + body)
    return "\n\n".join(lines)

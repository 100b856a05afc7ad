"""Answers for Telegram: quotes with their sources, not-found replies, context and inline results."""

from __future__ import annotations

from collections.abc import Sequence

from bot.i18n import Lang, text
from bot.render.excerpt import context_keep, excerpt
from bot.render.markup import (
    ALSO_IN_MAX,
    SEPARATOR,
    esc,
    highlighted,
    link,
    one_line,
    short_date,
    source_line,
    title_of,
)
from bot.render.reply import Button, InlineItem, Reply, replies
from bot.render.split import MESSAGE_LIMIT, split_message
from embeddings.models import Answer, Headline, Hit, Passage, Source

EXPANDABLE_AT = 300  # quotes longer than this collapse (Telegram's expandable blockquote)


def _quote(hit: Hit) -> str:
    part = excerpt(hit.text, hit.highlight)
    tag = "<blockquote expandable>" if len(part.text) > EXPANDABLE_AT else "<blockquote>"
    body = part.marked(highlighted(part.text, part.highlight, "<b>", "</b>", escape=True))
    return f"{tag}{body}</blockquote>"


def _also_in(sources: Sequence[Source], lang: Lang) -> str:
    names = [
        link(one_line(s.outlet or "", 80) or title_of(s.title, s.doc, lang), s.url)
        + (f" ({esc(d)})" if (d := short_date(s.date)) else "")
        for s in sources[:ALSO_IN_MAX]
    ]
    if len(sources) > ALSO_IN_MAX:
        names.append(esc(text(lang, "also_in_more", n=len(sources) - ALSO_IN_MAX)))
    # The template is HTML-safe; the joined names are already escaped HTML.
    return (
        "<i>" + text(lang, "also_in", sources="、".join(names) if lang != "en" else ", ".join(names)) + "</i>"
    )


def _hit_block(hit: Hit, number: int | None, lang: Lang) -> str:
    header = source_line(hit.title, hit.doc, hit.outlet, hit.date, hit.url, lang)
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
    return replies(body, tuple(rows))


def _headline(headline: Headline, lang: Lang) -> str:
    line = source_line(headline.title, headline.doc, headline.outlet, headline.date, headline.url, lang)
    return f"• {line}"


def render_not_found(answer: Answer, lang: Lang) -> list[Reply]:
    """Say plainly that the corpus has no answer and list the nearest headlines (never a quote)."""
    question = esc(one_line(answer.question, 200))
    parts = [text(lang, "not_found", question=question)]
    if answer.nearest:
        parts.append(text(lang, "nearest") + "\n" + "\n".join(_headline(h, lang) for h in answer.nearest))
    return replies("\n\n".join(parts))


def render_context(passages: Sequence[Passage], focus_id: int, lang: Lang) -> list[Reply]:
    """Render the paragraphs around a quote, the focus paragraph as a blockquote."""
    if not passages:
        return replies(esc(text(lang, "context_missing")))
    focus = next((p for p in passages if p.id == focus_id), passages[0])
    header = f"<b>{esc(text(lang, 'context_title'))}</b>{SEPARATOR}" + source_line(
        focus.title, focus.doc, focus.outlet, focus.date, focus.url, lang
    )
    paragraphs = [
        f"<blockquote>{_bounded(p, focus)}</blockquote>" if p.id == focus.id else _bounded(p, focus)
        for p in passages
    ]
    return replies("\n\n".join([header, *paragraphs]))


def _bounded(passage: Passage, focus: Passage) -> str:
    part = excerpt(passage.text, keep=context_keep(passage, focus))
    return part.marked(esc(part.text))


def render_inline(answer: Answer, lang: Lang) -> list[InlineItem]:
    """Render one inline result per hit (quote plus source), or one not-found result."""
    if not answer.answered or not answer.hits:
        not_found = render_not_found(answer, lang)[0].html
        return [
            InlineItem("notfound", text(lang, "inline_not_found"), one_line(answer.question, 100), not_found)
        ]
    return [_inline_item(hit, lang) for hit in answer.hits]


def _inline_item(hit: Hit, lang: Lang) -> InlineItem:
    block = _hit_block(hit, None, lang)
    if len(split_message(block)) > 1:
        note = esc(text(lang, "quote_truncated"))
        block = split_message(block, MESSAGE_LIMIT - len(note) - 1)[0] + "\n" + note
    meta = SEPARATOR.join(p for p in (one_line(hit.outlet or "", 80), short_date(hit.date)) if p)
    summary = one_line(hit.text[:1000], 120)
    return InlineItem(
        id=str(hit.passage_id),
        title=title_of(hit.title, hit.doc, lang)[:100],
        description=f"{meta} — {summary}" if meta else summary,
        html=block,
    )

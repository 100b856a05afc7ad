"""Presentation: every Telegram string parses with Telegram's HTML rules, fits, and quotes verbatim."""

from __future__ import annotations

import html
import os
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.i18n import LANGUAGES, Lang, text
from bot.render.admin import render_progress, render_report, render_status
from bot.render.answers import render_answer, render_context, render_inline, render_not_found
from bot.render.excerpt import CUT_MARK, QUOTE_MAX_CHARS, excerpt
from bot.render.reply import Button, Reply
from bot.render.split import split_message
from bot.render.terminal import ANSI_BOLD, ANSI_RESET, render_terminal, render_terminal_context
from bot.render.welcome import render_help, render_start
from bot.status import LastReindex, Status
from embeddings.models import (
    Answer,
    Failure,
    Headline,
    Hit,
    Passage,
    ReindexProgress,
    ReindexReport,
    Source,
)
from embeddings.search import IndexStats
from tests.telegram_html import TelegramHtmlError, check_text, parse_telegram_html, utf16_len

URL = "https://news.example.com/2024/01/02/article.html?id=7&src=rss"


def sent(message: str) -> str:
    """Return the text Telegram would store for an HTML message, failing as sendMessage would."""
    parsed, _ = check_text(message, "HTML")
    assert len(message.encode()) <= 32768
    return parsed


def visible(message: str) -> str:
    """Return the raw text of an HTML message: tags dropped, entities decoded."""
    return html.unescape(re.sub(r"<[^>]*>", "", message))


TELEGRAM_EMPTY = re.compile(
    "[\x00-\x20\u0085\u00a0\u030a\u0333\u033f\u0e4f\u0f0b\u1680\u180e\u2000-\u200f\u2028-\u202f\u205f-\u2064\u2800\u3000\u3164\ufeff\uffa0]"
)


def invisible_free(value: str) -> str:
    """Return value without the characters Telegram treats as empty."""
    return TELEGRAM_EMPTY.sub("", value)


def drops_only_invisible(shown: str, source: str) -> bool:
    """Tell whether shown is source with at most some Telegram-empty characters left out."""
    j = 0
    for ch in source:
        if j < len(shown) and shown[j] == ch:
            j += 1
        elif not TELEGRAM_EMPTY.match(ch):
            return False
    return j == len(shown)


def quoted(messages: list[str]) -> str:
    """Return everything inside blockquotes across messages, in order, decoded."""
    return "".join(
        visible(inner)
        for m in messages
        for inner in re.findall(r"<blockquote[^>]*>(.*?)</blockquote>", m, re.S)
    )


def hit(
    passage_id: int = 1,
    body: str = "上海房价去年上涨了百分之五。北京则持平。",
    *,
    highlight: tuple[tuple[int, int], ...] = ((0, 14),),
    title: str = "上海楼市年报",
    url: str | None = URL,
    outlet: str | None = "新华社",
    date: str | None = "2024-01-02",
    also_in: tuple[Source, ...] = (),
) -> Hit:
    return Hit(
        passage_id=passage_id,
        text=body,
        doc=f"news/{passage_id}.html",
        ordinal=3,
        title=title,
        outlet=outlet,
        url=url,
        date=date,
        score=0.8,
        highlight=highlight,
        also_in=also_in,
    )


def passage(pid: int, body: str, ordinal: int) -> Passage:
    return Passage(pid, "news/1.html", ordinal, body, "body", "上海楼市年报", "新华社", URL, "2024-01-02")


# --- answers --------------------------------------------------------------------------------------


def test_an_answer_quotes_with_header_bold_highlight_and_link() -> None:
    replies = render_answer(Answer("上海房价", True, (hit(),)), "zh-hans")
    assert len(replies) == 1
    message = replies[0].html
    parsed, entities = parse_telegram_html(message)
    assert parsed.startswith("1. 上海楼市年报 · 新华社 · 2024-01-02\n")
    assert "上海房价去年上涨了百分之五。北京则持平。" in parsed
    quote_at = utf16_len(parsed[: parsed.index("上海房价去年")])
    kinds = {(e["type"], e["offset"], e["length"]) for e in entities}
    assert ("bold", quote_at, 14) in kinds  # exactly the highlighted sentence
    assert ("blockquote", quote_at, 20) in kinds
    links = [e for e in entities if e["type"] == "text_link"]
    assert [e["url"] for e in links] == [URL]
    assert message.count('href="https://news.example.com/2024/01/02/article.html?id=7&amp;src=rss"') == 1


def test_header_without_url_outlet_or_date_is_just_the_title() -> None:
    message = render_answer(Answer("q", True, (hit(url=None, outlet=None, date=None),)), "en")[0].html
    parsed, entities = parse_telegram_html(message)
    assert parsed.startswith("1. 上海楼市年报\n")
    assert not [e for e in entities if e["type"] == "text_link"]


def test_unsafe_urls_are_not_linked() -> None:
    for bad in ("javascript:alert(1)", "http://exa mple.com/", "ftp://example.com/x", "http://a.com/\x01"):
        message = render_answer(Answer("q", True, (hit(url=bad),)), "en")[0].html
        _, entities = parse_telegram_html(message)
        assert not [e for e in entities if e["type"] == "text_link"], bad


def test_datetime_dates_show_the_day() -> None:
    message = render_answer(Answer("q", True, (hit(date="2024-01-02T08:30:00+08:00"),)), "en")[0].html
    assert "· 2024-01-02\n" in message
    assert "08:30" not in message


def test_quotes_are_escaped_exactly_and_keep_their_script() -> None:
    body = "价格<涨>了 & \"跌\" 了'吗' 😀𠀀 &amp; 發展"
    for lang in LANGUAGES:
        message = render_answer(Answer("q", True, (hit(body=body, highlight=((0, 5),)),)), lang)[0].html
        parsed = sent(message)
        assert body in parsed  # traditional 發 stays traditional in zh-hans, simplified 发 is never produced
        assert quoted([message]) == body
        assert "<b>价格&lt;涨&gt;</b>" in message


def test_long_quotes_are_expandable_short_ones_not() -> None:
    short = render_answer(Answer("q", True, (hit(body="短句。" * 10),)), "en")[0].html
    long = render_answer(Answer("q", True, (hit(body="长句子。" * 100),)), "en")[0].html
    assert "<blockquote>" in short and "expandable" not in short
    assert "<blockquote expandable>" in long
    _, entities = parse_telegram_html(long)
    assert "expandable_blockquote" in {e["type"] for e in entities}


def test_overlapping_and_out_of_range_highlights_are_merged_and_clipped() -> None:
    body = "第一句。第二句。第三句。"
    message = render_answer(
        Answer("q", True, (hit(body=body, highlight=((4, 8), (0, 5), (10, 99), (7, 7))),)), "en"
    )
    html_text = message[0].html
    assert "<b>第一句。第二句。</b>第三<b>句。</b>" in html_text
    sent(html_text)


def test_syndicated_copies_are_listed_briefly() -> None:
    copies = tuple(
        Source(f"d{i}", f"标题{i}", f"媒体{i}", f"https://m{i}.example.com/", f"2024-01-0{i % 9 + 1}")
        for i in range(8)
    )
    message = render_answer(Answer("q", True, (hit(also_in=copies),)), "zh-hans")[0].html
    parsed, entities = parse_telegram_html(message)
    assert "同见：媒体0 (2024-01-01)、媒体1 (2024-01-02)" in parsed
    assert "等 3 处" in parsed
    assert "媒体5" not in parsed
    assert "italic" in {e["type"] for e in entities}
    english = parse_telegram_html(render_answer(Answer("q", True, (hit(also_in=copies[:1]),)), "en")[0].html)[
        0
    ]
    assert "Also in: 媒体0 (2024-01-01)" in english


def test_buttons_go_on_the_last_reply_with_the_given_data() -> None:
    hits = tuple(hit(i, "很长的一句话。" * 140) for i in range(1, 7))  # six 980-character quotes
    replies = render_answer(
        Answer("q", True, hits), "en", more_data="m:abc", context_data=["c:1", "c:2", "c:3"]
    )
    assert len(replies) == 2
    assert all(r.buttons == () for r in replies[:-1])
    assert replies[-1].buttons == (
        (Button("Context 1", "c:1"), Button("Context 2", "c:2"), Button("Context 3", "c:3")),
        (Button("More results", "m:abc"),),
    )


@pytest.mark.parametrize(
    ("lang", "context", "more"),
    [
        ("zh-hans", "上下文 1", "更多结果"),
        ("zh-hant", "上下文 1", "更多結果"),
        ("en", "Context 1", "More results"),
    ],
)
def test_button_labels_follow_the_ui_language(lang: Lang, context: str, more: str) -> None:
    replies = render_answer(Answer("q", True, (hit(),)), lang, more_data="m", context_data=["c"])
    assert [[b.text for b in row] for row in replies[-1].buttons] == [[context], [more]]


def test_no_buttons_unless_asked() -> None:
    replies = render_answer(Answer("q", True, (hit(),)), "en")
    assert replies == [Reply(replies[0].html)]


def test_split_prefers_the_gap_between_quotes() -> None:
    bodies = [name * 998 + "。" for name in "甲乙丙丁戊"]
    hits = tuple(hit(i, body, highlight=()) for i, body in enumerate(bodies, 1))
    replies = render_answer(Answer("q", True, hits), "en")
    assert len(replies) == 2
    for reply in replies:
        sent(reply.html)
    # No quote is cut: every body sits whole inside one message.
    for body in bodies:
        assert sum(body in quoted([r.html]) for r in replies) == 1


def test_a_quote_longer_than_the_bound_is_an_excerpt_around_its_highlight_marked_as_cut() -> None:
    sentences = [f"第{i}句话讲的是上海房价的变化情况和原因分析。" for i in range(400)]
    body = "".join(sentences)
    target = body.index(sentences[200])
    highlight = ((target, target + len(sentences[200])),)
    replies = render_answer(Answer("q", True, (hit(body=body, highlight=highlight),)), "zh-hans")
    assert len(replies) == 1  # 9,200 characters of paragraph, one message
    shown = quoted([replies[0].html])
    assert shown.startswith(CUT_MARK) and shown.endswith(CUT_MARK)
    inner = shown[1:-1]
    assert len(inner) <= QUOTE_MAX_CHARS and inner in body  # verbatim
    assert inner.startswith("第") and inner.endswith("。")  # cut between sentences
    assert f"<b>{sentences[200]}</b>" in replies[0].html


def test_a_highlighted_sentence_longer_than_the_bound_shows_its_head() -> None:
    body = "前言。" + "没有句号的超长句子" * 400 + "。结尾。"
    highlight = ((3, len(body) - 3),)
    shown = quoted([render_answer(Answer("q", True, (hit(body=body, highlight=highlight),)), "en")[0].html])
    assert shown == CUT_MARK + body[3 : 3 + QUOTE_MAX_CHARS] + CUT_MARK


def test_a_short_quote_is_whole_and_unmarked() -> None:
    body = "上海房价去年上涨了百分之五。" * 70  # 980 characters: under the bound
    shown = quoted([render_answer(Answer("q", True, (hit(body=body, highlight=()),)), "en")[0].html])
    assert shown == body


def test_many_tags_keep_raw_text_under_telegrams_byte_cap() -> None:
    body = "ab" * 4000
    spans = tuple((i, i + 1) for i in range(0, 8000, 2))
    replies = render_answer(Answer("q", True, (hit(body=body, highlight=spans),)), "en")
    for reply in replies:
        sent(reply.html)
        assert len(reply.html.encode()) <= 32768
    assert quoted([r.html for r in replies]) == body[:QUOTE_MAX_CHARS] + CUT_MARK


# --- split_message --------------------------------------------------------------------------------


def test_split_message_leaves_short_messages_alone() -> None:
    assert split_message("<b>hi</b> &amp; bye") == ["<b>hi</b> &amp; bye"]


def test_split_message_never_cuts_an_entity_and_counts_it_as_one_character() -> None:
    source = "&amp;" * 5000
    chunks = split_message(source)
    assert [len(sent(c)) for c in chunks] == [4096, 904]
    assert "".join(visible(c) for c in chunks) == "&" * 5000


def test_split_message_reopens_nested_tags() -> None:
    source = '<b>bold <a href="https://x.example.com/">link text here</a> tail</b>'
    chunks = split_message(source, limit=12)
    assert len(chunks) > 1
    for chunk in chunks:
        assert len(parse_telegram_html(chunk)[0]) <= 12
    assert "".join(visible(c) for c in chunks).replace(" ", "") == "boldlinktextheretail"
    assert chunks[1].startswith('<b><a href="https://x.example.com/">')


def test_split_message_counts_code_points_not_utf16() -> None:
    chunks = split_message("😀" * 4096)
    assert len(chunks) == 1
    assert len(sent(chunks[0])) == 4096


def test_split_message_prefers_paragraphs_then_sentences() -> None:
    # The second paragraph fits in a message of its own: cut between the paragraphs.
    source = "第一段。" * 10 + "\n\n" + "第二段的句子，很长。" * 7
    assert split_message(source, limit=80) == ["第一段。" * 10 + "\n\n", "第二段的句子，很长。" * 7]
    # It does not: fill the first message and cut the long paragraph at a sentence end.
    source = "第一段。" * 10 + "\n\n" + "第二段的句子，很长。" * 10
    chunks = split_message(source, limit=80)
    assert chunks[0] == "第一段。" * 10 + "\n\n" + "第二段的句子，很长。" * 3
    assert all(visible(c).rstrip().endswith("。") for c in chunks)
    assert "".join(chunks) == source


def test_split_message_drops_nothing_visible_and_adds_no_empty_message() -> None:
    source = "<blockquote>" + "句子。" * 2000 + "</blockquote>\n\n   \n"
    chunks = split_message(source)
    assert all(sent(c).strip() for c in chunks)
    assert quoted(chunks) == "句子。" * 2000


def test_the_local_check_refuses_what_telegram_refuses() -> None:
    # The oracle is strict: this guards against a check that accepts everything.
    for bad in ("a < b", "<b>x", "<b>x</i>", "<blockquote>x", "x" * 4097, "<b> </b>"):
        with pytest.raises(Exception):  # noqa: B017 - TelegramHtmlError or the Bot API's length errors
            sent(bad)
    with pytest.raises(TelegramHtmlError):
        parse_telegram_html("<foo>x</foo>")


# --- not found, context, inline -------------------------------------------------------------------


def test_not_found_says_so_and_lists_headlines_never_a_quote() -> None:
    nearest = (
        Headline("a.html", "北京<新>房价", "人民日报", URL, "2024-02-01"),
        Headline("b.html", "", None, None, None),
    )
    answer = Answer("火星 <房价>?", False, (hit(),), nearest)
    for replies in (render_not_found(answer, "zh-hans"), render_answer(answer, "zh-hans", more_data="m")):
        assert len(replies) == 1
        message = replies[0].html
        parsed = sent(message)
        assert "<blockquote" not in message
        assert "上海房价去年" not in parsed
        assert parsed.startswith("语料库里没有能回答「火星 <房价>?」的段落。")
        assert "最接近的新闻标题：\n• 北京<新>房价 · 人民日报 · 2024-02-01\n• news" not in parsed
        assert "• 北京<新>房价 · 人民日报 · 2024-02-01\n• b.html" in parsed
        assert replies[0].buttons == ()


def test_not_found_without_headlines_in_each_language() -> None:
    for lang in LANGUAGES:
        parsed = sent(render_not_found(Answer("x", False), lang)[0].html)
        assert parsed == text(lang, "not_found", question="x")


def test_context_marks_the_focus_paragraph_in_page_order() -> None:
    passages = [
        passage(10, "前一段 <a>。", 1),
        passage(11, "焦点段落 & 引文。", 2),
        passage(12, "后一段。", 3),
    ]
    replies = render_context(passages, 11, "en")
    assert len(replies) == 1
    message = replies[0].html
    parsed = sent(message)
    assert parsed.index("前一段 <a>。") < parsed.index("焦点段落 & 引文。") < parsed.index("后一段。")
    assert quoted([message]) == "焦点段落 & 引文。"
    assert parsed.startswith("Context · 上海楼市年报 · 新华社 · 2024-01-02")


def test_long_context_paragraphs_are_cut_keeping_the_ends_next_to_the_focus() -> None:
    passages = [passage(i, f"第{i}段。" + "内容。" * 600 + f"第{i}段完。", i) for i in range(3)]
    replies = render_context(passages, 1, "zh-hant")
    assert len(replies) == 1  # three 1,800-character paragraphs, one message
    shown = sent(replies[0].html)
    before, focus, after = shown.split("\n\n")[1:]
    assert before.startswith(CUT_MARK) and before.endswith("第0段完。")  # the end next to the focus
    assert focus.startswith("第1段。") and focus.endswith(CUT_MARK)
    assert after.startswith("第2段。") and after.endswith(CUT_MARK)
    for part, p in zip((before, focus, after), passages, strict=True):
        assert part.strip(CUT_MARK) in p.text and len(part.strip(CUT_MARK)) <= QUOTE_MAX_CHARS


def test_context_of_a_vanished_passage_says_so() -> None:
    assert sent(render_context([], 5, "zh-hant")[0].html) == text("zh-hant", "context_missing")


def test_inline_items_quote_with_source_and_unique_ids() -> None:
    hits = (hit(1), hit(2, "长" * 5000 + "。"), hit(3, outlet=None, date=None))
    items = render_inline(Answer("q", True, hits), "en")
    assert [i.id for i in items] == ["1", "2", "3"]
    for item in items:
        assert 1 <= len(item.id.encode()) <= 64
        sent(item.html)
        assert item.title == "上海楼市年报"
    assert items[0].description == "新华社 · 2024-01-02 — 上海房价去年上涨了百分之五。北京则持平。"
    assert hits[0].text in visible(items[0].html)
    assert visible(items[1].html).rstrip().endswith("长" * QUOTE_MAX_CHARS + CUT_MARK)
    not_found = render_inline(Answer("火星", False), "zh-hans")
    assert len(not_found) == 1
    assert not_found[0].title == text("zh-hans", "inline_not_found")
    sent(not_found[0].html)


# --- start, help, status, progress, report --------------------------------------------------------

STATS = IndexStats(36, 812, "2023-05-01", "2024-06-30T10:00:00", "e5-small", "2024-07-01T00:00:00Z", "flat")


def test_start_greets_with_corpus_size_and_dates() -> None:
    assert sent(render_start(STATS, ["a", "b", "c"], "zh-hans")).startswith("你好！")
    greeting = sent(render_start(STATS, ["a"], "en"))
    assert "36 articles (812 paragraphs) dated 2023-05-01 to 2024-06-30." in greeting
    assert greeting.endswith(text("en", "start_examples"))
    assert "2023-05-01 到 2024-06-30" in sent(render_start(STATS, [], "zh-hant"))
    empty = IndexStats(0, 0, None, None, "m", "c", "flat")
    assert sent(render_start(empty, ["a"], "en")) == text("en", "start_empty")
    undated = IndexStats(3, 9, None, None, "m", "c", "flat")
    assert "3 articles (9 paragraphs)." in sent(render_start(undated, [], "en"))


def test_help_shows_admin_commands_only_to_admins() -> None:
    for lang in LANGUAGES:
        user, admin = sent(render_help(lang, is_admin=False)), sent(render_help(lang, is_admin=True))
        assert "/reindex" not in user and "/status" not in user
        assert "/reindex full" in admin and "/status" in admin
        assert admin.startswith(user)


def test_status_shows_index_model_last_reindex_uptime_and_questions() -> None:
    report = ReindexReport(added=3, updated=1, removed=2, failed=(Failure("x.html", "bad"),))
    status = Status(
        stats=STATS,
        model="intfloat/multilingual-e5-small",
        last_reindex=LastReindex(at="2024-07-01 10:00 UTC", result=report),
        uptime_seconds=3725.0,
        questions=42,
        reindexing=True,
        extra=(("webhook", "<off>"),),
    )
    parsed = sent(render_status(status, "en"))
    assert parsed.splitlines() == [
        "Status",
        "Index: 36 articles, 812 passages",
        "Dates: 2023-05-01 to 2024-06-30T10:00:00",
        "Model: intfloat/multilingual-e5-small",
        "Vector index: flat",
        "Index built: 2024-07-01T00:00:00Z",
        "Last reindex: 2024-07-01 10:00 UTC",
        "Last result: added 3, updated 1, removed 2, failed 1",
        "Uptime: 1 h 2 min",
        "Questions answered: 42",
        "A reindex is running",
        "webhook: <off>",
    ]
    fresh = sent(render_status(Status(last_reindex=None, questions=0), "zh-hans"))
    assert fresh.splitlines() == ["运行状态", "上次重建：从未", "已回答问题：0"]


def test_progress_shows_pages_passages_and_eta() -> None:
    progress = ReindexProgress("embed", 120, 1279, 30, 400, 900, 95.0)
    assert sent(render_progress(progress, "en")) == (
        "Reindexing: embedding passages\npages 120/1279, changed 30\n"
        "passages embedded 400/900, reused 0\nETA: 1 min 35 s"
    )
    unknown = ReindexProgress("scan", 0, 0, 0, 0, 0, None)
    assert sent(render_progress(unknown, "zh-hant")).endswith("預計剩餘：估算中")


def test_progress_counts_reused_vectors_apart_from_embedded_ones() -> None:
    moved = ReindexProgress("done", 4, 4, 1, 0, 0, None, passages_reused=120)
    assert "passages embedded 0/0, reused 120\n" in sent(render_progress(moved, "en"))
    assert "段落向量 0/0，复用 120\n" in sent(render_progress(moved, "zh-hans"))


def test_report_lists_counts_and_failures_within_limits() -> None:
    failures = tuple(Failure(f"pages/<{i}>.html", "无法解析：" + "很长的原因" * 100) for i in range(30))
    report = ReindexReport(2, 1, 4, 100, 3, failures, 800, 12.34, True, (Failure("big.html", "too big"),))
    parsed = sent(render_report(report, "en"))
    assert parsed.startswith("Full reindex finished in 12 s.\nadded 2, updated 1, removed 4, unchanged 100,")
    assert "failed 30." in parsed
    assert "pages/<0>.html: 无法解析" in parsed
    assert "…and 22 more" in parsed
    assert "Skipped pages:\n• big.html: too big" in parsed
    assert sent(render_report(ReindexReport(seconds=3.21), "zh-hans")).startswith(
        "增量重建索引完成，用时 3.2 秒。"
    )
    assert "Ranking constants" not in parsed


def test_report_says_when_the_ranking_constants_changed() -> None:
    report = ReindexReport(unchanged=36, passages=231, recalibrated="<e5>")
    assert sent(render_report(report, "en")).endswith("Ranking constants changed: now the record for <e5>.")
    assert "排序常數已更換" in sent(render_report(report, "zh-hant"))


# --- terminal -------------------------------------------------------------------------------------


def test_terminal_answer_has_source_lines_and_plain_markers() -> None:
    answer = Answer(
        "q", True, (hit(), hit(2, url=None, also_in=(Source("d", "t", "人民网", None, "2024-01-03"),)))
    )
    out = render_terminal(answer, "en")
    assert out.splitlines()[:3] == [
        "[1] 上海楼市年报 · 新华社 · 2024-01-02",
        f"    {URL}",
        "    **上海房价去年上涨了百分之五。**北京则持平。",
    ]
    assert "[2] 上海楼市年报 · 新华社 · 2024-01-02\n    **上海房价" in out
    assert "    Also in: 人民网 · 2024-01-03" in out
    assert "\x1b" not in out and "<" not in out


def test_terminal_uses_ansi_bold_only_when_asked_and_strips_control_characters() -> None:
    body = "危险\x1b[31m红色\x07。安全。"
    out = render_terminal(Answer("q", True, (hit(body=body, highlight=((0, 10),)),)), "en", color=True)
    assert f"{ANSI_BOLD}危险\ufffd[31m红色\ufffd{ANSI_RESET}。安全。" in out
    assert out.count("\x1b") == 2


def test_terminal_not_found_and_context() -> None:
    nearest = (Headline("a.html", "北京房价", "人民日报", URL, "2024-02-01"),)
    out = render_terminal(Answer("火星", False, (), nearest), "zh-hant")
    assert out.splitlines() == [
        "語料庫裡沒有能回答「火星」的段落。",
        "最接近的新聞標題：",
        "  • 北京房价 · 人民日报 · 2024-02-01",
        f"    {URL}",
    ]
    passages = [passage(1, "前。", 1), passage(2, "焦点。", 2)]
    context = render_terminal_context(passages, 2, "en")
    assert context.splitlines()[-3:] == ["  前。", "", "▶ 焦点。"]


# --- the property ---------------------------------------------------------------------------------

NASTY = st.sampled_from(
    ["<", ">", "&", "&amp;", '"', "'", "<b>", "</blockquote>", "&#0;", "\n", "\n\n", " ", "\t"]
)
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
ASTRAL = st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF) | st.characters(
    min_codepoint=0x20000, max_codepoint=0x2A6DF
)
ANY = st.characters(blacklist_categories=("Cs",))
PIECE = st.one_of(NASTY, st.text(CJK, max_size=30), st.text(ASTRAL, max_size=5), st.text(ANY, max_size=20))
PUNCT = st.sampled_from(["。", "！", "？", ". ", "，", "\n", "”", ""])


@st.composite
def corpus_text(draw: st.DrawFn, max_pieces: int = 12) -> str:
    """Draw paragraph text: nasty pieces, sentences, and sometimes a very long repeated run."""
    pieces = draw(st.lists(st.tuples(PIECE, PUNCT), max_size=max_pieces))
    body = "".join(a + b for a, b in pieces)
    if draw(st.integers(0, 4)) == 0:
        body *= draw(st.integers(1, 400))
    return body


URLS = st.one_of(
    st.none(),
    st.just(URL),
    st.builds(lambda s: "https://example.com/" + s, st.text(ANY, max_size=30)),
    st.text(ANY, max_size=40),
    st.sampled_from(["javascript:alert(1)", 'http://a.com/"><script>', "http://a.com/?q=<&>"]),
)
OPT_TEXT = st.one_of(st.none(), st.text(ANY, max_size=40), st.just("2024-01-02T10:00:00+08:00"))


@st.composite
def hits(draw: st.DrawFn, passage_id: int) -> Hit:
    body = draw(corpus_text())
    spans = draw(st.lists(st.tuples(st.integers(0, len(body)), st.integers(0, len(body))), max_size=4))
    sources = draw(
        st.lists(
            st.builds(Source, st.text(ANY, max_size=10), st.text(ANY, max_size=60), OPT_TEXT, URLS, OPT_TEXT),
            max_size=7,
        )
    )
    return Hit(
        passage_id=passage_id,
        text=body,
        doc=draw(st.text(ANY, max_size=30)),
        ordinal=0,
        title=draw(st.text(ANY, max_size=300)),
        outlet=draw(OPT_TEXT),
        url=draw(URLS),
        date=draw(OPT_TEXT),
        score=0.5,
        highlight=tuple((min(a, b), max(a, b)) for a, b in spans),
        also_in=tuple(sources),
    )


@st.composite
def answers(draw: st.DrawFn) -> Answer:
    n = draw(st.integers(0, 3))
    found = tuple(draw(hits(i + 1)) for i in range(n))
    nearest = draw(
        st.lists(
            st.builds(
                Headline, st.text(ANY, max_size=20), st.text(ANY, max_size=300), OPT_TEXT, URLS, OPT_TEXT
            ),
            max_size=5,
        )
    )
    question = draw(st.text(ANY, max_size=300))
    return Answer(question, draw(st.booleans()) and n > 0, found, tuple(nearest))


BUTTON_DATA = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=64)
LANG = st.sampled_from(LANGUAGES)
PROPERTY = settings(
    max_examples=int(os.environ.get("QUOTEBOT_PROPERTY_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY
@given(answers(), LANG, st.one_of(st.none(), BUTTON_DATA), st.lists(BUTTON_DATA, max_size=3))
def test_every_answer_message_is_valid_fits_and_quotes_verbatim(
    answer: Answer, lang: Lang, more: str | None, contexts: list[str]
) -> None:
    replies = render_answer(answer, lang, more_data=more, context_data=contexts)
    assert replies
    messages = [r.html for r in replies]
    for message in messages:
        assert len(sent(message)) <= 4096
        assert len(message.encode()) <= 32768
    assert all(r.buttons == () for r in replies[:-1])
    if answer.answered:
        data = [b.data for row in replies[-1].buttons for b in row]
        expected = list(contexts[: len(answer.hits)]) + ([more] if more is not None else [])
        assert data == expected  # buttons keep exactly the data they were given
        assert len(replies) <= len(answer.hits)  # at most one message per quote
        # The excerpts, verbatim and in order; only a piece Telegram would refuse as empty may drop out.
        parts = [excerpt(h.text, h.highlight) for h in answer.hits]
        assert drops_only_invisible(quoted(messages), "".join(part.marked(part.text) for part in parts))
        for h, part in zip(answer.hits, parts, strict=True):
            assert part.text in h.text and len(part.text) <= QUOTE_MAX_CHARS
            if len(h.text) <= QUOTE_MAX_CHARS:  # a quote this short is never cut
                assert h.text in quoted(messages)
    else:
        assert "<blockquote" not in "".join(messages)


@PROPERTY
@given(answers(), LANG)
def test_every_inline_and_terminal_rendering_is_valid(answer: Answer, lang: Lang) -> None:
    for item in render_inline(answer, lang):
        assert len(sent(item.html)) <= 4096
        assert 1 <= len(item.id.encode()) <= 64
        assert item.title
    out = render_terminal(answer, lang)
    assert "\x1b" not in out
    if answer.answered:
        plain = out.replace("**", "")
        for h in answer.hits:
            shown = excerpt(h.text, h.highlight).text
            if not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", shown) and "**" not in shown:
                assert shown.replace("\n", "\n    ") in plain


@PROPERTY
@given(st.lists(corpus_text(), min_size=1, max_size=5), st.integers(0, 4), LANG)
def test_every_context_message_is_valid_and_quotes_the_focus_verbatim(
    bodies: list[str], focus: int, lang: Lang
) -> None:
    passages = [passage(i, body, i) for i, body in enumerate(bodies)]
    focus_id = focus % len(passages)
    messages = [r.html for r in render_context(passages, focus_id, lang)]
    for message in messages:
        assert len(sent(message)) <= 4096
    assert len(messages) <= 2
    part = excerpt(passages[focus_id].text)
    assert drops_only_invisible(quoted(messages), part.marked(part.text))


@PROPERTY
@given(st.text(ANY, max_size=9000) | corpus_text(), st.integers(1, 4096))
def test_split_message_of_escaped_text_is_valid_and_loses_only_blank_edges(source: str, limit: int) -> None:
    html_text = f"<b>{html.escape(source, quote=False)}</b>\n\n<blockquote>{html.escape(source)}</blockquote>"
    chunks = split_message(html_text, limit)
    for chunk in chunks:
        assert len(parse_telegram_html(chunk)[0]) <= limit
        sent(chunk)
    # A piece Telegram would refuse as empty (only invisible characters) is the one thing dropped.
    assert drops_only_invisible(quoted(chunks), source)
    assert invisible_free(quoted(chunks)) == invisible_free(source)


@PROPERTY
@given(
    st.builds(
        ReindexReport,
        st.integers(0, 10**6),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
        st.integers(0, 10**6),
        st.lists(st.builds(Failure, st.text(ANY, max_size=300), st.text(ANY, max_size=600)), max_size=40).map(
            tuple
        ),
        st.integers(0, 10**7),
        st.floats(0, 10**6),
        st.booleans(),
        st.lists(st.builds(Failure, st.text(ANY, max_size=300), st.text(ANY, max_size=600)), max_size=20).map(
            tuple
        ),
    ),
    st.builds(
        Status,
        model=st.one_of(st.none(), st.text(ANY, max_size=400)),
        last_reindex=st.one_of(
            st.none(), st.builds(LastReindex, st.text(ANY, max_size=400), st.text(ANY, max_size=400))
        ),
        questions=st.one_of(st.none(), st.integers(0, 10**9)),
        extra=st.dictionaries(st.text(ANY, max_size=30), st.text(ANY, max_size=400), max_size=8).map(
            lambda d: tuple(d.items())
        ),
    ),
    LANG,
)
def test_every_admin_message_is_valid(report: ReindexReport, status: Status, lang: Lang) -> None:
    assert len(sent(render_report(report, lang))) <= 4096
    assert len(sent(render_status(status, lang))) <= 4096
    progress = ReindexProgress("embed", 5, 10, 2, report.added, report.passages, report.seconds)
    assert len(sent(render_progress(progress, lang))) <= 4096


@PROPERTY
@given(
    st.builds(
        IndexStats,
        st.integers(0, 10**7),
        st.integers(0, 10**8),
        OPT_TEXT,
        OPT_TEXT,
        st.text(ANY, max_size=200),
        st.text(ANY, max_size=50),
        st.text(ANY, max_size=20),
    ),
    st.lists(st.text(ANY, max_size=300), max_size=3),
    LANG,
    st.booleans(),
)
def test_every_greeting_and_help_is_valid(
    stats: IndexStats, examples: list[str], lang: Lang, admin: bool
) -> None:
    greeting = sent(render_start(stats, examples, lang))
    assert len(greeting) <= 4096
    assert str(stats.articles) in greeting or not stats.articles
    assert len(sent(render_help(lang, is_admin=admin))) <= 4096


def test_a_passage_of_a_million_characters_is_one_bounded_message_everywhere() -> None:
    sentences = [f"第{i}句说明台风登陆后的情况。" for i in range(100_000)]
    body = "".join(sentences)  # about 1.4 million characters: a passage indexed before the corpus cut
    start = body.index(sentences[54_321])
    giant = hit(body=body, highlight=((start, start + len(sentences[54_321])),))
    replies = render_answer(Answer("q", True, (giant,)), "zh-hans", context_data=["c:1"])
    assert len(replies) == 1 and sentences[54_321] in sent(replies[0].html)
    (item,) = render_inline(Answer("q", True, (giant,)), "zh-hans")
    assert sentences[54_321] in sent(item.html)
    context = render_context([passage(0, body, 0), passage(1, body, 1), passage(2, body, 2)], 1, "en")
    assert len(context) == 1 and len(sent(context[0].html)) <= 3 * (QUOTE_MAX_CHARS + 2) + 200
    terminal = render_terminal(Answer("q", True, (giant,)), "en")
    assert f"**{sentences[54_321]}**" in terminal and len(terminal) < QUOTE_MAX_CHARS + 300
    assert len(render_terminal_context([passage(0, body, 0)], 0, "en")) < QUOTE_MAX_CHARS + 200


def test_a_title_of_control_characters_alone_is_not_shown_as_the_title() -> None:
    # Found by the property above: an empty quote under a title "\x1b" was a message Telegram rejects.
    hit = Hit(1, "", "news/a.html", 0, "\x1b", None, None, None, 0.5, (), ())
    answer = Answer("问题", True, (hit,), (), False)
    for item in render_inline(answer, "zh-hans"):
        sent(item.html)  # raises on a message Telegram would refuse
        assert item.title == "news/a.html"

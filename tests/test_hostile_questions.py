"""Hostile questions and button floods: every one gets a refusal or an answer, valid and within limits."""

from __future__ import annotations

import sys
import unicodedata

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import i18n
from bot.render.answers import render_answer, render_not_found
from bot.render.reply import Reply
from bot.render.terminal import render_terminal
from embeddings.errors import BadQuestion
from embeddings.models import Answer, Hit
from embeddings.rank import check_question
from tests.bot_support import (
    MORE_QUESTION,
    QUESTION,
    BuiltIndex,
    bot_settings,
    running_bot,
)
from tests.telegram_html import parse_telegram_html
from tests.telegram_server import BotApiServer, Call

LIMIT = 4096
# One character of each Unicode general category (Cn: an unassigned code point). Lone surrogates (Cs)
# cannot travel in a Bot API update (Telegram sends UTF-8), so only the property below draws them.
CATEGORIES = "Lu Ll Lt Lm Lo Mn Mc Me Nd Nl No Pc Pd Ps Pe Pi Pf Po Sm Sc Sk So Zs Zl Zp Cc Cf Co Cn"
CATEGORY_SAMPLES = {
    cat: next(chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == cat)
    for cat in CATEGORIES.split()
}
SURROGATES = st.sampled_from("\ud800\udbff\udc00\udfff")
HOSTILE = {
    **{f"category {cat}": f"台北101{ch}是誰主持的{ch}？" for cat, ch in CATEGORY_SAMPLES.items()},
    "only marks": "\u0301\u0302\u0303",
    "rtl marks": "\u200f\u202e台北101的動土儀式是誰主持的？\u202c",
    "arabic rtl": "من افتتح برج تايبيه 101؟",
    "zero width": "台\u200b北\u200d1\u200c0\ufeff1的動土儀式是誰主持的？",
    "only zero width": "\u200b\u200c\u200d\ufeff",
    "4096 bytes": "台北101的動土儀式是誰主持的？" * 91 + "問",  # 4,096 UTF-8 bytes
    "4096 characters": "問" * 4096,
    "html": "<b>台北101</b> &amp; <script>alert(1)</script>",
    "emoji": "🏙️👷‍♂️❓",
}


def valid(html: str) -> str:
    """Return what Telegram shows of html, failing unless it is valid Telegram HTML within the limit."""
    shown, _ = parse_telegram_html(html)
    assert 0 < len(shown.encode("utf-16-le", "surrogatepass")) // 2 <= LIMIT
    return shown


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(st.characters() | SURROGATES, max_size=5000), st.sampled_from(i18n.LANGUAGES))
def test_any_question_string_gets_a_refusal_or_a_valid_reply(question: str, lang: i18n.Lang) -> None:
    try:
        checked = check_question(question)
    except BadQuestion:
        valid(i18n.text(lang, "usage_question"))
        return
    assert 0 < len(checked) <= 1000
    for reply in render_not_found(Answer(checked, False), lang):
        valid(reply.html)
    hit = Hit(1, checked, "d.html", 0, checked, checked, None, checked, 0.9, ((0, len(checked)),))
    replies = render_answer(Answer(checked, True, (hit,)), lang, context_data=["c:1"])
    assert len(replies) == 1 and all(isinstance(r, Reply) for r in replies)
    valid(replies[0].html)
    assert "\x1b" not in render_terminal(Answer(checked, True, (hit,)), lang)


# --- over HTTP: the real Application, model and index ---------------------------------------------


async def _replies(server: BotApiServer, chat_id: int, since: int) -> list[Call]:
    return await server.wait_for_async(
        "sendMessage", lambda c: c.params.get("chat_id") == chat_id, timeout=60, since=since
    )


@pytest.mark.slow
async def test_hostile_questions_each_get_a_valid_refusal_or_answer(
    server: BotApiServer, built: BuiltIndex
) -> None:
    apology = {i18n.text(lang, "error") for lang in i18n.LANGUAGES}
    async with running_bot(bot_settings(built, server.url)):
        for user, (name, question) in enumerate(HOSTILE.items(), 500):
            since = len(server.calls())
            server.add_text(question, user_id=user)
            try:
                (reply, *_) = await _replies(server, user, since)
            except TimeoutError as exc:
                raise AssertionError(f"no reply to the {name} question") from exc
            text = reply.result["text"]
            assert text not in apology, name  # no crash on the way
            assert len(text) <= LIMIT, name  # the server also refused anything invalid
        since = len(server.calls())
        server.add_text(QUESTION, user_id=499)
        (after,) = await _replies(server, 499, since)
    assert "陳水扁" in after.result["text"]  # still answering


@pytest.mark.slow
async def test_a_flood_of_button_presses_on_stale_messages_is_bounded(
    server: BotApiServer, built: BuiltIndex
) -> None:
    user, presses = 700, 60
    async with running_bot(bot_settings(built, server.url, top_k=1, questions_per_minute=5)):
        since = len(server.calls())
        server.add_text(MORE_QUESTION, user_id=user)
        (first,) = await _replies(server, user, since)
        rows = first.result["reply_markup"]["inline_keyboard"]
        real = [b["callback_data"] for row in rows for b in row]
        stale = ["m:unknownkey00000", "c:zzzzzzzzzzzzz", "q:gone", "x", "c:-1", "m:", ""]
        since = len(server.calls())
        queries = [
            server.press_button(
                first.result["message_id"],
                (real + stale)[n % (len(real) + len(stale))],
                user_id=user,
                strict=False,
            )
            for n in range(presses)
        ]
        await server.wait_for_async("answerCallbackQuery", timeout=120, count=presses, since=since)
        sent = [c for c in server.calls("sendMessage")[0:] if c.params.get("chat_id") == user]
        since_again = len(server.calls())
        server.add_text(QUESTION, user_id=701)
        (other,) = await _replies(server, 701, since_again)
    assert all(server.callback_answer(q) is not None for q in queries)  # every press answered
    answers = [c for c in server.calls("answerCallbackQuery") if c.params.get("callback_query_id") in queries]
    assert len(answers) == presses  # exactly once each
    # The first answer, then at most the limit's worth of results; the rest only get a toast.
    assert len(sent) <= 1 + 4 + 1, [c.result["text"][:40] for c in sent]
    assert "陳水扁" in other.result["text"]

"""Limits through the real bot: inline queries count against the per-user limit, once per query typed."""

from __future__ import annotations

import pytest

from bot import i18n
from bot.telegram import handlers
from tests.bot_support import QUESTION, BuiltIndex, bot_settings, running_bot, settle
from tests.telegram_server import BotApiServer

pytestmark = pytest.mark.slow


async def test_keystrokes_are_one_question(
    server: BotApiServer, built: BuiltIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(handlers, "INLINE_SETTLE", 2.0)  # generous: the machine may be busy
    async with running_bot(bot_settings(built, server.url)) as app:
        state = app.bot_data.runtime.state
        before = state.counter("questions")  # the session's index (and its state file) is shared
        typed = [server.add_inline_query(QUESTION[:n], user_id=41) for n in (2, 4, 6, len(QUESTION))]
        await server.wait_for_async("answerInlineQuery", timeout=60)
        await settle(2.5)
        answers = [server.inline_answer(q) for q in typed]
        assert answers[:3] == [None, None, None]  # typed past: never searched nor answered
        assert answers[3] is not None and answers[3]["results"]
        assert state.counter("questions") == before + 1
        assert app.bot_data.runtime.limiter.tracked() == 1  # the window of user 41, nothing in flight


async def test_inline_queries_count_against_the_per_user_limit(
    server: BotApiServer, built: BuiltIndex
) -> None:
    async with running_bot(bot_settings(built, server.url, questions_per_minute=2)):
        results = []
        for n in range(3):
            since = len(server.calls())
            query = server.add_inline_query(f"{QUESTION} {n}", user_id=42)
            await server.wait_for_async("answerInlineQuery", since=since, timeout=60)
            answer = server.inline_answer(query)
            assert answer is not None
            results.append(answer)
        assert [bool(a["results"]) for a in results] == [True, True, False]
        assert results[2].get("is_personal") is True and results[2].get("cache_time") == 0
        since = len(server.calls())
        server.add_text(QUESTION, user_id=42, language_code="en")  # the same budget as messages
        [limited] = await server.wait_for_async("sendMessage", since=since, timeout=60)
        assert limited.result["text"].startswith(i18n.text("en", "rate_limited", seconds=0)[:18])

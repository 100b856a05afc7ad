"""The real PTB Application over real HTTP against the test Bot API server, with a real model and index."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from typing import Any

import pytest

from bot import i18n
from bot.render.welcome import render_help
from bot.telegram.app import USER_COMMANDS, webhook_options
from bot.telegram.links import encode_start_payload
from tests.bot_support import (
    BOT_NAME,
    LATER_QUESTION,
    MORE_QUESTION,
    QUESTION,
    QUESTION_ANSWER,
    TOKEN,
    BuiltIndex,
    bot_settings,
    private_copy,
    running_bot,
    settle,
)
from tests.telegram_html import parse_telegram_html
from tests.telegram_server import BotApiServer, Call

pytestmark = pytest.mark.slow
GROUP = -100123


def entity_types(call: Call) -> set[str]:
    return {e["type"] for e in call.result.get("entities", [])}


def button_data(call: Call) -> list[str]:
    rows = (call.result.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row if "callback_data" in b]


async def sent(
    server: BotApiServer, chat_id: int, since: int, count: int = 1, timeout: float = 60
) -> list[Call]:
    """Wait for the bot's sendMessage calls to a chat made after call index `since`."""
    return await server.wait_for_async(
        "sendMessage", lambda c: c.params.get("chat_id") == chat_id, timeout=timeout, count=count, since=since
    )


async def ask(server: BotApiServer, text: str, *, user_id: int, **kwargs: Any) -> list[Call]:
    """Send a private text and return the bot's first reply (as a one-element list)."""
    since = len(server.calls())
    server.add_text(text, user_id=user_id, **kwargs)
    return await sent(server, kwargs.get("chat_id", user_id), since)


async def test_question_answered_with_quotes_and_sources(
    server: BotApiServer, bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        (reply,) = await ask(server, QUESTION, user_id=11)
    text = reply.result["text"]
    assert QUESTION_ANSWER in text
    assert "台北101" in text  # the source's title
    assert entity_types(reply) & {"blockquote", "expandable_blockquote"}
    assert "bold" in entity_types(reply)  # the highlighted sentence
    data = button_data(reply)
    # "more" appears only when further quotable passages exist (see the restart test).
    assert any(d.startswith("c:") for d in data)
    assert all(len(d.encode()) <= 64 for d in data)
    assert "typing" in server.chat_actions(11)
    assert TOKEN not in caplog.text and TOKEN.split(":")[1] not in caplog.text


async def test_not_found_quotes_nothing(server: BotApiServer, bot: Any) -> None:
    (reply,) = await ask(server, LATER_QUESTION, user_id=12)
    assert not entity_types(reply) & {"blockquote", "expandable_blockquote"}
    assert not any(d.startswith("c:") for d in button_data(reply))
    assert "1936" not in reply.result["text"]


async def test_more_and_context_buttons_survive_a_restart(server: BotApiServer, built: BuiltIndex) -> None:
    settings = bot_settings(built, server.url, top_k=1)  # the second relevant quote goes to "more"
    async with running_bot(settings):
        (first,) = await ask(server, MORE_QUESTION, user_id=13)
    more = next(d for d in button_data(first) if d.startswith("m:"))
    context = next(d for d in button_data(first) if d.startswith("c:"))
    async with running_bot(settings):  # a new process: only SQLite remembers the button
        since = len(server.calls())
        query = server.press_button(first.result["message_id"], more, user_id=13)
        (page2,) = await sent(server, 13, since)
        assert server.callback_answer(query) is not None
        assert page2.result["text"] != first.result["text"]
        assert entity_types(page2) & {"blockquote", "expandable_blockquote"}

        since = len(server.calls())
        query = server.press_button(first.result["message_id"], context, user_id=13)
        (around,) = await sent(server, 13, since)
        assert server.callback_answer(query) is not None
        assert "台北101" in around.result["text"] or QUESTION_ANSWER in around.result["text"]

        since = len(server.calls())
        stale = server.press_button(first.result["message_id"], "m:unknownkey00000", user_id=13, strict=False)
        await server.wait_for_async("answerCallbackQuery", since=since)
        answer = server.callback_answer(stale)
        assert answer is not None and answer.get("text") == i18n.text("zh-hans", "stale")


async def test_buttons_pressed_too_long_ago_still_get_their_result(built: BuiltIndex) -> None:
    # A press queued while the bot was down arrives too old to answer; its result is still owed.
    with BotApiServer(token=TOKEN, username=BOT_NAME, callback_query_ttl=0.0) as server:
        async with running_bot(bot_settings(built, server.url, top_k=1)):
            (first,) = await ask(server, MORE_QUESTION, user_id=19)
            for data in button_data(first):
                since = len(server.calls())
                query = server.press_button(first.result["message_id"], data, user_id=19)
                (reply,) = await sent(server, 19, since)
                assert entity_types(reply) & {"blockquote", "expandable_blockquote"}
                assert server.callback_answer(query) is None  # Telegram refused the late answer


async def test_deep_link_asks_its_question(server: BotApiServer, bot: Any) -> None:
    payload = encode_start_payload(QUESTION)
    assert payload is not None
    (reply,) = await ask(server, f"/start {payload}", user_id=14)
    assert QUESTION_ANSWER in reply.result["text"]


async def test_start_greets_with_examples_that_are_answered(server: BotApiServer, bot: Any) -> None:
    (greeting,) = await ask(server, "/start", user_id=15)
    assert "4" in greeting.result["text"]  # four articles
    examples = [d for d in button_data(greeting) if d.startswith("q:")]
    assert len(examples) == 3
    since = len(server.calls())
    server.press_button(greeting.result["message_id"], examples[0], user_id=15)
    (reply,) = await sent(server, 15, since)
    assert entity_types(reply) & {"blockquote", "expandable_blockquote"}


async def test_groups_answer_only_when_addressed(server: BotApiServer, bot: Any) -> None:
    kwargs: dict[str, Any] = {"user_id": 16, "chat_id": GROUP, "chat_type": "supergroup", "title": "news"}
    server.add_text(QUESTION, **kwargs)
    await settle(3.0)
    assert not [c for c in server.calls("sendMessage") if c.params.get("chat_id") == GROUP]

    (mentioned,) = await ask(server, f"@{BOT_NAME} {QUESTION}", **kwargs)
    assert QUESTION_ANSWER in mentioned.result["text"]
    assert mentioned.result["reply_to_message"]["from"]["id"] == 16

    since = len(server.calls())
    server.add_text(QUESTION, reply_to_message_id=mentioned.result["message_id"], **kwargs)
    (replied,) = await sent(server, GROUP, since)
    assert QUESTION_ANSWER in replied.result["text"]

    (asked,) = await ask(server, f"/ask@{BOT_NAME} {QUESTION}", **kwargs)
    assert QUESTION_ANSWER in asked.result["text"]


async def test_inline_mode_offers_quotes(server: BotApiServer, bot: Any) -> None:
    since = len(server.calls())
    query = server.add_inline_query(QUESTION, user_id=17)
    await server.wait_for_async("answerInlineQuery", since=since, timeout=60)
    answer = server.inline_answer(query)
    assert answer is not None
    results = answer["results"]
    assert 1 <= len(results) <= 50
    html = results[0]["input_message_content"]["message_text"]
    plain, _ = parse_telegram_html(html)
    assert QUESTION_ANSWER in plain


@pytest.mark.parametrize(
    ("language_code", "lang"), [("en", "en"), ("zh-hans", "zh-hans"), ("zh-TW", "zh-hant")]
)
async def test_ui_language_follows_the_user(
    server: BotApiServer, bot: Any, language_code: str, lang: i18n.Lang
) -> None:
    (reply,) = await ask(server, "/help", user_id=18, language_code=language_code)
    expected, _ = parse_telegram_html(render_help(lang, is_admin=False))
    assert reply.result["text"] == expected.strip()
    others = [x for x in i18n.LANGUAGES if x != lang]
    for other in others:
        assert parse_telegram_html(render_help(other, is_admin=False))[0] != expected


async def test_missing_index_gets_a_short_apology(server: BotApiServer, tmp_path: Path) -> None:
    empty = BuiltIndex(tmp_path / "corpus", tmp_path / "index")
    async with running_bot(bot_settings(empty, server.url)):
        (reply,) = await ask(server, QUESTION, user_id=21)
    assert reply.result["text"] == i18n.text("zh-hans", "index_missing")


async def test_long_polling_starts_and_stops_cleanly(server: BotApiServer, built: BuiltIndex) -> None:
    async with running_bot(bot_settings(built, server.url)):
        await ask(server, "/help", user_id=22)
    methods = [c.method for c in server.calls()]
    assert methods.index("getMe") < methods.index("getUpdates")
    assert "deleteWebhook" in methods
    assert server.pending_updates() == []  # the last update was confirmed on the way out
    assert [c["command"] for c in server.commands()] == [name for name, _ in USER_COMMANDS]
    assert "reindex" not in [c["command"] for c in server.menu(22)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_webhook_mode_checks_the_secret(server: BotApiServer, built: BuiltIndex) -> None:
    port = free_port()
    settings = bot_settings(
        built,
        server.url,
        webhook_url=f"http://127.0.0.1:{port}/quotebot-hook",
        webhook_listen="127.0.0.1",
        webhook_port=port,
        webhook_secret="s3cret-token",
    )
    options = webhook_options(settings)
    assert options["url_path"] == "quotebot-hook" and options["secret_token"] == "s3cret-token"
    async with running_bot(settings, webhook=options):
        (reply,) = await ask(server, QUESTION, user_id=23)
        assert QUESTION_ANSWER in reply.result["text"]
        import httpx

        async with httpx.AsyncClient() as client:
            forged = await client.post(
                f"http://127.0.0.1:{port}/quotebot-hook",
                json={"update_id": 1, "message": {}},
                headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"},
            )
        assert forged.status_code == 403
    deliveries = server.deliveries()
    assert deliveries and all(d.secret_token == "s3cret-token" for d in deliveries)
    assert deliveries[-1].status == 200


async def test_per_user_rate_limit(server: BotApiServer, built: BuiltIndex) -> None:
    async with running_bot(bot_settings(built, server.url, questions_per_minute=2)):
        for _ in range(2):
            (reply,) = await ask(server, QUESTION, user_id=24)
            assert QUESTION_ANSWER in reply.result["text"]
        (limited,) = await ask(server, QUESTION, user_id=24, language_code="en")
        assert limited.result["text"].startswith("Too many questions")
        since = len(server.calls())
        server.add_text(QUESTION, user_id=24)  # still limited: told once already, so silence
        await settle(1.5)
        assert not [c for c in server.calls()[since:] if c.method == "sendMessage"]
        (other,) = await ask(server, QUESTION, user_id=25)  # other users are not held back
        assert QUESTION_ANSWER in other.result["text"]


async def test_broken_index_gets_an_apology_and_a_log_without_user_text(
    server: BotApiServer, built: BuiltIndex, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = private_copy(built, tmp_path)
    (segment,) = (broken.index_dir / "current").glob("seg-*.passages.jsonl")  # private_copy: not linked
    segment.unlink()  # a new file, not a write through a hard link into another generation
    segment.write_text("{not json\n", encoding="utf-8")
    with caplog.at_level(logging.INFO):
        async with running_bot(bot_settings(broken, server.url)):
            (reply,) = await ask(server, QUESTION, user_id=26)
    assert reply.result["text"] == i18n.text("zh-hans", "error")
    failures = [r for r in caplog.records if r.levelno >= logging.ERROR and "26" in r.getMessage()]
    assert failures, "the failure is logged with its chat"
    assert QUESTION not in caplog.text  # user text only at DEBUG


async def test_typing_is_renewed_during_long_work(
    server: BotApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    import asyncio

    from telegram import Bot

    from bot.telegram import sending

    monkeypatch.setattr(sending, "TYPING_EVERY", 0.05)
    server.add_chat(27)
    telegram_bot = Bot(TOKEN, base_url=server.base_url)
    async with telegram_bot, sending.typing_action(telegram_bot, 27):
        await asyncio.sleep(0.5)
    count = len(server.chat_actions(27))
    await asyncio.sleep(0.2)
    assert count >= 3 and set(server.chat_actions(27)) == {"typing"}
    assert len(server.chat_actions(27)) == count  # stopped when the work ended


async def test_typing_ends_without_cancelling_a_chat_action_in_flight(server: BotApiServer) -> None:
    import asyncio

    from telegram import Bot

    from bot.telegram import sending

    server.add_chat(28)
    server.inject_fault("sendChatAction", "slow", delay=0.5)  # held by the server past the block's end
    telegram_bot = Bot(TOKEN, base_url=server.base_url)
    async with telegram_bot:
        async with sending.typing_action(telegram_bot, 28):
            await asyncio.sleep(0.1)
        (in_flight,) = sending._FINISHING
        await asyncio.wait_for(in_flight, 5)
        assert not in_flight.cancelled()  # a cancelled request can cost httpcore a pool connection
        assert server.chat_actions(28) == ["typing"]  # and no renewal after the block ended
        assert not sending._FINISHING

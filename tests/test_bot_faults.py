"""Faults on the way to Telegram: each answer arrives once, or the failure is logged and apologised once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import pytest

from bot import i18n
from bot.telegram.delivery import MAX_SENDS
from tests.bot_support import (
    QUESTION,
    QUESTION_ANSWER,
    settle,
)
from tests.telegram_server import BotApiServer

pytestmark = pytest.mark.slow
APOLOGY = i18n.text("zh-hans", "send_failed")  # a send that failed on the way (it may have arrived)
SORRY = i18n.text("zh-hans", "error")  # any other failure, a flood that outlasts the budget too


def texts(server: BotApiServer, chat_id: int) -> list[str]:
    """Return the texts of the bot's messages in a chat, oldest first."""
    return [m["text"] for m in server.chat_messages(chat_id)]


def sends(server: BotApiServer) -> list[int]:
    """Return the status of every sendMessage the server saw (each test has its own server)."""
    return [c.status for c in server.calls("sendMessage")]


async def ask_until(server: BotApiServer, chat_id: int, done: Callable[[list[str]], bool]) -> list[str]:
    """Ask QUESTION as chat_id, wait until the chat's messages satisfy done, then a little longer."""
    server.add_text(QUESTION, user_id=chat_id)
    for _ in range(1200):
        if done(texts(server, chat_id)):
            await settle(1.5)  # anything sent twice would show up here
            return texts(server, chat_id)
        await asyncio.sleep(0.05)
    raise AssertionError(f"chat {chat_id} got {texts(server, chat_id)}")


def answered(messages: list[str]) -> bool:
    return any(QUESTION_ANSWER in m for m in messages)


def apologised(messages: list[str]) -> bool:
    return APOLOGY in messages


def logged_with_context(caplog: pytest.LogCaptureFixture, chat_id: int) -> bool:
    """Tell whether the failure was logged at ERROR with its chat, and the failed call by name."""
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    named = any("sendMessage" in r.getMessage() and str(chat_id) in r.getMessage() for r in records)
    errors = any(r.levelno >= logging.ERROR and f"chat {chat_id}" in r.getMessage() for r in records)
    return named and errors


async def test_429_is_waited_out_and_the_answer_arrives_once(server: BotApiServer, bot: Any) -> None:
    server.inject_fault("sendMessage", "429", retry_after=1)
    messages = await ask_until(server, 31, answered)
    assert len(messages) == 1 and QUESTION_ANSWER in messages[0]
    assert sends(server) == [429, 200]


async def test_a_flood_that_outlasts_the_budget_costs_max_sends_then_one_apology(
    server: BotApiServer, bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server.inject_fault("sendMessage", "429", retry_after=1, times=MAX_SENDS)
    messages = await ask_until(server, 32, lambda m: SORRY in m)
    assert messages == [SORRY]
    # One budget of sends for the answer: the rate limiter's retries are not nested in other attempts.
    assert sends(server) == [429] * MAX_SENDS + [200]
    assert logged_with_context(caplog, 32)


async def test_a_500_is_not_resent_and_gets_one_apology(
    server: BotApiServer, bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server.inject_fault("sendMessage", "500")
    messages = await ask_until(server, 33, apologised)
    assert messages == [APOLOGY]
    assert sends(server) == [500, 200]
    assert logged_with_context(caplog, 33)


@pytest.mark.parametrize("kind", ["drop_unread", "drop"])
async def test_a_connection_dropped_before_the_send_gets_one_apology(
    server: BotApiServer, bot: Any, caplog: pytest.LogCaptureFixture, kind: Any
) -> None:
    chat = 34 if kind == "drop" else 35
    server.inject_fault("sendMessage", kind)
    messages = await ask_until(server, chat, apologised)
    # The bot cannot tell this from a drop after the send, so it does not resend: it apologises.
    assert messages == [APOLOGY]
    assert sends(server) == [0, 200]
    assert logged_with_context(caplog, chat)


async def test_a_connection_dropped_after_the_send_never_duplicates_the_answer(
    server: BotApiServer, bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server.inject_fault("sendMessage", "drop_after")
    messages = await ask_until(server, 36, apologised)
    assert len(messages) == 2 and QUESTION_ANSWER in messages[0] and messages[1] == APOLOGY
    assert logged_with_context(caplog, 36)


async def test_an_answer_slower_than_the_read_timeout_is_not_resent(
    server: BotApiServer, bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server.inject_fault("sendMessage", "slow", delay=7.0)  # PTB's read timeout is 5 s
    messages = await ask_until(server, 37, apologised)
    assert len(messages) == 2 and QUESTION_ANSWER in messages[0] and messages[1] == APOLOGY
    assert len(sends(server)) == 2
    assert logged_with_context(caplog, 37)


async def test_a_refused_connection_is_retried_and_the_answer_arrives_once(
    server: BotApiServer, bot: Any, caplog: pytest.LogCaptureFixture
) -> None:
    server.go_offline_after_next_update()  # the bot gets the question, then cannot connect
    server.add_text(QUESTION, user_id=38)
    for _ in range(1200):
        refused = [r for r in caplog.records if "sendMessage" in r.getMessage() and "retry" in r.getMessage()]
        if refused:
            break
        await asyncio.sleep(0.05)
    assert refused, "the refused send was logged as retried"
    server.go_online()
    await server.wait_for_async("sendMessage", lambda c: c.params.get("chat_id") == 38, timeout=60)
    await settle(1.5)
    messages = texts(server, 38)
    assert len(messages) == 1 and QUESTION_ANSWER in messages[0]
    assert sends(server) == [200]  # refused attempts never reached the server

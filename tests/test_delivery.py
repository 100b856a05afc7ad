"""Which failed requests may go again, and when "typing" gives way to answers."""

from __future__ import annotations

import httpx
import pytest
from telegram.error import BadRequest, NetworkError, TimedOut

from bot.telegram.delivery import DeliveryLimiter, may_resend, never_sent


def wrapped(error: NetworkError, cause: Exception) -> NetworkError:
    """Return a PTB error raised from an httpx one, as PTB's HTTPXRequest raises it."""
    try:
        raise error from cause
    except NetworkError as raised:
        return raised


REQUEST = httpx.Request("POST", "http://127.0.0.1/bot1:x/sendMessage")
UNSENT = [httpx.ConnectError("refused", request=REQUEST), httpx.ConnectTimeout("slow", request=REQUEST)]
MAYBE_SENT = [
    wrapped(NetworkError("httpx.ReadError"), httpx.ReadError("reset", request=REQUEST)),
    wrapped(NetworkError("httpx.RemoteProtocolError"), httpx.RemoteProtocolError("eof", request=REQUEST)),
    wrapped(NetworkError("httpx.WriteError"), httpx.WriteError("pipe", request=REQUEST)),
    wrapped(TimedOut(), httpx.ReadTimeout("late", request=REQUEST)),
    NetworkError("Internal Server Error (500)"),  # an answer: the request reached the server
]


@pytest.mark.parametrize("cause", UNSENT, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("endpoint", ["sendMessage", "sendDocument", "editMessageText"])
def test_a_request_that_never_left_may_go_again(cause: Exception, endpoint: str) -> None:
    error = wrapped(NetworkError(f"httpx.{type(cause).__name__}"), cause)
    assert never_sent(error) and may_resend(endpoint, error)


@pytest.mark.parametrize("error", MAYBE_SENT, ids=lambda e: type(e.__cause__ or e).__name__)
def test_a_send_that_may_have_arrived_is_not_resent(error: NetworkError) -> None:
    assert not never_sent(error)
    assert not may_resend("sendMessage", error) and not may_resend("sendDocument", error)
    assert may_resend("editMessageText", error) and may_resend("answerCallbackQuery", error)


def test_bad_request_is_never_resent() -> None:
    error = wrapped(BadRequest("Message is too long"), httpx.ConnectError("x", request=REQUEST))
    assert not may_resend("getMe", error)


async def test_typing_gives_way_when_half_the_send_budget_is_in_use() -> None:
    limiter = DeliveryLimiter(overall_max_rate=30, overall_time_period=3600)  # leaks too slowly to matter
    base = limiter._base_limiter
    assert base is not None and not limiter.busy()
    for _ in range(int(base.max_rate / 2)):
        await base.acquire()
    assert not limiter.busy()
    await base.acquire()
    assert limiter.busy()

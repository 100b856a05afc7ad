"""Sending to Telegram: one budget of attempts per request, and a resend only when it cannot duplicate."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import httpx
from telegram.error import BadRequest, NetworkError, RetryAfter
from telegram.ext import AIORateLimiter

log = logging.getLogger(__name__)

MAX_SENDS = 5  # attempts per request, whatever made the earlier ones fail
MAX_FLOOD_WAIT = 60.0  # seconds; a longer retry_after fails the request instead of holding its handler
BACKOFF = 0.5  # seconds before the first resend after a network error, doubling each time
# Repeating these changes nothing (an edit or an answer applied twice is refused, not duplicated).
IDEMPOTENT_PREFIXES = ("get", "set", "delete", "answer", "edit", "sendchataction")
# httpx errors raised before a byte of the request went out: Telegram cannot have received it.
UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def never_sent(error: NetworkError) -> bool:
    """Tell whether a failed request provably did not reach the server (PTB wraps httpx's error)."""
    return isinstance(error.__cause__, UNSENT)


def is_idempotent(endpoint: str) -> bool:
    """Tell whether a Bot API method may run twice without a visible duplicate."""
    return endpoint.lower().startswith(IDEMPOTENT_PREFIXES)


def may_resend(endpoint: str, error: NetworkError) -> bool:
    """Tell whether a request that failed on the network may go again (never a maybe-delivered send)."""
    return not isinstance(error, BadRequest) and (never_sent(error) or is_idempotent(endpoint))


def cause_of(error: BaseException) -> str:
    """Return the failure as a log line names it: PTB's error and, when wrapped, httpx's."""
    cause = error.__cause__
    inner = f" ({type(cause).__name__})" if cause is not None else ""
    return f"{type(error).__name__}: {error}{inner}"


def chat_target(data: dict[str, Any]) -> tuple[bool, int | str | bool]:
    """Return (has a chat, the group to throttle at 20/min or False), as AIORateLimiter decides them."""
    chat_id: Any = data.get("chat_id")
    with contextlib.suppress(ValueError, TypeError):
        chat_id = int(chat_id)
    if (isinstance(chat_id, int) and chat_id < 0) or isinstance(chat_id, str):  # groups and channels
        return True, chat_id
    return chat_id is not None, False


class DeliveryLimiter(AIORateLimiter):
    """AIORateLimiter's throttling with one loop of at most MAX_SENDS attempts per request.

    A 429 is waited out (all requests pause, as in AIORateLimiter); a network error is retried only
    when the request never reached the server or repeating it is harmless. A send that may have been
    delivered (read error, timeout, 5xx after the request went out) fails instead of risking a
    duplicate; the handler's error path then apologises once.
    """

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, Any]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: int | None,
    ) -> Any:
        """Run one Bot API request through the limiter, retrying only what is safe."""
        if endpoint.lower() == "getupdates":  # the Updater has its own retry loop
            return await super().process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        if endpoint.lower() == "sendchataction" and self.busy():
            return True  # "typing" is cosmetic: under load the send budget goes to answers
        chat, group = chat_target(data)
        paid = bool(data.get("allow_paid_broadcast", False))
        for attempt in range(1, MAX_SENDS + 1):
            try:
                # AIORateLimiter's own throttled call; its process_request would retry 429s by itself.
                return await self._run_request(chat, group, paid, callback, args, kwargs)
            except RetryAfter as exc:
                await self._after_flood(endpoint, data, attempt, exc)
            except BadRequest as exc:
                if attempt > 1 and endpoint.lower().startswith("edit") and "not modified" in str(exc).lower():
                    return True  # an earlier attempt did land
                raise
            except NetworkError as exc:
                await self._after_network_error(endpoint, data, attempt, exc)
        raise AssertionError("unreachable")

    def busy(self) -> bool:
        """Tell whether more than half of the overall send budget (30/s) is in use."""
        limiter = self._base_limiter
        return limiter is not None and not limiter.has_capacity(limiter.max_rate / 2)

    async def _after_flood(self, endpoint: str, data: dict[str, Any], attempt: int, exc: RetryAfter) -> None:
        """Wait out a 429 (holding every other request too), or re-raise when out of budget."""
        wait = exc._retry_after.total_seconds() + 0.1  # PTB's own (non-deprecated) value
        if attempt == MAX_SENDS or wait > MAX_FLOOD_WAIT:
            log.warning(
                "%s to chat %s gave up after %d send(s): %s",
                endpoint,
                data.get("chat_id"),
                attempt,
                cause_of(exc),
            )
            raise exc
        log.info(
            "%s to chat %s: flood control, retry %d in %.1f s", endpoint, data.get("chat_id"), attempt, wait
        )
        self._retry_after_event.clear()
        try:
            await asyncio.sleep(wait)
        finally:
            self._retry_after_event.set()

    async def _after_network_error(
        self, endpoint: str, data: dict[str, Any], attempt: int, exc: NetworkError
    ) -> None:
        """Back off before a safe resend, or re-raise (a maybe-delivered send is never resent)."""
        chat_id = data.get("chat_id")
        if attempt == MAX_SENDS or not may_resend(endpoint, exc):
            why = "out of attempts" if attempt == MAX_SENDS else "not resent: the server may have received it"
            log.warning(
                "%s to chat %s failed after %d attempt(s), %s: %s",
                endpoint,
                chat_id,
                attempt,
                why,
                cause_of(exc),
            )
            raise exc
        delay = BACKOFF * 2 ** (attempt - 1)
        log.warning(
            "%s to chat %s failed (%s); retry %d in %.1f s", endpoint, chat_id, cause_of(exc), attempt, delay
        )
        await asyncio.sleep(delay)

"""Keeps the bot token out of every log record, whoever logs it."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any


class _TokenRedactor:
    """Log-record factory wrapper that replaces the bot token in every message and traceback."""

    def __init__(self, previous: Callable[..., logging.LogRecord]) -> None:
        self.previous = previous
        self.tokens: set[str] = set()

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: leave it to logging's own error path
            return record
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        for token in self.tokens:
            if token in message:
                message = message.replace(token, "<token>")
                record.msg, record.args = message, None
            if record.exc_text and token in record.exc_text:
                record.exc_text = record.exc_text.replace(token, "<token>")
        return record


def redact_token(token: str) -> None:
    """Make sure the token never appears in any log record, whoever logs it."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _TokenRedactor):
        factory = _TokenRedactor(factory)
        logging.setLogRecordFactory(factory)
    factory.tokens.add(token)

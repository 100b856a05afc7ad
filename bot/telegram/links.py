"""Deep links and button payloads: questions in /start links, passage ids in callback data."""

from __future__ import annotations

import base64
import binascii
import re

START_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what Telegram allows after ?start=


def encode_start_payload(question: str) -> str | None:
    """Return the /start deep-link payload of a question (base64url of UTF-8, unpadded), if it fits."""
    payload = base64.urlsafe_b64encode(question.strip().encode()).decode().rstrip("=")
    return payload if START_PAYLOAD.match(payload) else None


def decode_start_payload(payload: str) -> str | None:
    """Return the question a /start payload carries, or None when it is not one of ours."""
    if not START_PAYLOAD.match(payload):
        return None
    try:
        question = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        question = ""
    if question.strip() and question.isprintable():
        return question.strip()
    # Not base64 of text: a hand-made link like ?start=covid_vaccine is read as words.
    return payload.replace("_", " ").replace("-", " ").strip() or None


def passage_token(passage_id: int) -> str:
    """Return a passage id in base 36 (at most 13 characters for a 63-bit id)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    n, out = passage_id, ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out

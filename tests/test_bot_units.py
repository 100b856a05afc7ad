"""Pure parts of the Telegram app: state, deep-link payloads, rate limit, upload plans, redaction."""

from __future__ import annotations

import io
import logging
import re
import zipfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot import i18n
from bot.config import ConfigError, Settings
from bot.render.admin import render_upload
from bot.state import BotState, button_key
from bot.telegram.app import webhook_options
from bot.telegram.limiter import QuestionLimiter
from bot.telegram.links import decode_start_payload, encode_start_payload, passage_token
from bot.uploads import plan_upload, safe_relpath, save_upload
from tests.telegram_html import parse_telegram_html


def test_state_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    state = BotState(path)
    key = state.remember("台北101於哪一年動工?", 3)
    state.count("questions")
    state.count("questions")
    state.put_fact("last_reindex", {"ok": True, "added": 2})
    state.close()
    again = BotState(path)
    ref = again.recall(key)
    assert ref is not None and (ref.question, ref.offset) == ("台北101於哪一年動工?", 3)
    assert again.counter("questions") == 2
    assert again.fact("last_reindex") == {"ok": True, "added": 2}
    assert again.recall("nonexistent") is None


@given(st.text(min_size=1, max_size=300), st.integers(0, 10_000))
def test_callback_data_fits_64_bytes(question: str, offset: int) -> None:
    key = button_key(question, offset)
    assert len(("m:" + key).encode()) <= 64
    assert re.fullmatch(r"[A-Za-z0-9_-]{16}", key)  # URL-safe, as callback data travels
    assert button_key(question, offset + 1) != key  # "more" pages of one question get their own keys


def test_button_keys_do_not_change_between_versions() -> None:
    # Buttons sent before an upgrade stay in chats; their keys must still find their questions.
    assert button_key("台北101於哪一年動工?", 0) == "h9CZWoDFwnFDIoYB"
    assert button_key("台北101於哪一年動工?", 3) == "JsZZnsRYMRX-Cwb2"


@given(st.integers(0, 2**63 - 1))
def test_passage_token_round_trips_within_64_bytes(passage_id: int) -> None:
    token = passage_token(passage_id)
    assert int(token, 36) == passage_id
    assert len(("c:" + token).encode()) <= 64


@pytest.mark.parametrize("question", ["台北101於哪一年動工?", "Who sang at Super Bowl 50?", "金正恩"])
def test_start_payload_round_trips(question: str) -> None:
    payload = encode_start_payload(question)
    assert payload is not None and len(payload) <= 64
    assert decode_start_payload(payload) == question


def test_start_payload_too_long_and_hand_made() -> None:
    assert encode_start_payload("很长的问题" * 20) is None
    assert decode_start_payload("taipei_101") == "taipei 101"
    assert decode_start_payload("bad payload!") is None


def test_limiter_window() -> None:
    limiter = QuestionLimiter(2)
    assert limiter.wait_seconds(1, now=0.0) == 0
    assert limiter.wait_seconds(1, now=1.0) == 0
    assert limiter.wait_seconds(1, now=2.0) > 0
    assert limiter.wait_seconds(2, now=2.0) == 0  # per user
    assert limiter.wait_seconds(1, now=61.0) == 0


def test_limited_user_is_told_once_per_wait() -> None:
    limiter = QuestionLimiter(1)
    assert limiter.wait_seconds(1, now=0.0) == 0
    wait = limiter.wait_seconds(1, now=1.0)
    assert wait > 0 and limiter.first_refusal(1, wait, now=1.0)
    for t in (2.0, 3.0, 30.0):
        assert limiter.first_refusal(1, limiter.wait_seconds(1, now=t), now=t) is False
    assert limiter.first_refusal(2, 5, now=3.0)  # per user
    assert limiter.wait_seconds(1, now=61.0) == 0
    assert limiter.wait_seconds(1, now=62.0) > 0 and limiter.first_refusal(1, 59, now=62.0)


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("a.html", "a.html"),
        ("dir/b.htm", "dir/b.htm"),
        ("../evil.html", None),
        ("a/../../evil.html", None),
        ("/etc/passwd.html", None),
        ("C:\\x.html", None),
        ("dir\\..\\x.html", None),
        (".hidden.html", None),
        ("", None),
    ],
)
def test_safe_relpath(name: str, safe: str | None) -> None:
    assert safe_relpath(name) == safe


def make_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_plan_upload_refuses_zip_slip_and_oversize(tmp_path: Path) -> None:
    data = make_zip(
        {
            "ok/a.html": b"<h2>a</h2>",
            "../../escape.html": b"x",
            "notes.txt": b"x",
            "big.html": b"x" * 200,
        }
    )
    plan = plan_upload("pages.zip", data, max_page_bytes=100, max_total_bytes=10_000)
    assert [f.path for f in plan.files] == ["ok/a.html"]
    assert dict(plan.refused) == {"../../escape.html": "path", "notes.txt": "kind", "big.html": "size"}
    corpus = tmp_path / "corpus"
    assert save_upload(corpus, plan) == [("ok/a.html", "saved")]
    assert save_upload(corpus, plan) == [("ok/a.html", "unchanged")]
    changed = plan_upload(
        "ok.zip", make_zip({"ok/a.html": b"<h2>b</h2>"}), max_page_bytes=100, max_total_bytes=999
    )
    assert save_upload(corpus, changed) == [("ok/a.html", "replaced")]
    assert (corpus / "ok/a.html").read_bytes() == b"<h2>b</h2>"
    assert not (tmp_path / "escape.html").exists()
    assert plan_upload("x.zip", b"not a zip", max_page_bytes=1, max_total_bytes=1).refused == (
        ("x.zip", "zip"),
    )


def test_token_is_redacted_from_logs(caplog: pytest.LogCaptureFixture) -> None:
    from bot.telegram.redaction import redact_token

    token = "123456:SECRET-token-value"
    redact_token(token)
    log = logging.getLogger("test.redaction")
    with caplog.at_level(logging.INFO):
        log.info("GET https://api.telegram.org/bot%s/getMe", token)
        try:
            raise RuntimeError(f"failed https://x/bot{token}/sendMessage")
        except RuntimeError:
            log.exception("boom")
    assert token not in caplog.text
    assert "<token>" in caplog.text


@pytest.mark.parametrize("secret", ["has space", "dots.are.refused", "x" * 257])
def test_webhook_secret_telegram_would_refuse_fails_at_start_up(secret: str) -> None:
    settings = Settings(webhook_url="https://example.org/hook", webhook_secret=secret)
    with pytest.raises(ConfigError, match="QUOTEBOT_WEBHOOK_SECRET"):
        webhook_options(settings)


def test_webhook_secret_is_generated_when_not_configured() -> None:
    first = webhook_options(Settings(webhook_url="https://example.org/hook"))["secret_token"]
    second = webhook_options(Settings(webhook_url="https://example.org/hook"))["secret_token"]
    assert first != second and len(first) >= 32


def test_upload_reply_of_a_huge_zip_keeps_its_summary(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for n in range(400):
            archive.writestr(f"attachments/scan-{n:04d}-{'x' * 60}.pdf", b"%PDF")
        archive.writestr("news/page.html", b"<html><body><p>hi</p></body></html>")
    plan = plan_upload("big.zip", buffer.getvalue(), max_page_bytes=10_000, max_total_bytes=10_000_000)
    outcome = save_upload(tmp_path, plan)
    reply = render_upload(plan, outcome, "en", 1000)
    plain, _ = parse_telegram_html(reply)
    assert len(plain) <= 4096
    assert "Saved: news/page.html" in plain
    assert plain.endswith(i18n.text("en", "upload_summary", saved=1, refused=400))
    assert i18n.text("en", "report_more", n=401 - 20) in plain

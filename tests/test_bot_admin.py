"""Admin side of the bot over real HTTP: refusal, menus, /status, reindex under load, uploads."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest

from bot import i18n, uploads
from bot.telegram.app import ADMIN_COMMANDS, USER_COMMANDS
from embeddings.hashing import HashingEncoder
from tests.bot_support import (
    ADMIN_ID,
    LATER_ANSWER,
    LATER_PAGE,
    LATER_QUESTION,
    PAGES,
    QUESTION,
    QUESTION_ANSWER,
    REAL_ENCODER,
    SAMPLES,
    BuiltIndex,
    bot_settings,
    private_copy,
    running_bot,
    settle,
    shared_index,
)
from tests.telegram_server import BotApiServer, Call

pytestmark = pytest.mark.slow
REPORT_TIMEOUT = 240
NEW_PAGES = (
    LATER_PAGE,
    "xquad/xquad-00003.html",
    "drcd/drcd-00106.html",
    "cmrc2018/cmrc2018-00065.html",
)  # a reindex embeds a page on 2 shared cores


@pytest.fixture
def copy(built: BuiltIndex, tmp_path: Path) -> BuiltIndex:
    return private_copy(built, tmp_path)


@pytest.fixture
def real_copy(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> BuiltIndex:
    """Return a private copy of the index on the real model: its reindex lasts long enough to overlap."""
    return private_copy(shared_index(tmp_path_factory.getbasetemp() / "bot-index", REAL_ENCODER), tmp_path)


@pytest.fixture
def server(server: BotApiServer) -> BotApiServer:
    server.add_chat(ADMIN_ID)  # the admin has started the bot, so their menu can be set
    return server


def quoted(call: Call) -> bool:
    return bool(
        {e["type"] for e in call.result.get("entities", [])} & {"blockquote", "expandable_blockquote"}
    )


async def replies(
    server: BotApiServer, chat_id: int, since: int, count: int = 1, timeout: float = 60
) -> list[Call]:
    return await server.wait_for_async(
        "sendMessage", lambda c: c.params.get("chat_id") == chat_id, timeout=timeout, count=count, since=since
    )


async def say(server: BotApiServer, text: str, user_id: int, **kwargs: Any) -> Call:
    since = len(server.calls())
    server.add_text(text, user_id=user_id, **kwargs)
    return (await replies(server, user_id, since))[0]


async def wait_report(server: BotApiServer, since: int, timeout: float = REPORT_TIMEOUT) -> Call:
    """Wait for the final reindex report sent to the admin after call index `since`."""
    calls = await server.wait_for_async(
        "sendMessage",
        lambda c: c.params.get("chat_id") == ADMIN_ID and "added" in c.result.get("text", ""),
        timeout=timeout,
        since=since,
    )
    return calls[0]


async def test_non_admin_is_refused_and_nothing_runs(server: BotApiServer, copy: BuiltIndex) -> None:
    before = index_files(copy)
    async with running_bot(bot_settings(copy, server.url)):
        for command in ("/reindex", "/reindex full", "/status"):
            reply = await say(server, command, user_id=31, language_code="en")
            assert reply.result["text"] == i18n.text("en", "refused")
        since = len(server.calls())
        server.add_document("x.html", (SAMPLES / LATER_PAGE).read_bytes(), user_id=31)
        (reply,) = await replies(server, 31, since)
        assert reply.result["text"] == i18n.text("zh-hans", "refused")
        await settle(1.0)
    assert not server.calls("getFile") and not server.calls("editMessageText")
    assert not (copy.corpus_dir / "x.html").exists()
    assert index_files(copy) == before


def index_files(built: BuiltIndex) -> list[str]:
    """Return the index directory's entries, leaving out the bot's own state file."""
    return sorted(p.name for p in built.index_dir.iterdir() if not p.name.startswith("bot-state."))


async def test_admin_menu_is_scoped_and_status_reports(server: BotApiServer, copy: BuiltIndex) -> None:
    async with running_bot(bot_settings(copy, server.url)):
        reply = await say(server, "/status", user_id=ADMIN_ID, language_code="en")
    admin_menu = [c["command"] for c in server.menu(ADMIN_ID)]
    assert admin_menu == [n for n, _ in USER_COMMANDS] + [n for n, _ in ADMIN_COMMANDS]
    assert [c["command"] for c in server.menu(32)] == [n for n, _ in USER_COMMANDS]
    text = reply.result["text"]
    assert "4" in text and "32" in text  # articles and passages of the shared index
    assert HashingEncoder().model_id in text  # the model the index was built with


async def test_reindex_while_twenty_users_ask(server: BotApiServer, real_copy: BuiltIndex) -> None:
    settings = bot_settings(real_copy, server.url)
    async with running_bot(settings):
        before = await say(server, LATER_QUESTION, user_id=40)
        assert not quoted(before)
        for rel in NEW_PAGES:
            (real_copy.corpus_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (real_copy.corpus_dir / rel).write_bytes((SAMPLES / rel).read_bytes())

        start = len(server.calls())
        server.add_text("/reindex", user_id=ADMIN_ID, language_code="en")
        server.add_text("/reindex full", user_id=ADMIN_ID, language_code="en")  # while the first runs
        first_two = await replies(server, ADMIN_ID, start, count=2)
        texts = [c.result["text"] for c in first_two]
        assert texts.count(i18n.text("en", "busy")) == 1
        progress = next(c for c in first_two if c.result["text"] != i18n.text("en", "busy"))

        asked = len(server.calls())
        users = range(100, 120)
        for user in users:
            server.add_text(QUESTION, user_id=user)
        answers = []
        for user in users:
            (answer,) = await replies(server, user, asked, timeout=REPORT_TIMEOUT)
            assert quoted(answer) and QUESTION_ANSWER in answer.result["text"]
            answers.append(answer)

        report = await wait_report(server, start)
        assert f"added {len(NEW_PAGES)}," in report.result["text"]
        assert min(a.at for a in answers) < report.at  # answering went on during the reindex
        edits = [
            c
            for c in server.calls("editMessageText")
            if c.params.get("message_id") == progress.result["message_id"]
        ]
        assert edits and all(c.ok or "not modified" in (c.description or "") for c in edits)

        after = await say(server, LATER_QUESTION, user_id=41)
        assert quoted(after) and LATER_ANSWER in after.result["text"]
        status = await say(server, "/status", user_id=ADMIN_ID, language_code="en")
        assert "8" in status.result["text"]  # 4 + 4 articles
    progress_messages = [
        c for c in server.calls("sendMessage") if c.ok and c.result["text"].startswith("Reindexing")
    ]
    assert len(progress_messages) == 1
    failures = [c for c in server.calls("sendMessage") if not c.ok and c.status != 429]
    assert failures == []


def zip_of(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


async def test_upload_zip_refuses_zip_slip_and_indexes(server: BotApiServer, copy: BuiltIndex) -> None:
    page = (SAMPLES / LATER_PAGE).read_bytes()
    data = zip_of({"bbc/bbc.html": page, "../../escaped.html": page, "notes.txt": b"hi"})
    async with running_bot(bot_settings(copy, server.url)):
        since = len(server.calls())
        server.add_document("pages.zip", data, user_id=ADMIN_ID, language_code="en")
        summary = (await replies(server, ADMIN_ID, since))[0].result["text"]
        assert "added 1," in (await wait_report(server, since)).result["text"]
        assert "bbc/bbc.html" in summary and "../../escaped.html" in summary and "notes.txt" in summary
        assert i18n.text("en", "upload_unsafe_path") in summary
        after = await say(server, LATER_QUESTION, user_id=42)
        assert quoted(after) and LATER_ANSWER in after.result["text"]
    assert (copy.corpus_dir / "bbc" / "bbc.html").read_bytes() == page
    assert not (copy.corpus_dir.parent / "escaped.html").exists()
    assert not list(copy.corpus_dir.parent.parent.glob("escaped.html"))


async def test_upload_html_says_when_it_replaces(server: BotApiServer, copy: BuiltIndex) -> None:
    page = (SAMPLES / LATER_PAGE).read_bytes()
    async with running_bot(bot_settings(copy, server.url, max_upload_bytes=len(page) + 10)):
        since = len(server.calls())
        server.add_document("bbc.html", page, user_id=ADMIN_ID, language_code="en")
        saved = (await replies(server, ADMIN_ID, since))[0].result["text"]
        assert i18n.text("en", "upload_saved", name="bbc.html") in saved
        assert "added 1," in (await wait_report(server, since)).result["text"]

        changed = page.replace(b"BBC", b"BBC ", 1)
        since = len(server.calls())
        again = await say_document(server, "bbc.html", changed)
        assert i18n.text("en", "upload_replaced", name="bbc.html") in again.result["text"]
        assert (copy.corpus_dir / "bbc.html").read_bytes() == changed
        assert "updated 1," in (await wait_report(server, since)).result["text"]

        too_big = await say_document(server, "big.html", b"x" * (len(page) + 11))
        assert "big.html" in too_big.result["text"]
        assert not (copy.corpus_dir / "big.html").exists()
        wrong = await say_document(server, "notes.pdf", b"%PDF")
        assert i18n.text("en", "upload_bad_type") in wrong.result["text"]


async def say_document(server: BotApiServer, name: str, data: bytes) -> Call:
    since = len(server.calls())
    server.add_document(name, data, user_id=ADMIN_ID, language_code="en")
    return (await replies(server, ADMIN_ID, since))[0]


async def test_reindex_of_an_empty_corpus_says_it_failed(server: BotApiServer, copy: BuiltIndex) -> None:
    for page in copy.corpus_dir.rglob("*.htm*"):
        page.unlink()
    async with running_bot(bot_settings(copy, server.url)):
        since = len(server.calls())
        server.add_text("/reindex", user_id=ADMIN_ID, language_code="en")
        (edit,) = await server.wait_for_async(
            "editMessageText", lambda c: c.params.get("chat_id") == ADMIN_ID, timeout=60, since=since
        )
        assert edit.result["text"].startswith("Reindex failed: ")
        assert "The current index is unchanged." in edit.result["text"]
        status = await say(server, "/status", user_id=ADMIN_ID, language_code="en")
    assert "nothing to index" in status.result["text"]


async def test_upload_is_unpacked_off_the_event_loop(
    server: BotApiServer, copy: BuiltIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[threading.Thread] = []
    plan_upload = uploads.plan_upload

    def recording(*args: Any, **kwargs: Any) -> uploads.UploadPlan:
        threads.append(threading.current_thread())
        return plan_upload(*args, **kwargs)

    monkeypatch.setattr(uploads, "plan_upload", recording)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "not a page")
    async with running_bot(bot_settings(copy, server.url)):
        since = len(server.calls())
        server.add_document("pages.zip", buffer.getvalue(), user_id=ADMIN_ID, language_code="en")
        (reply,) = await replies(server, ADMIN_ID, since)
    assert "notes.txt" in reply.result["text"]
    assert threads and threads[0] is not threading.main_thread()


async def test_stopping_mid_reindex_still_sends_the_report(
    server: BotApiServer, real_copy: BuiltIndex
) -> None:
    (real_copy.corpus_dir / LATER_PAGE).parent.mkdir(parents=True, exist_ok=True)
    (real_copy.corpus_dir / LATER_PAGE).write_bytes((SAMPLES / LATER_PAGE).read_bytes())
    async with running_bot(bot_settings(real_copy, server.url)):
        start = len(server.calls())
        server.add_text("/reindex", user_id=ADMIN_ID, language_code="en")
        await replies(server, ADMIN_ID, start)  # the progress message: the job runs; now stop
    report = await wait_report(server, start)
    assert "added 1," in report.result["text"]


async def test_an_unexpected_reindex_error_reaches_the_error_handler(
    server: BotApiServer, copy: BuiltIndex, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.telegram import reindex

    def broken(*args: Any) -> Any:
        raise RuntimeError("the disk is on fire")

    monkeypatch.setattr(reindex, "build", broken)
    caplog.set_level("ERROR")
    async with running_bot(bot_settings(copy, server.url)):
        since = len(server.calls())
        server.add_text("/reindex", user_id=ADMIN_ID, language_code="en")
        _progress, apology = await replies(server, ADMIN_ID, since, count=2)
        assert apology.result["text"] == i18n.text("en", "error")
        status = await say(server, "/status", user_id=ADMIN_ID, language_code="en")
    assert i18n.text("en", "status_reindexing") not in status.result["text"]  # the slot is free again
    assert any(r.exc_info and isinstance(r.exc_info[1], RuntimeError) for r in caplog.records)


def other_prompts(built: BuiltIndex) -> None:
    """Make the live generation claim prompts the bot's encoder does not use (found only when opening)."""
    manifest = built.index_dir / "current" / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    manifest.write_text(json.dumps(data | {"prompts": {"query": "q: ", "passage": "p: "}}), encoding="utf-8")


async def test_a_reload_that_fails_after_a_good_build_is_reported(
    server: BotApiServer, copy: BuiltIndex
) -> None:
    other_prompts(copy)
    (copy.corpus_dir / PAGES[2]).unlink()  # nothing to embed: the build reuses the stored vectors
    async with running_bot(bot_settings(copy, server.url)):
        since = len(server.calls())
        server.add_text("/reindex", user_id=ADMIN_ID, language_code="en")
        report = await wait_report(server, since, timeout=120)
        assert "removed 1," in report.result["text"]
        progress = (await replies(server, ADMIN_ID, since))[0]
        edits = server.calls("editMessageText")
        final = [c for c in edits if c.params.get("message_id") == progress.result["message_id"]][-1]
        assert final.result["text"].startswith("Reindex finished, but the new index cannot be opened: ")
        assert "prompts" in final.result["text"]
        status = await say(server, "/status", user_id=ADMIN_ID, language_code="en")
    assert "cannot be opened" in status.result["text"] and "prompts" in status.result["text"]


async def test_a_bug_in_a_reindex_is_reported_in_the_chat(
    server: BotApiServer, copy: BuiltIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embeddings.local.dense import DenseIndex

    def bug(self: DenseIndex, ids: object) -> int:
        raise AttributeError("'DenseIndex' object has no attribute 'tombstones'")

    monkeypatch.setattr(DenseIndex, "remove", bug)
    (copy.corpus_dir / PAGES[2]).unlink()
    async with running_bot(bot_settings(copy, server.url)):
        since = len(server.calls())
        server.add_text("/reindex", user_id=ADMIN_ID, language_code="en")
        (edit,) = await server.wait_for_async(
            "editMessageText",
            lambda c: c.params.get("chat_id") == ADMIN_ID and "failed" in c.result.get("text", ""),
            timeout=120,
            since=since,
        )
        assert edit.result["text"].startswith("Reindex failed: AttributeError: ")
        assert "The current index is unchanged." in edit.result["text"]
        _progress, apology = await replies(server, ADMIN_ID, since, count=2)  # from the error handler
        assert apology.result["text"] == i18n.text("en", "error")
        status = await say(server, "/status", user_id=ADMIN_ID, language_code="en")
        assert "tombstones" in status.result["text"]
        answer = await say(server, QUESTION, user_id=43)
    assert quoted(answer) and QUESTION_ANSWER in answer.result["text"]

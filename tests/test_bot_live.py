"""/add, /follow, /sources, /unfollow and the background poller over the Bot API test server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot import i18n
from bot.backends import state_file
from bot.sources.store import SourceStore
from bot.state import BotState
from tests.bot_support import (
    ADMIN_ID,
    LATER_ANSWER,
    LATER_PAGE,
    LATER_QUESTION,
    SAMPLES,
    BuiltIndex,
    bot_settings,
    private_copy,
    running_bot,
    settle,
)
from tests.telegram_server import BotApiServer, Call
from tests.web_server import FEED, HTML, Reply, WebServer, rss

REPORT_TIMEOUT = 120


@pytest.fixture
def copy(built: BuiltIndex, tmp_path: Path) -> BuiltIndex:
    return private_copy(built, tmp_path)


@pytest.fixture
def server(server: BotApiServer) -> BotApiServer:
    server.add_chat(ADMIN_ID)
    return server


@pytest.fixture
def web() -> Iterator[WebServer]:
    with WebServer() as w:
        w.route("/news/bbc.html", Reply(200, (SAMPLES / LATER_PAGE).read_bytes(), HTML))
        yield w


def settings_for(copy: BuiltIndex, server: BotApiServer, **more: Any) -> Any:
    return bot_settings(copy, server.url, fetch_allow=("127.0.0.1",), fetch_interval=0.0, **more)


async def say(server: BotApiServer, text: str, user_id: int = ADMIN_ID, count: int = 1) -> list[Call]:
    since = len(server.calls())
    server.add_text(text, user_id=user_id, language_code="en")
    return await server.wait_for_async(
        "sendMessage", lambda c: c.params.get("chat_id") == user_id, timeout=60, count=count, since=since
    )


async def wait_report(server: BotApiServer, since: int) -> str:
    calls = await server.wait_for_async(
        "sendMessage",
        lambda c: c.params.get("chat_id") == ADMIN_ID and "reindex finished" in c.result.get("text", ""),
        timeout=REPORT_TIMEOUT,
        since=since,
    )
    return str(calls[0].result["text"])


async def answered(server: BotApiServer, question: str, answer: str, timeout: float = 60) -> bool:
    """Ask until the answer quotes `answer` (the served index follows a background reindex)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        (reply,) = await say(server, question, user_id=42)
        if answer in reply.result["text"]:
            return True
        await asyncio.sleep(1.0)
    return False


async def test_non_admins_cannot_add_or_follow(
    server: BotApiServer, copy: BuiltIndex, web: WebServer
) -> None:
    async with running_bot(settings_for(copy, server)):
        for command in (
            f"/add {web.url('/news/bbc.html')}",
            f"/follow {web.url('/feed.xml')}",
            "/sources",
            "/unfollow 1",
        ):
            (reply,) = await say(server, command, user_id=31)
            assert reply.result["text"] == i18n.text("en", "refused")
        await settle(0.5)
    assert web.paths() == [] and not (copy.corpus_dir / "web").exists()


async def test_add_replies_with_the_page_and_indexes_it(
    server: BotApiServer, copy: BuiltIndex, web: WebServer
) -> None:
    async with running_bot(settings_for(copy, server)) as app:
        since = len(server.calls())
        (reply,) = await say(server, f"/add {web.url('/news/bbc.html')}")
        text = reply.result["text"]
        assert text.startswith("Added: ") and "passages" in text and "web/127.0.0.1_" in text
        assert "added 1," in await wait_report(server, since)
        rt = app.bot_data.runtime
        assert rt.sources is not None and not rt.sources.store.index_pending()  # no poll reads it again
        assert await answered(server, LATER_QUESTION, LATER_ANSWER)
        (again,) = await say(server, f"/add {web.url('/news/bbc.html')}")
        assert again.result["text"].startswith("Already in the corpus, unchanged")
        (missing,) = await say(server, f"/add {web.url('/news/nothing.html')}")
        assert (
            missing.result["text"].startswith(f"Not added {web.url('/news/nothing.html')}")
            and "404" in missing.result["text"]
        )
        (bad,) = await say(server, "/add file:///etc/passwd")
        assert "not an http(s) address" in bad.result["text"]
        (usage,) = await say(server, "/add")
        assert usage.result["text"] == i18n.text("en", "usage_add")


async def test_follow_polls_in_the_background_and_sources_shows_it(
    server: BotApiServer, copy: BuiltIndex, web: WebServer
) -> None:
    web.route("/feed.xml", Reply(200, rss(web, ["/news/bbc.html"], title="BBC 新闻"), FEED))
    web.route("/home.html", Reply(200, b"<html><body><p>no feed</p></body></html>", HTML))
    async with running_bot(settings_for(copy, server)) as app:
        (followed,) = await say(server, f"/follow {web.url('/feed.xml')} 15")
        assert followed.result["text"].startswith("Following #1: BBC 新闻 (rss, checked every 15 min)")
        assert await answered(server, LATER_QUESTION, LATER_ANSWER)  # polled at once, then indexed
        scraped = app.bot_data.runtime.metrics.exposition().decode()
        assert 'quotebot_fetches_total{kind="feed",outcome="ok"}' in scraped  # the fetcher's hook
        assert 'quotebot_pages_added_total{source="1"} 1.0' in scraped
        assert 'quotebot_reindex_runs_total{outcome="ok",trigger="source"} 1.0' in scraped, scraped
        assert 'quotebot_source_last_success_timestamp_seconds{source="1"} 0.0' not in scraped
        (listing,) = await say(server, "/sources")
        text = listing.result["text"]
        assert f"#1 {web.url('/feed.xml')} (rss)" in text and "status: ok; pages added: 1" in text
        (refused,) = await say(server, f"/follow {web.url('/home.html')}")
        assert refused.result["text"].startswith(f"Cannot follow {web.url('/home.html')}")
        assert "links no feed" in refused.result["text"]
        (gone,) = await say(server, "/unfollow #1")
        assert (
            gone.result["text"].startswith("Unfollowed #1") and "1 pages it added stay" in gone.result["text"]
        )
        (empty,) = await say(server, "/sources")
        assert empty.result["text"] == i18n.text("en", "sources_none")
        assert (
            'last_success_timestamp_seconds{source="1"}'
            not in app.bot_data.runtime.metrics.exposition().decode()
        )
    assert len(list((copy.corpus_dir / "web").rglob("*.html"))) == 1


async def test_a_failing_source_shows_its_reason_and_the_index_serves_on(
    server: BotApiServer, copy: BuiltIndex, web: WebServer
) -> None:
    settings = settings_for(copy, server)
    web.route("/feed.xml", Reply(200, rss(web, []), FEED))
    state = BotState(state_file(settings))
    from bot.sources.wiring import open_live_corpus

    corpus = open_live_corpus(settings, state)
    corpus.follow(web.url("/feed.xml"))  # followed while it worked; due at once
    corpus.fetcher.close()
    state.close()
    web.route("/feed.xml", Reply(200, b"<html><body>Service temporarily unavailable</body></html>", HTML))
    async with running_bot(settings):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            (listing,) = await say(server, "/sources")
            if "not checked yet" not in listing.result["text"]:
                break
            await asyncio.sleep(0.5)
        assert "status: not a feed" in listing.result["text"], listing.result["text"]
        assert await answered(server, "台北101的動土儀式是誰主持的？", "陳水扁")
    reopened = BotState(state_file(settings))
    (source,) = SourceStore(reopened).sources()
    reopened.close()
    assert source.failures == 1 and source.last_ok is None and source.next_check > time.time() + 3000

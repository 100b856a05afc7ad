"""Health, metrics, the watched folder and the schedule: over real HTTP, with the real PTB Application."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.config import ConfigError, load_settings, parse_every, parse_listen
from bot.metrics import Metrics
from bot.ops_server import OpsServer
from bot.watch import Settle, snapshot
from tests.bot_support import (
    LATER_ANSWER,
    LATER_PAGE,
    LATER_QUESTION,
    QUESTION,
    QUESTION_ANSWER,
    SAMPLES,
    BuiltIndex,
    bot_settings,
    copy_pages,
    encoder_for,
    private_copy,
    running_bot,
)
from tests.telegram_server import BotApiServer


def get(url: str) -> tuple[int, str, str]:
    """GET a URL without any proxy; return (status, content type, body)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Parse a /metrics body into {(sample name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


async def scrape(server: OpsServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Scrape /metrics over HTTP (off the event loop) and parse it."""
    status, kind, body = await asyncio.to_thread(get, server.url + "/metrics")
    assert status == 200 and kind.startswith("text/plain; version=0.0.4")
    return samples(body)


async def scrape_when(server: OpsServer, name: str, value: float) -> dict[tuple[str, Any], float]:
    """Scrape until the unlabelled sample `name` reaches value (the bot counts just after it sends)."""
    deadline = time.monotonic() + 30
    while True:
        values = await scrape(server)
        if values.get((name, ())) == value or time.monotonic() > deadline:
            return values
        await asyncio.sleep(0.05)


async def eventually(check: Callable[[], Any], timeout: float = 60.0, what: str = "") -> Any:
    """Wait until check() returns something true; return it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")


# --- settings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("6h", 21_600), ("30m", 1800), ("90s", 90), ("1h30m", 5400), (" 2H ", 7200), ("2.5s", 2.5)],
)
def test_reindex_every_is_read_with_its_unit(text: str, seconds: float) -> None:
    assert parse_every(text) == seconds


@pytest.mark.parametrize("text", ["", "off", "0", "OFF"])
def test_reindex_every_can_be_off(text: str) -> None:
    assert parse_every(text) is None


@pytest.mark.parametrize("text", ["6", "6x", "h", "-5m", "5 minutes", "0.5s", "1h-30m"])
def test_a_bad_reindex_every_stops_the_start(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTEBOT_REINDEX_EVERY", text)
    with pytest.raises(ConfigError, match="QUOTEBOT_REINDEX_EVERY") as caught:
        load_settings()
    assert repr(text) in str(caught.value) or "at least 1s" in str(caught.value)


def test_reindex_every_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTEBOT_REINDEX_EVERY", "30m")
    assert load_settings().reindex_every == 1800
    monkeypatch.delenv("QUOTEBOT_REINDEX_EVERY")
    assert load_settings().reindex_every is None


@pytest.mark.parametrize(
    ("text", "address"),
    [("127.0.0.1:8089", ("127.0.0.1", 8089)), ("[::1]:9", ("::1", 9)), ("0.0.0.0:0", ("0.0.0.0", 0))],
)
def test_ops_listen_is_host_and_port(text: str, address: tuple[str, int]) -> None:
    assert parse_listen(text) == address


@pytest.mark.parametrize("text", ["", "off", " Off "])
def test_ops_listen_can_be_off(text: str) -> None:
    assert parse_listen(text) is None


@pytest.mark.parametrize("text", ["8089", "localhost", "host:http", ":8089", "h:70000"])
def test_a_bad_ops_listen_stops_the_start(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTEBOT_OPS_LISTEN", text)
    with pytest.raises(ConfigError, match="QUOTEBOT_OPS_LISTEN"):
        load_settings()


def test_the_ops_server_is_on_loopback_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QUOTEBOT_OPS_LISTEN", raising=False)
    host, _ = parse_listen(load_settings().ops_listen) or ("", 0)
    assert host == "127.0.0.1"


# --- the health server on its own ----------------------------------------------------------------


def test_livez_readyz_and_metrics_over_http() -> None:
    metrics = Metrics()
    reason: list[str | None] = ["not ready: no index is served (test)"]
    server = OpsServer("127.0.0.1", 0, scrape=metrics.exposition, ready=lambda: reason[0]).start()
    try:
        assert get(server.url + "/livez")[0] == 200
        status, _, body = get(server.url + "/readyz")
        assert (status, body) == (503, "not ready: no index is served (test)\n")
        reason[0] = None
        assert get(server.url + "/readyz")[:1] == (200,)
        assert get(server.url + "/nothing")[0] == 404
        metrics.record_fetch("feed", "not_modified")
        metrics.record_pages_added(3, "src-1")
        metrics.record_poll("src-1", ok=True)
        metrics.record_poll("src-2", ok=False)
        status, kind, body = get(server.url + "/metrics")
        assert status == 200 and kind.startswith("text/plain; version=0.0.4")
        values = samples(body)
        assert values[("quotebot_fetches_total", (("kind", "feed"), ("outcome", "not_modified")))] == 1
        assert values[("quotebot_pages_added_total", (("source", "src-1"),))] == 3
        last = values[("quotebot_source_last_success_timestamp_seconds", (("source", "src-1"),))]
        assert abs(last - time.time()) < 60
        assert values[("quotebot_source_last_success_timestamp_seconds", (("source", "src-2"),))] == 0
        metrics.forget_source("src-2")
        assert ("quotebot_source_last_success_timestamp_seconds", (("source", "src-2"),)) not in samples(
            get(server.url + "/metrics")[2]
        )
    finally:
        server.stop()
    with pytest.raises(OSError):
        get(server.url + "/livez")


def test_a_failing_readiness_check_answers_503() -> None:
    def broken() -> str | None:
        raise RuntimeError("boom")

    server = OpsServer("127.0.0.1", 0, scrape=Metrics().exposition, ready=broken).start()
    try:
        status, _, body = get(server.url + "/readyz")
        assert status == 503 and "RuntimeError" in body
    finally:
        server.stop()


def test_each_bot_has_its_own_registry() -> None:
    one, two = Metrics(), Metrics()
    one.record_question(0.2, None)
    assert one.registry.get_sample_value("quotebot_questions_total") == 1
    assert two.registry.get_sample_value("quotebot_questions_total") == 0


def test_a_taken_port_is_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.telegram.health import ops_endpoint

    taken = OpsServer("127.0.0.1", 0, scrape=Metrics().exposition).start()
    try:
        monkeypatch.setenv("QUOTEBOT_OPS_LISTEN", "{}:{}".format(*taken.address))
        settings = load_settings()
        with pytest.raises(ConfigError, match="QUOTEBOT_OPS_LISTEN"), ops_endpoint(settings, Metrics()):
            pass
        monkeypatch.setenv("QUOTEBOT_OPS_LISTEN", "off")
        with ops_endpoint(load_settings(), Metrics()) as none:
            assert none is None
    finally:
        taken.stop()


# --- the watched folder's snapshot and debounce ---------------------------------------------------


def test_a_snapshot_sees_pages_appear_change_and_go(tmp_path: Path) -> None:
    assert snapshot(tmp_path / "missing") == {}
    copy_pages(tmp_path, ("seed-article.html",))
    (tmp_path / "notes.txt").write_text("not a page")
    first = snapshot(tmp_path)
    assert list(first) == ["seed-article.html"]
    page = tmp_path / "seed-article.html"
    page.write_bytes(page.read_bytes() + b"<!-- edited -->")
    assert snapshot(tmp_path) != first
    page.unlink()
    assert snapshot(tmp_path) == {}


def test_a_snapshot_watches_the_pages_the_indexer_reads(tmp_path: Path) -> None:
    from corpus.load import list_pages

    for rel in ("a.html", "sub/B.HTM", "sub/deeper/c.htm", ".hidden/d.html", "sub/.e.html", "f.txt", "g.pdf"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"<p>x</p>")
    # A link to a parent directory: the indexer does not follow it, nor may the watcher.
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert sorted(snapshot(tmp_path)) == list_pages(tmp_path) == ["a.html", "sub/B.HTM", "sub/deeper/c.htm"]


def test_settle_fires_once_after_the_changes_go_quiet() -> None:
    settle = Settle(quiet=5.0, last={"a.html": (1, 1)})
    assert not settle.look(0.0, {"a.html": (1, 1)})  # nothing changed
    fired = [settle.look(t, {"a.html": (1, int(t))}) for t in (1.0, 2.0, 3.0, 4.0)]  # a write a second
    assert fired == [False] * 4
    assert not settle.look(8.9, {"a.html": (1, 4)})
    assert settle.look(9.0, {"a.html": (1, 4)})  # five quiet seconds after the last write
    assert not settle.look(20.0, {"a.html": (1, 4)})  # once


# --- the real bot over the test Bot API server ---------------------------------------------------


@contextlib.asynccontextmanager
async def ops_bot(settings: Any) -> AsyncIterator[tuple[Any, OpsServer]]:
    """Run the real bot with its health server on a free loopback port, wired as `quotebot serve` does."""
    from bot.telegram.health import attach, ops_endpoint

    with ops_endpoint(settings.model_copy(update={"ops_listen": "127.0.0.1:0"}), Metrics()) as ops:
        assert ops is not None
        async with running_bot(settings) as app:
            await asyncio.to_thread(lambda: app.bot_data.runtime.live.current)  # serve loads it first too
            attach(ops, app)
            yield app, ops


async def ask(server: BotApiServer, text: str, user_id: int) -> str:
    """Send a private question and return the text of the bot's first reply."""
    since = len(server.calls())
    server.add_text(text, user_id=user_id)
    (reply,) = await server.wait_for_async(
        "sendMessage", lambda c: c.params.get("chat_id") == user_id, timeout=60, since=since
    )
    return str(reply.result["text"])


@pytest.mark.slow
async def test_readyz_waits_for_polling_and_an_index(server: BotApiServer, tmp_path: Path) -> None:
    from bot.indexing import build_index, index_store
    from bot.telegram.app import build_application, polling_options
    from bot.telegram.health import attach
    from embeddings.live import LiveSearcher

    (tmp_path / "corpus").mkdir()
    empty = BuiltIndex(tmp_path / "corpus", tmp_path / "index")
    settings = bot_settings(empty, server.url)
    encoder = encoder_for(settings.encoder)
    live = LiveSearcher(index_store(settings.index_dir), encoder, check_interval=0.2)
    app = build_application(settings, live, encoder)
    ops = OpsServer("127.0.0.1", 0, scrape=Metrics().exposition).start()
    try:
        assert get(ops.url + "/livez")[0] == 200
        status, _, body = get(ops.url + "/readyz")
        assert status == 503 and body.startswith("starting")  # before the bot is built
        attach(ops, app)
        await app.initialize()
        status, _, body = get(ops.url + "/readyz")
        assert status == 503 and "polling" in body
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=1, **polling_options())
        await app.start()
        try:
            status, _, body = await asyncio.to_thread(get, ops.url + "/readyz")
            assert status == 503 and "no index" in body
            copy_pages(settings.corpus_dir)
            await asyncio.to_thread(build_index, settings.corpus_dir, settings.index_dir, encoder)
            await eventually(lambda: get(ops.url + "/readyz")[0] == 200, what="ready after the index")
            assert get(ops.url + "/livez")[0] == 200
        finally:
            await app.updater.stop()
            await app.stop()
        status, _, body = get(ops.url + "/readyz")
        assert status == 503 and "polling" in body
        await app.shutdown()
        assert app.post_shutdown is not None
        await app.post_shutdown(app)
    finally:
        ops.stop()


@pytest.mark.slow
async def test_questions_answers_and_refusals_are_counted(server: BotApiServer, built: BuiltIndex) -> None:
    async with ops_bot(bot_settings(built, server.url)) as (_, ops):
        before = await scrape(ops)
        assert before[("quotebot_questions_total", ())] == 0
        assert before[("quotebot_index_passages", ())] > 0  # the served index, read at the scrape
        assert before[("quotebot_index_articles", ())] == 4
        assert QUESTION_ANSWER in await ask(server, QUESTION, user_id=31)
        after = await scrape_when(ops, "quotebot_questions_total", 1)
        assert after[("quotebot_questions_total", ())] == 1
        assert after[("quotebot_answers_total", ())] == 1
        assert after[("quotebot_question_seconds_count", ())] == 1
        assert after[("quotebot_question_seconds_sum", ())] > 0
        assert after[("quotebot_refusals_total", (("reason", "not_found"),))] == 0

        assert LATER_ANSWER not in await ask(server, LATER_QUESTION, user_id=31)  # not in the corpus
        refused = await scrape_when(ops, "quotebot_questions_total", 2)
        assert refused[("quotebot_questions_total", ())] == 2
        assert refused[("quotebot_answers_total", ())] == 1
        assert refused[("quotebot_refusals_total", (("reason", "not_found"),))] == 1
        assert refused[("quotebot_question_seconds_count", ())] == 2


def reindex_runs(app: Any, trigger: str, outcome: str = "ok") -> float:
    """Return how many reindex runs of a trigger ended with an outcome."""
    value = app.bot_data.runtime.metrics.registry.get_sample_value(
        "quotebot_reindex_runs_total", {"trigger": trigger, "outcome": outcome}
    )
    return float(value or 0)


@pytest.mark.slow
async def test_the_watched_folder_indexes_new_pages_and_drops_gone_ones(
    server: BotApiServer, built: BuiltIndex, tmp_path: Path
) -> None:
    copy = private_copy(built, tmp_path)
    settings = bot_settings(copy, server.url, watch=True, watch_interval=0.1, watch_quiet=0.5)
    async with ops_bot(settings) as (app, ops):
        assert LATER_ANSWER not in await ask(server, LATER_QUESTION, user_id=41)
        page = copy.corpus_dir / "later.html"
        shutil.copyfile(SAMPLES / LATER_PAGE, page)
        await eventually(lambda: reindex_runs(app, "watch") == 1, what="a reindex of the new page")
        assert LATER_ANSWER in await ask(server, LATER_QUESTION, user_id=41)  # no /reindex was sent
        values = await scrape(ops)
        assert values[("quotebot_index_articles", ())] == 5
        assert values[("quotebot_reindex_seconds_count", ())] == 1
        assert values[("quotebot_reindex_pages_total", (("change", "added"),))] == 1

        page.unlink()
        await eventually(lambda: reindex_runs(app, "watch") == 2, what="a reindex without the page")
        assert LATER_ANSWER not in await ask(server, LATER_QUESTION, user_id=41)
        values = await scrape(ops)
        assert values[("quotebot_index_articles", ())] == 4
        assert values[("quotebot_reindex_pages_total", (("change", "removed"),))] == 1
        assert values[("quotebot_reindex_pages_total", (("change", "updated"),))] == 0


@pytest.mark.slow
async def test_many_writes_make_one_reindex(server: BotApiServer, built: BuiltIndex, tmp_path: Path) -> None:
    copy = private_copy(built, tmp_path)
    settings = bot_settings(copy, server.url, watch=True, watch_interval=0.1, watch_quiet=1.5)
    async with ops_bot(settings) as (app, _):
        source = (SAMPLES / LATER_PAGE).read_bytes()
        for i in range(10):  # a copy in progress: one page written in pieces, others arriving
            (copy.corpus_dir / "later.html").write_bytes(source[: len(source) * (i + 1) // 10])
            if i % 3 == 0:
                shutil.copyfile(SAMPLES / "seed-article.html", copy.corpus_dir / f"seed-{i}.html")
            await asyncio.sleep(0.2)
        assert reindex_runs(app, "watch") == 0  # still writing: nothing started
        await eventually(lambda: reindex_runs(app, "watch") == 1, what="one reindex")
        await asyncio.sleep(3.0)  # quiet again: no further run
        assert reindex_runs(app, "watch") == 1
        assert app.bot_data.runtime.reindex is not None and not app.bot_data.runtime.reindex.running()
        assert LATER_ANSWER in await ask(server, LATER_QUESTION, user_id=42)


@pytest.mark.slow
async def test_the_schedule_reindexes_by_itself(
    server: BotApiServer, built: BuiltIndex, tmp_path: Path
) -> None:
    copy = private_copy(built, tmp_path)
    shutil.copyfile(SAMPLES / LATER_PAGE, copy.corpus_dir / "later.html")  # arrived without a watcher
    settings = bot_settings(copy, server.url, reindex_every=1.0)
    assert not settings.watch
    async with ops_bot(settings) as (app, ops):
        await eventually(lambda: reindex_runs(app, "schedule") >= 1, what="a scheduled reindex")
        assert LATER_ANSWER in await ask(server, LATER_QUESTION, user_id=43)
        await eventually(lambda: reindex_runs(app, "schedule") >= 2, what="a second scheduled reindex")
        values = await scrape(ops)
        assert values[("quotebot_reindex_runs_total", (("outcome", "ok"), ("trigger", "schedule")))] >= 2
    assert not app.bot_data.runtime.background  # stopped with the bot


@pytest.mark.slow
async def test_uploads_and_admin_reindexes_are_counted(
    server: BotApiServer, built: BuiltIndex, tmp_path: Path
) -> None:
    from tests.bot_support import ADMIN_ID

    copy = private_copy(built, tmp_path)
    async with ops_bot(bot_settings(copy, server.url)) as (app, ops):
        server.add_document("later.html", (SAMPLES / LATER_PAGE).read_bytes(), user_id=ADMIN_ID)
        job = lambda: app.bot_data.runtime.reindex  # noqa: E731
        await eventually(lambda: reindex_runs(app, "upload") == 1, what="the upload's reindex")
        await eventually(lambda: not job().running(), what="its report sent")  # else /reindex is "busy"
        server.add_text("/reindex", user_id=ADMIN_ID)
        await eventually(lambda: reindex_runs(app, "admin") == 1, what="the admin's reindex")
        values = await scrape(ops)
        assert values[("quotebot_pages_added_total", (("source", "upload"),))] == 1
        assert values[("quotebot_reindex_seconds_count", ())] == 2
        assert values[("quotebot_index_articles", ())] == 5


def free_port() -> int:
    """Return a loopback port nothing listens on now."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_quotebot_serve_answers_its_probes(built: BuiltIndex, tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys

    from tests.bot_support import BOT_NAME, TOKEN
    from tests.conftest import REPO

    copy = private_copy(built, tmp_path)
    port = free_port()
    with BotApiServer(token=TOKEN, username=BOT_NAME) as server:
        env = os.environ | {
            "PYTHONPATH": str(REPO),
            "QUOTEBOT_ENCODER": copy.encoder,
            "QUOTEBOT_CORPUS_DIR": str(copy.corpus_dir),
            "QUOTEBOT_INDEX_DIR": str(copy.index_dir),
            "QUOTEBOT_TELEGRAM_TOKEN": TOKEN,
            "QUOTEBOT_TELEGRAM_API_URL": server.url,
            "QUOTEBOT_OPS_LISTEN": f"127.0.0.1:{port}",
        }
        bot = subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, cwd=tmp_path)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                assert bot.poll() is None, "quotebot serve exited"
                with contextlib.suppress(OSError):
                    if get(url + "/readyz")[0] == 200:
                        break
                time.sleep(0.2)
            assert get(url + "/livez")[0] == 200
            assert get(url + "/readyz") == (200, "text/plain; charset=utf-8", "ready\n")
            server.add_text(QUESTION, user_id=51)
            server.wait_for("sendMessage", lambda c: c.params.get("chat_id") == 51, timeout=60)
            deadline = time.monotonic() + 30  # the bot counts the answer just after sending it
            while (values := samples(get(url + "/metrics")[2]))[("quotebot_answers_total", ())] != 1:
                assert time.monotonic() < deadline, values
                time.sleep(0.05)
            assert values[("quotebot_index_articles", ())] == 4
        finally:
            bot.send_signal(signal.SIGINT)
            assert bot.wait(timeout=60) == 0
    with pytest.raises(OSError):
        get(url + "/livez")  # the server went with the process


@pytest.mark.slow
async def test_a_rate_limited_question_is_a_refusal(server: BotApiServer, built: BuiltIndex) -> None:
    async with ops_bot(bot_settings(built, server.url, questions_per_minute=1)) as (_, ops):
        assert QUESTION_ANSWER in await ask(server, QUESTION, user_id=61)
        await ask(server, QUESTION, user_id=61)  # told to wait
        values = await scrape_when(ops, "quotebot_questions_total", 2)
        assert values[("quotebot_questions_total", ())] == 2
        assert values[("quotebot_refusals_total", (("reason", "rate_limited"),))] == 1
        assert values[("quotebot_question_seconds_count", ())] == 1  # never searched


async def test_an_upload_during_a_chatless_reindex_gets_the_next_runs_report(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from types import SimpleNamespace

    from bot.telegram import reindex

    ran: list[tuple[int | None, str]] = []

    async def fake_run(rt: Any, bot: Any, job: reindex.ReindexJob) -> None:
        ran.append((job.chat_id, job.trigger))
        if len(ran) == 1:
            job.run_again(77, "en")  # an admin's upload arrives while the watcher's run goes on

    class FakeBot:
        async def send_message(self, chat_id: int, text: str) -> Any:
            return SimpleNamespace(message_id=5)

    monkeypatch.setattr(reindex, "reindex_and_report", fake_run)
    rt: Any = SimpleNamespace(reindex=None)
    job = await reindex.claim_job(rt, FakeBot(), None, "zh-hans", full=False, trigger="watch")
    await reindex.run_reindex(rt, FakeBot(), job)
    assert ran == [(None, "watch"), (77, "watch")]
    assert rt.reindex.lang == "en" and rt.reindex.message_id == 5 and not rt.reindex.running()


async def test_watcher_and_schedule_run_only_when_set(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from bot.config import Settings
    from bot.telegram import autoreindex

    def app_with(**values: Any) -> Any:
        settings = Settings(corpus_dir=tmp_path, **values)
        runtime = SimpleNamespace(settings=settings, background=[])
        return SimpleNamespace(bot_data=SimpleNamespace(runtime=runtime))

    idle = app_with()
    autoreindex.start(idle)
    assert idle.bot_data.runtime.background == []
    busy = app_with(watch=True, reindex_every="6h")
    autoreindex.start(busy)
    names = sorted(task.get_name() for task in busy.bot_data.runtime.background)
    assert names == ["quotebot-schedule", "quotebot-watch"]
    await autoreindex.stop(busy)
    assert busy.bot_data.runtime.background == []

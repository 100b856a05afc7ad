"""`quotebot add|follow|sources|unfollow|poll` run against loopback web servers, and kill -9 mid-poll."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from bot.indexing import index_store
from tests.bot_support import LATER_ANSWER, LATER_PAGE, LATER_QUESTION, SAMPLES, copy_pages
from tests.web_server import FEED, HTML, Reply, WebServer, rss

FEED_PAGES = (LATER_PAGE, "xquad/xquad-00003.html", "drcd/drcd-00106.html", "cmrc2018/cmrc2018-00065.html")
KILL_PAGES = (*FEED_PAGES, "xquad/xquad-00012.html", "drcd/drcd-00190.html")
REPO = Path(__file__).resolve().parents[1]


def serve(web: WebServer, names: tuple[str, ...]) -> list[str]:
    paths = []
    for n, name in enumerate(names):
        web.route(f"/news/{n}.html", Reply(200, (SAMPLES / name).read_bytes(), HTML))
        paths.append(f"/news/{n}.html")
    return paths


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A corpus with one page of its own, and where the index goes."""
    copy_pages(tmp_path / "corpus", ("seed-article.html",))
    return tmp_path


def env_for(home: Path, *, allow: bool = True) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "QUOTEBOT_ENCODER": "hashing",
        "QUOTEBOT_RERANKER": "none",  # these tests judge what is indexed, not how the verifier orders it
        "QUOTEBOT_CORPUS_DIR": str(home / "corpus"),
        "QUOTEBOT_INDEX_DIR": str(home / "index"),
        "QUOTEBOT_FETCH_INTERVAL": "0",
        "QUOTEBOT_LOG_LEVEL": "INFO",
    }
    env.pop("QUOTEBOT_FETCH_ALLOW", None)
    if allow:
        env["QUOTEBOT_FETCH_ALLOW"] = "127.0.0.1"
    return env


def quotebot(home: Path, *args: str, allow: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=env_for(home, allow=allow),
        cwd=home,
        timeout=300,
    )


def web_pages(home: Path) -> list[str]:
    return sorted(
        p.relative_to(home / "corpus").as_posix() for p in (home / "corpus" / "web").rglob("*.html")
    )


def test_follow_poll_sources_search_and_unfollow(home: Path) -> None:
    with WebServer() as web:
        paths = serve(web, FEED_PAGES[:2])
        web.route("/feed.xml", Reply(200, rss(web, paths), FEED))
        followed = quotebot(home, "follow", web.url("/feed.xml"), "--every", "5")
        assert followed.returncode == 0, followed.stderr
        assert followed.stdout.startswith(f"following #1 {web.url('/feed.xml')} (rss, every 5 min)")
        (listed,) = json.loads(quotebot(home, "sources", "--json").stdout)
        assert (listed["kind"], listed["every_minutes"], listed["status"]) == ("rss", 5, "new")
        polled = quotebot(home, "poll", "--once")
        assert polled.returncode == 0, polled.stderr
        assert "ok, 2 items, 2 pages added, 0 refused" in polled.stdout
    text = quotebot(home, "sources").stdout
    assert "status ok, pages added 2" in text and "last fetch never" not in text
    answer = json.loads(quotebot(home, "search", LATER_QUESTION, "--json").stdout)
    assert answer["hits"][0]["doc"].startswith("web/127.0.0.1_") and LATER_ANSWER in answer["hits"][0]["text"]
    assert len(index_store(home / "index").manifest().pages) == 3
    gone = quotebot(home, "unfollow", "1")
    assert gone.returncode == 0 and "2 pages stay in the corpus" in gone.stdout
    assert "no sources followed" in quotebot(home, "sources").stdout
    assert quotebot(home, "unfollow", "1").returncode == 1
    assert len(web_pages(home)) == 2


def test_add_reports_each_url_and_indexes_what_it_saved(home: Path) -> None:
    with WebServer() as web:
        (path,) = serve(web, FEED_PAGES[:1])
        done = quotebot(home, "add", web.url(path), web.url("/missing.html"))
    assert done.returncode == 1, done.stderr
    added, refused = done.stdout.splitlines()
    assert added.startswith("added     web/127.0.0.1_") and "passages)" in added
    assert refused.startswith(f"refused   {web.url('/missing.html')}") and "404" in refused
    assert len(index_store(home / "index").manifest().pages) == 2


def test_loopback_is_refused_when_the_allow_list_does_not_name_it(home: Path) -> None:
    with WebServer() as web:
        (path,) = serve(web, FEED_PAGES[:1])
        done = quotebot(home, "add", web.url(path), allow=False)
        assert web.paths() == []
    assert done.returncode == 1 and "127.0.0.1" in done.stdout and "refused" in done.stdout
    assert not (home / "corpus" / "web").exists()


def test_kill_9_mid_poll_loses_nothing_and_indexes_nothing_twice(home: Path) -> None:
    release = threading.Event()
    with WebServer() as web:
        paths = serve(web, KILL_PAGES)
        slow = paths[4]
        body = (SAMPLES / KILL_PAGES[4]).read_bytes()
        # The fifth article hangs until released: the poll is killed while it waits for it.
        web.route(slow, Reply(200, headers=HTML, chunks=_held(body, release), delay=0.0))
        web.route("/feed.xml", Reply(200, rss(web, paths), {**FEED, "ETag": '"f1"'}))
        assert quotebot(home, "follow", web.url("/feed.xml")).returncode == 0
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "poll", "--once"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env_for(home),
            cwd=home,
        )
        try:
            deadline = time.monotonic() + 60
            while slow not in web.paths() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert slow in web.paths(), "the poll never reached the slow article"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            release.set()
        assert len(web_pages(home)) == 4  # the four before the slow one were written, fsynced
        web.route(slow, Reply(200, body, HTML))
        second = quotebot(home, "poll", "--once")
        assert second.returncode == 0, second.stderr
        assert "6 items, 2 pages added, 0 refused" in second.stdout
        fetched = [p for p in web.paths() if p.startswith("/news/")]
    assert sorted(fetched) == sorted([*paths, slow])  # only the interrupted article was asked twice
    assert len(web_pages(home)) == 6
    manifest = index_store(home / "index").manifest()
    assert sorted(p for p in manifest.pages if p.startswith("web/")) == web_pages(home)
    again = json.loads(quotebot(home, "index", "--json").stdout)
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 7)
    third = quotebot(home, "poll", "--once")
    assert "0 pages added" in third.stdout


def _held(body: bytes, release: threading.Event):  # type: ignore[no-untyped-def]
    """Yield the first bytes of body, wait for release, then the rest."""
    yield body[:100]
    release.wait(120)
    yield body[100:]

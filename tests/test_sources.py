"""The live corpus against web servers on loopback: add by URL, follow, poll, change detection, bad input."""

from __future__ import annotations

import itertools
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.sources.live_corpus import MAX_TRIES, LiveCorpus, SourceRefused
from bot.sources.pages import page_path, with_address
from bot.sources.schedule import MAX_BACKOFF, next_due
from bot.sources.store import SourceStore
from bot.state import BotState
from corpus.fetch import Fetcher, FetchPolicy
from corpus.parse import parse_article
from tests.bot_support import SAMPLES
from tests.conftest import FIXTURES, SEED_PAGE
from tests.web_server import FEED, HTML, Headers, Reply, WebServer, rss

HTML_NO_CHARSET = {"Content-Type": "text/html"}
ARTICLES = (
    "drcd/drcd-00109.html",
    "xquad/xquad-00003.html",
    "drcd/drcd-00106.html",
    "cmrc2018/cmrc2018-00065.html",
)


def policy(**changes: object) -> FetchPolicy:
    """Return the tests' fetch policy: loopback allowed, no waiting between requests or after errors."""
    values: dict[str, object] = {
        "allow": ("127.0.0.1",),
        "per_host_interval": 0.0,
        "backoff_base": 0.0,
        "timeout": 3.0,
    }
    values.update(changes)
    return FetchPolicy(**values)  # type: ignore[arg-type]


def open_corpus(root: Path, fetch_policy: FetchPolicy | None = None) -> LiveCorpus:
    (root / "corpus").mkdir(parents=True, exist_ok=True)
    store = SourceStore(BotState(root / "state.sqlite3"))
    return LiveCorpus(root / "corpus", Fetcher(fetch_policy or policy()), store, poll_minutes=30)


@pytest.fixture
def web() -> Iterator[WebServer]:
    with WebServer() as server:
        yield server


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveCorpus]:
    corpus = open_corpus(tmp_path)
    yield corpus
    corpus.fetcher.close()
    corpus.store.state.close()


def conditional(body: bytes, etag: str, headers: Headers | None = None) -> Reply:
    """Serve body with an ETag, and 304 to a request that names it."""
    head = {**(headers or HTML), "ETag": etag}
    return Reply(
        200,
        body,
        head,
        when=lambda h: Reply(304, b"", {"ETag": etag}) if h.get("if-none-match") == etag else None,
    )


def atom(web: WebServer, paths: list[str]) -> bytes:
    entries = "".join(
        f'<entry><title>{p}</title><id>{p}</id><link href="{web.url(p)}"/>'
        "<updated>2024-05-01T00:00:00Z</updated></entry>"
        for p in paths
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
        "<title>Atom 新闻</title>"
        f"<id>urn:x</id><updated>2024-05-01T00:00:00Z</updated>{entries}</feed>"
    ).encode()


def serve_articles(web: WebServer, names: tuple[str, ...] = ARTICLES) -> list[str]:
    """Serve sample pages at /news/<n>.html (with ETags) and return their paths."""
    paths = []
    for n, name in enumerate(names):
        path = f"/news/{n}.html"
        web.route(path, conditional((SAMPLES / name).read_bytes(), f'"a{n}"'))
        paths.append(path)
    return paths


def pages_in(live: LiveCorpus) -> list[Path]:
    return sorted(live.corpus_dir.rglob("*.html"))


def article_requests(web: WebServer) -> list[str]:
    return [p for p in web.paths() if p.startswith("/news/")]


# ---------------------------------------------------------------- add by URL


def test_an_add_does_not_wait_behind_another_hosts_turn(tmp_path: Path, web: WebServer) -> None:
    paths = serve_articles(web)
    waiting, release = threading.Event(), threading.Event()

    def sleep(seconds: float) -> None:  # a poll waiting for its host's next slot (a Crawl-delay)
        waiting.set()
        release.wait(10)

    (tmp_path / "corpus").mkdir()
    fetcher = Fetcher(
        policy(per_host_interval=60.0, respect_robots=False), resolver=lambda h, p: ["127.0.0.1"], sleep=sleep
    )
    live = LiveCorpus(tmp_path / "corpus", fetcher, SourceStore(BotState(tmp_path / "state.sqlite3")))
    slow = web.url(paths[0]).replace("127.0.0.1", "slow.test")
    assert live.add(slow).saved  # books slow.test's slot: its next request waits a minute
    poll = threading.Thread(target=live.add, args=(slow.replace("/0.html", "/1.html"),))
    poll.start()
    assert waiting.wait(5)
    outcome = live.add(web.url(paths[2]))  # another host: its turn is now
    assert outcome.saved and poll.is_alive()
    release.set()
    poll.join()
    fetcher.close()
    live.store.state.close()


def test_add_saves_the_page_under_its_url_and_the_parser_cites_it(live: LiveCorpus, web: WebServer) -> None:
    web.route("/world/2024/kim-letter.html", Reply(200, SEED_PAGE.read_bytes(), HTML))
    url = web.url("/world/2024/kim-letter.html")
    outcome = live.add(url)
    assert outcome.status == "added", outcome
    assert outcome.path is not None and outcome.path.startswith(f"web/127.0.0.1_{web.port}/kim-letter-")
    saved = live.corpus_dir / outcome.path
    article = parse_article(saved.read_bytes(), outcome.path)
    original = parse_article(SEED_PAGE.read_bytes(), "seed.html")
    assert article.url == url  # the seed page names no address: the one it came from was added
    assert (
        (outcome.title, outcome.outlet)
        == (original.title, original.outlet)
        == (article.title, article.outlet)
    )
    assert outcome.passages == len(article.paragraphs) > 5
    assert live.store.index_pending()


def test_adding_again_asks_conditionally_and_changes_nothing(live: LiveCorpus, web: WebServer) -> None:
    (path,) = serve_articles(web, ARTICLES[:1])
    first = live.add(web.url(path))
    mark = live.store.saved_mark()
    live.store.indexed(mark)
    stamp = (live.corpus_dir / str(first.path)).stat().st_mtime_ns
    again = live.add(web.url(path))
    assert again.status == "unchanged" and again.path == first.path and again.title == first.title
    assert web.requests[-1][1].get("if-none-match") == '"a0"'
    assert (live.corpus_dir / str(first.path)).stat().st_mtime_ns == stamp
    assert not live.store.index_pending()  # nothing for the reindex to do
    (live.corpus_dir / str(first.path)).unlink()  # an admin deletes the file to fetch it afresh
    fresh = live.add(web.url(path))
    assert fresh.status == "updated" and (live.corpus_dir / str(first.path)).is_file()
    assert "if-none-match" not in web.requests[-1][1] and live.store.index_pending()


def test_new_bytes_with_the_same_text_are_not_rewritten(live: LiveCorpus, web: WebServer) -> None:
    body = (SAMPLES / ARTICLES[0]).read_bytes()
    web.route("/p.html", Reply(200, body, HTML))
    first = live.add(web.url("/p.html"))
    live.store.indexed(live.store.saved_mark())
    web.route("/p.html", Reply(200, body.replace(b"</body>", b"<script>var ad=2;</script></body>"), HTML))
    again = live.add(web.url("/p.html"))
    assert again.status == "unchanged"
    assert (live.corpus_dir / str(first.path)).read_bytes() == body
    assert not live.store.index_pending()


def test_duplicates_by_canonical_url_and_by_text(live: LiveCorpus, web: WebServer) -> None:
    canonical_page = (SAMPLES / ARTICLES[0]).read_bytes()  # has <link rel="canonical">
    web.route("/a.html", Reply(200, canonical_page, HTML))
    web.route("/b.html", Reply(200, canonical_page, HTML))
    web.route("/x.html", Reply(200, SEED_PAGE.read_bytes(), HTML))  # no canonical: same text, two URLs
    web.route("/y.html", Reply(200, SEED_PAGE.read_bytes(), HTML))
    first = live.add(web.url("/a.html"))
    dup = live.add(web.url("/b.html"))
    assert dup.status == "duplicate" and dup.path == first.path
    seed = live.add(web.url("/x.html"))
    dup_text = live.add(web.url("/y.html"))
    assert dup_text.status == "duplicate" and dup_text.path == seed.path
    # Other text, but a rel=canonical on the same site naming a page already added: a duplicate too.
    other = (SAMPLES / ARTICLES[1]).read_bytes()
    web.route(
        "/print/x.html",
        Reply(200, with_address(other.replace(b'rel="canonical"', b'rel="x"'), web.url("/x.html")), HTML),
    )
    dup_canonical = live.add(web.url("/print/x.html"))
    assert dup_canonical.status == "duplicate" and dup_canonical.path == seed.path
    assert len(pages_in(live)) == 2
    # The canonical link of the first page names another site: the page is filed under where it came from.
    assert first.path is not None and first.path.startswith(f"web/127.0.0.1_{web.port}/a-")


@pytest.mark.parametrize("name", ["entry-big5.html", "entry-gb18030.html"])
def test_big5_and_gbk_pages_with_only_a_meta_charset(live: LiveCorpus, web: WebServer, name: str) -> None:
    data = (FIXTURES / "pages" / name).read_bytes()
    web.route("/p.html", Reply(200, data, HTML_NO_CHARSET))
    outcome = live.add(web.url("/p.html"))
    expected = parse_article(data, name)
    assert outcome.status == "added" and outcome.title == expected.title
    assert "\ufffd" not in (outcome.title or "") and outcome.passages == len(expected.paragraphs)


def _refusing_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again: nothing listens there


BAD_PAGES = {
    "404": (Reply(404, b"<html><body>Not Found</body></html>", HTML), r"not found \(404\)"),
    "410": (Reply(410, b"gone", HTML), r"gone \(410\)"),
    "error page": (
        Reply(200, b"<html><head><title>Error</title></head><body><h1>500</h1></body></html>", HTML),
        "not a news page",
    ),
    "redirect loop": (Reply(302, b"", {"Location": "/bad"}), "in a loop"),
    "to metadata": (
        Reply(302, b"", {"Location": "http://169.254.169.254/latest/meta-data/"}),
        "169.254.169.254",
    ),
    "to private": (Reply(301, b"", {"Location": "http://10.0.0.7/admin"}), r"10\.0\.0\.7"),
    "oversize": (Reply(200, b"<html>" + b"x" * 300_000, HTML), "larger than"),
    "endless": (
        Reply(200, headers=HTML, chunks=itertools.repeat(b"<p>x</p>" * 64), delay=0.0),
        "larger than",
    ),
    "slow": (
        Reply(200, headers=HTML, chunks=itertools.repeat(b"<p>x</p>"), delay=0.5),
        "longer than|in time",
    ),
    "not html": (Reply(200, b"%PDF-1.4", {"Content-Type": "application/pdf"}), "not an HTML page"),
}


@pytest.mark.parametrize("case", BAD_PAGES, ids=list(BAD_PAGES))
def test_bad_pages_are_refused_with_their_reason(tmp_path: Path, web: WebServer, case: str) -> None:
    reply, reason = BAD_PAGES[case]
    web.route("/bad", reply)
    live = open_corpus(tmp_path, policy(max_bytes=200_000, timeout=2.0))
    outcome = live.add(web.url("/bad"))
    assert outcome.status == "refused" and re.search(reason, str(outcome.reason)), outcome
    assert pages_in(live) == [] and not live.store.index_pending()


@pytest.mark.parametrize(
    ("robots", "allowed"),
    [
        (Reply(200, b"User-agent: *\nDisallow: /news/\n"), False),
        (Reply(503, b""), False),
        (Reply(404, b""), True),
    ],
    ids=["deny", "5xx", "absent"],
)
def test_robots_txt_is_honoured(live: LiveCorpus, web: WebServer, robots: Reply, allowed: bool) -> None:
    web.route("/robots.txt", robots)
    (path,) = serve_articles(web, ARTICLES[:1])
    outcome = live.add(web.url(path))
    assert (outcome.status == "added") is allowed, outcome
    assert allowed or "robots.txt" in str(outcome.reason)
    assert allowed or path not in web.paths()


def test_a_refusing_host_and_a_bad_address(live: LiveCorpus) -> None:
    refused = live.add(f"http://127.0.0.1:{_refusing_port()}/news.html")
    assert refused.status == "refused" and "refuses the connection" in str(refused.reason)
    assert "not an http(s) address" in str(live.add("ftp://example.com/x.html").reason)


def test_loopback_is_refused_unless_the_allow_list_names_it(tmp_path: Path, web: WebServer) -> None:
    (path,) = serve_articles(web, ARTICLES[:1])
    live = open_corpus(tmp_path, policy(allow=()))
    outcome = live.add(web.url(path))
    assert outcome.status == "refused" and "127.0.0.1" in str(outcome.reason)
    assert web.paths() == []


# ---------------------------------------------------------------- follow and poll


def test_rss_feed_polled_with_etag_and_items_that_vanish_stay(live: LiveCorpus, web: WebServer) -> None:
    paths = serve_articles(web)
    web.route("/feed.xml", conditional(rss(web, paths[:3], ttl=90), '"f1"', FEED))
    source = live.follow(web.url("/feed.xml"))
    assert (source.kind, source.title, source.feed_url) == ("rss", "新闻", web.url("/feed.xml"))
    first = live.poll_due(force=True)
    assert [p.status for p in first[0].pages] == ["added"] * 3
    (polled,) = live.store.sources()
    assert polled.status == "ok" and polled.pages_added == 3 and polled.etag == '"f1"'
    assert polled.next_check >= time.time() + 89 * 60  # the feed's TTL (90 min) over the default 30
    fetched = article_requests(web)
    assert sorted(fetched) == sorted(paths[:3])

    again = live.poll_due(force=True)
    assert again[0].status == "ok" and again[0].pages == ()
    assert web.requests[-1][1].get("if-none-match") == '"f1"'
    assert article_requests(web) == fetched  # an unchanged feed re-fetches no article

    # The first item leaves the feed and a fourth arrives: only the fourth is fetched; the first stays.
    web.route("/feed.xml", conditional(rss(web, paths[1:]), '"f2"', FEED))
    third = live.poll_due(force=True)
    assert [p.url for p in third[0].pages] == [web.url(paths[3])]
    assert article_requests(web) == [*fetched, paths[3]]
    assert len(pages_in(live)) == 4 and live.store.sources()[0].pages_added == 4


def test_an_html_page_that_links_an_atom_feed_is_followed_through_it(
    live: LiveCorpus, web: WebServer
) -> None:
    paths = serve_articles(web, ARTICLES[:2])
    web.route("/atom.xml", Reply(200, atom(web, paths), {"Content-Type": "application/atom+xml"}))
    link = b'<link rel="alternate" type="application/atom+xml" href="/atom.xml">'
    home = b"<html><head>" + link + b"</head><body>hi</body></html>"
    web.route("/", Reply(200, home, HTML))
    source = live.follow(web.url("/"))
    assert (source.kind, source.feed_url, source.url) == ("atom", web.url("/atom.xml"), web.url("/"))
    (outcome,) = live.poll_due(force=True)
    assert outcome.added == 2


def test_a_sitemap_index_is_followed_to_its_sitemaps(live: LiveCorpus, web: WebServer) -> None:
    paths = serve_articles(web, ARTICLES[:3])
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    urls = "".join(f"<url><loc>{web.url(p)}</loc></url>" for p in paths)
    xml = {"Content-Type": "application/xml"}
    web.route(
        "/sitemap-1.xml", Reply(200, f'<?xml version="1.0"?><urlset {ns}>{urls}</urlset>'.encode(), xml)
    )
    sitemap = f"<sitemap><loc>{web.url('/sitemap-1.xml')}</loc></sitemap>"
    index = f'<?xml version="1.0"?><sitemapindex {ns}>{sitemap}</sitemapindex>'
    web.route("/sitemap.xml", Reply(200, index.encode(), xml))
    source = live.follow(web.url("/sitemap.xml"))
    assert source.kind == "sitemapindex"
    (outcome,) = live.poll_due(force=True)
    assert outcome.added == 3 and outcome.items == 3


def test_a_page_without_a_feed_cannot_be_followed(live: LiveCorpus, web: WebServer) -> None:
    web.route("/", Reply(200, b"<html><body><p>no feed here</p></body></html>", HTML))
    with pytest.raises(SourceRefused, match="links no feed"):
        live.follow(web.url("/"))
    web.route("/gone.xml", Reply(404, b""))
    with pytest.raises(SourceRefused, match="404"):
        live.follow(web.url("/gone.xml"))
    assert live.store.sources() == []


def test_a_broken_source_gets_its_reason_and_backs_off_while_others_poll(
    live: LiveCorpus, web: WebServer
) -> None:
    paths = serve_articles(web, ARTICLES[:2])
    web.route("/good.xml", Reply(200, rss(web, paths), FEED))
    web.route("/bad.xml", Reply(200, rss(web, []), FEED))
    bad = live.follow(web.url("/bad.xml"))
    live.follow(web.url("/good.xml"))
    web.route("/bad.xml", Reply(200, b"<rss><channel><item>unclosed", FEED))
    before = time.time()
    outcomes = {o.source.id: o for o in live.poll_due(force=True)}
    assert "malformed XML" in outcomes[bad.id].status
    assert [o.added for i, o in outcomes.items() if i != bad.id] == [2]
    states = {s.id: s for s in live.store.sources()}
    assert states[bad.id].failures == 1 and "malformed XML" in states[bad.id].status
    assert states[bad.id].next_check >= before + 2 * 30 * 60  # backed off: twice the interval
    assert states[bad.id].last_ok is None and all(s.status == "ok" for i, s in states.items() if i != bad.id)
    web.route("/bad.xml", Reply(500, b""))
    live.poll_due(force=True)
    again = next(s for s in live.store.sources() if s.id == bad.id)
    assert again.failures == 2 and "500" in again.status and again.next_check >= before + 4 * 30 * 60


def test_an_item_whose_host_fails_is_retried_then_given_up(live: LiveCorpus, web: WebServer) -> None:
    paths = serve_articles(web, ARTICLES[:1])
    web.route("/flaky.html", Reply(503, b""))
    web.route("/feed.xml", conditional(rss(web, [*paths, "/flaky.html"]), '"f1"', FEED))
    live.follow(web.url("/feed.xml"))
    for attempt in range(MAX_TRIES):
        (outcome,) = live.poll_due(force=True)
        assert [p.status for p in outcome.pages][-1] == "refused"
        kept = live.store.sources()[0].etag
        # Validators are kept only once every item is done, else a 304 would hide the retry.
        assert (kept == '"f1"') is (attempt == MAX_TRIES - 1)
    assert web.paths().count("/flaky.html") == MAX_TRIES
    (last,) = live.poll_due(force=True)
    assert last.pages == () and web.paths().count("/flaky.html") == MAX_TRIES


def test_unfollow_by_id_or_url_keeps_the_pages(live: LiveCorpus, web: WebServer) -> None:
    paths = serve_articles(web, ARTICLES[:1])
    web.route("/feed.xml", Reply(200, rss(web, paths), FEED))
    source = live.follow(web.url("/feed.xml"))
    live.poll_due(force=True)
    assert live.unfollow("999") is None
    removed = live.unfollow(web.url("/feed.xml"))
    assert removed is not None and removed.id == source.id
    assert live.store.sources() == [] and len(pages_in(live)) == 1
    again = live.follow(web.url("/feed.xml"))
    assert again.id != source.id and live.unfollow(str(again.id)) is not None


def test_state_survives_a_restart(tmp_path: Path, web: WebServer) -> None:
    paths = serve_articles(web, ARTICLES[:2])
    web.route("/feed.xml", conditional(rss(web, paths), '"f1"', FEED))
    live = open_corpus(tmp_path)
    live.follow(web.url("/feed.xml"), every=5)
    live.poll_due(force=True)
    live.store.state.close()
    reopened = open_corpus(tmp_path)
    (source,) = reopened.store.sources()
    assert (source.every_minutes, source.pages_added, source.etag) == (5, 2, '"f1"')
    assert len(reopened.store.pages()) == 2 and reopened.store.index_pending()
    (outcome,) = reopened.poll_due(force=True)
    assert outcome.pages == () and len(article_requests(web)) == 2


def test_a_reindex_of_saved_pages_names_them_unless_another_process_saved_some(
    tmp_path: Path, web: WebServer
) -> None:
    paths = serve_articles(web, ARTICLES[:3])
    live = open_corpus(tmp_path)
    first, second = (live.add(web.url(p)).path for p in paths[:2])
    pending = live.pending()
    assert pending.pages == (first, second) and pending.mark == live.store.saved_mark()
    third = live.add(web.url(paths[2])).path  # saved while that reindex runs: still pending after it
    live.indexed(pending)
    assert live.pending().pages == (third,) and live.store.index_pending()
    live.indexed(live.pending())
    assert live.pending().pages == () and not live.store.index_pending()
    # Another process (here: a restart with pages saved but not indexed) makes the list unknown.
    (live.corpus_dir / str(first)).unlink()
    live.add(web.url(paths[0]))
    reopened = open_corpus(tmp_path)
    assert reopened.pending().pages is None
    reopened.indexed(reopened.pending())  # a reindex of every page: from now on the list is known
    assert reopened.pending().pages == ()
    live.add(web.url("/nothing.html"))  # refused (404): nothing saved, nothing pending
    live.store.record_page(live.store.pages()[0], new=False)  # as another process saving a page
    assert reopened.pending().pages is None
    for corpus in (live, reopened):
        corpus.fetcher.close()
        corpus.store.state.close()


# ---------------------------------------------------------------- pure parts


def test_next_due_takes_ttl_and_retry_after_as_minimums_and_backs_off() -> None:
    assert next_due(0, 30) == 1800
    assert next_due(0, 30, ttl_minutes=60) == 3600
    assert next_due(0, 30, ttl_minutes=10) == 1800
    assert next_due(0, 30, retry_after=7200) == 7200
    assert [next_due(0, 30, failures=n) for n in (1, 2, 3)] == [3600, 7200, 14400]
    assert next_due(0, 30, failures=50) == MAX_BACKOFF
    assert next_due(0, 3000, failures=5) == 3000 * 60  # the cap never shortens a long interval


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("https://news.example.com/2024/05/01/story.shtml", "web/news.example.com/story-"),
        ("https://Example.COM:8443/a/b/", "web/example.com_8443/b-"),
        ("https://example.com/", "web/example.com/index-"),
        ("https://example.com/%E6%96%B0%E9%97%BB/%E6%B6%88%E6%81%AF.html?id=7", "web/example.com/index-"),
        ("https://example.com/../../etc/passwd", "web/example.com/passwd-"),
    ],
)
def test_page_path_is_safe_and_named_from_the_url(url: str, name: str) -> None:
    path = page_path(url)
    assert path.startswith(name) and path.endswith(".html") and ".." not in path
    assert page_path(url) == path and page_path(url + "#x") != path


def test_with_address_keeps_a_gbk_page_readable() -> None:
    data = (FIXTURES / "pages" / "entry-gbk-nometa.html").read_bytes()
    marked = with_address(data, "https://example.com/a?b=1&c=<2>")
    assert b'<link rel="canonical" href="https://example.com/a?b=1&amp;c=&lt;2&gt;">' in marked
    assert parse_article(marked, "a.html").title == parse_article(data, "a.html").title


def test_retry_after_is_a_minimum_for_the_next_poll(live: LiveCorpus, web: WebServer) -> None:
    web.route("/feed.xml", Reply(200, rss(web, []), FEED))
    live.follow(web.url("/feed.xml"))
    web.route("/feed.xml", Reply(503, b"", {"Retry-After": "7200"}))
    before = time.time()
    (outcome,) = live.poll_due(force=True)
    assert "503" in outcome.status
    (source,) = live.store.sources()
    assert source.next_check >= before + 7200 > before + 2 * 30 * 60  # more than the backoff alone
    assert live.poll_due() == []  # not due

"""The fetcher against web servers on loopback: addresses, redirects, caps, deadline, robots, rates."""

from __future__ import annotations

import gzip
import ipaddress
import itertools
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest

from corpus.addresses import AllowList, address_refusal, check_address
from corpus.errors import CorpusError, FetchError
from corpus.fetch import Fetched, Fetcher, FetchPolicy
from corpus.parse import read_page
from tests.conftest import FIXTURES, SEED_PAGE
from tests.web_server import Reply, WebServer

LOOPBACK = FetchPolicy(allow=("127.0.0.1",), per_host_interval=0.0, timeout=5.0)
HTML = {"Content-Type": "text/html"}


@pytest.fixture
def web() -> Iterator[WebServer]:
    """Return a running loopback web server."""
    with WebServer() as server:
        yield server


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Record every address a socket is opened to (and still open it)."""
    opened: list[tuple[str, int]] = []
    real = socket.create_connection

    def spy(address: tuple[str, int], *args: object, **kwargs: object) -> socket.socket:
        opened.append(address)
        return real(address, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "create_connection", spy)
    return opened


class FakeClock:
    """A clock that moves only when the fetcher sleeps or the test advances it."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def fetcher(policy: FetchPolicy = LOOPBACK, **kwargs: object) -> Fetcher:
    """Return a fetcher that may reach the loopback test servers."""
    return Fetcher(policy, **kwargs)  # type: ignore[arg-type]


def fetch_error(fetch: Fetcher, url: str, **kwargs: str) -> FetchError:
    """Return the FetchError a fetch raises."""
    with pytest.raises(FetchError) as caught:
        fetch.get(url, **kwargs)  # type: ignore[arg-type]
    return caught.value


# --- what may be connected to -------------------------------------------------------------------


def test_loopback_is_refused_unless_the_allow_list_names_it(web: WebServer, connects: list) -> None:
    web.route("/a", Reply(200, b"<p>hi</p>", HTML))
    error = fetch_error(Fetcher(FetchPolicy(per_host_interval=0.0)), web.url("/a"))
    assert error.kind == "refused-address"
    assert "127.0.0.1" in error.reason and "loopback" in error.reason
    assert web.requests == [] and connects == []
    assert fetcher().get(web.url("/a")).content == b"<p>hi</p>"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1",
        "0.0.0.0", "224.0.0.1", "255.255.255.255", "240.0.0.1", "::1", "::", "fe80::1", "fc00::1",
        "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:0:a00:1", "::a00:1", "64:ff9b::a9fe:a9fe",
        "64:ff9b::808:808", "64:ff9b:1::a00:1", "2002:a9fe:a9fe::1", "2002:808:808::1",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    ],
)  # fmt: skip
def test_non_public_and_ipv4_embedding_addresses_are_refused(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.216.34", "2606:4700::6810:84e5", "2a00:1450::1"])
def test_public_addresses_pass(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_the_allow_list_takes_hosts_cidrs_and_embedded_forms() -> None:
    allow = AllowList.parse(("10.0.0.0/8", "intranet.example", "::1"))
    assert check_address(ipaddress.ip_address("10.9.9.9"), "x.test", allow) is None
    assert check_address(ipaddress.ip_address("::ffff:10.9.9.9"), "x.test", allow) is None
    assert check_address(ipaddress.ip_address("192.168.0.1"), "Intranet.Example.", allow) is None
    assert check_address(ipaddress.ip_address("192.168.0.1"), "x.test", allow) is not None
    assert check_address(ipaddress.ip_address("::1"), "x.test", allow) is None


def test_the_checked_address_is_connected_to_with_the_host_header_kept(
    web: WebServer, connects: list
) -> None:
    web.route("/a", Reply(200, b"<p>hi</p>", HTML))
    lookups: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"]

    fetch = fetcher(replace(LOOPBACK, allow=("127.0.0.1",)), resolver=resolver)
    assert fetch.get(web.url("/a", host="news.test")).status == 200
    assert web.requests[-1][1]["host"] == f"news.test:{web.port}"
    assert set(lookups) == {"news.test"} and set(connects) == {("127.0.0.1", web.port)}


def test_a_name_that_rebinds_to_a_private_address_is_refused_at_connection(web: WebServer) -> None:
    web.route("/a", Reply(200, b"<p>hi</p>", HTML))
    answers = iter([["8.8.8.8", "127.0.0.1"], ["10.0.0.7"]])
    fetch = fetcher(
        FetchPolicy(per_host_interval=0.0, respect_robots=False), resolver=lambda h, p: next(answers)
    )
    # One private address among the answers is enough: the connection could land on it.
    assert fetch_error(fetch, web.url("/a", host="rebind.test")).kind == "refused-address"
    assert "10.0.0.7" in fetch_error(fetch, web.url("/a", host="rebind.test")).reason
    assert web.requests == []


def test_https_connects_to_the_checked_address_with_the_host_name_for_sni_and_verification() -> None:
    tls = FIXTURES / "tls"
    with WebServer(tls=(tls / "news.test.pem", tls / "news.test.key")) as web:
        web.route("/a", Reply(200, b"<p>secure</p>", HTML))
        fetch = fetcher(resolver=lambda host, port: ["127.0.0.1"], ca_file=str(tls / "ca.pem"))
        assert fetch.get(web.url("/a", host="news.test", scheme="https")).content == b"<p>secure</p>"
        assert web.server_names and set(web.server_names) == {"news.test"}
        # The same server under another name: the certificate is checked against the URL's host.
        error = fetch_error(fetch, web.url("/a", host="other.test", scheme="https"))
        assert error.kind == "tls" and "certificate" in error.reason
        # Without the test CA the certificate is not trusted at all.
        untrusted = fetcher(resolver=lambda host, port: ["127.0.0.1"])
        assert fetch_error(untrusted, web.url("/b", host="news.test", scheme="https")).kind == "tls"


def test_a_listed_host_may_resolve_to_loopback(web: WebServer) -> None:
    web.route("/a", Reply(200, b"<p>hi</p>", HTML))
    policy = FetchPolicy(allow=("news.test",), per_host_interval=0.0)
    fetch = fetcher(policy, resolver=lambda h, p: ["127.0.0.1"])
    assert fetch.get(web.url("/a", host="news.test")).status == 200
    assert fetch_error(fetcher(policy), web.url("/a")).kind == "refused-address"


def test_a_name_that_does_not_resolve_in_time_is_a_dns_error(web: WebServer) -> None:
    def stuck(host: str, port: int) -> list[str]:
        time.sleep(60)
        return ["127.0.0.1"]

    started = time.monotonic()
    fetch = fetcher(replace(LOOPBACK, timeout=0.3, respect_robots=False), resolver=stuck)
    error = fetch_error(fetch, web.url("/a", host="slow-dns.test"))
    assert error.kind == "dns" and "slow-dns.test" in error.reason
    assert time.monotonic() - started < 20.0


def test_a_name_that_does_not_exist_is_a_dns_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def nxdomain(*args: object, **kwargs: object) -> list[object]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", nxdomain)  # the system resolver, without asking DNS
    error = fetch_error(fetcher(replace(LOOPBACK, respect_robots=False)), "http://no-such-host.invalid/a")
    assert error.kind == "dns" and "no-such-host.invalid" in error.reason


def test_environment_proxies_are_ignored(web: WebServer, monkeypatch: pytest.MonkeyPatch) -> None:
    web.route("/a", Reply(200, b"<p>hi</p>", HTML))
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")  # the discard port: nothing answers there
    assert fetcher().get(web.url("/a")).status == 200


@pytest.mark.parametrize(
    "url", ["ftp://example.com/a", "file:///etc/passwd", "gopher://x.test/", "javascript:1"]
)
def test_only_http_and_https_are_fetched(url: str) -> None:
    assert fetch_error(fetcher(), url).kind == "scheme"


# --- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/admin"])
def test_a_redirect_to_metadata_or_a_private_address_is_refused_before_connecting(
    web: WebServer, connects: list, target: str
) -> None:
    web.route("/a", Reply(302, headers={"Location": "/b"}))
    web.route("/b", Reply(301, headers={"Location": target}))
    error = fetch_error(fetcher(), web.url("/a"))
    assert error.kind == "refused-address"
    assert target.split("/")[2] in error.reason
    assert {address for address, _ in connects} == {"127.0.0.1"}
    assert web.paths() == ["/robots.txt", "/a", "/b"]


def test_a_redirect_to_another_scheme_is_refused(web: WebServer) -> None:
    web.route("/a", Reply(302, headers={"Location": "file:///etc/passwd"}))
    assert fetch_error(fetcher(), web.url("/a")).kind == "scheme"


def test_a_redirect_loop_is_detected(web: WebServer) -> None:
    web.route("/a", Reply(302, headers={"Location": "/b"}))
    web.route("/b", Reply(307, headers={"Location": "/a"}))
    error = fetch_error(fetcher(), web.url("/a"))
    assert error.kind == "redirect-loop" and "/a" in error.reason


def test_five_redirects_are_followed_and_a_sixth_is_refused(web: WebServer) -> None:
    for hop in range(6):
        web.route(f"/r{hop}", Reply(301, headers={"Location": f"/r{hop + 1}"}))
    web.route("/r6", Reply(200, b"<p>end</p>", HTML))
    fetched = fetcher().get(web.url("/r1"))
    assert fetched.final_url == web.url("/r6") and fetched.url == web.url("/r1")
    assert fetch_error(fetcher(), web.url("/r0")).kind == "redirects"


# --- sizes and time -----------------------------------------------------------------------------


def test_a_body_over_the_cap_is_refused_by_its_content_length_without_reading_it(web: WebServer) -> None:
    # The server announces 100 MB and sends 10 bytes: reading would end in a broken connection.
    web.route("/big", Reply(200, b"x" * 10, {**HTML, "Content-Length": "100000000"}))
    error = fetch_error(fetcher(replace(LOOPBACK, max_bytes=1000)), web.url("/big"))
    assert error.kind == "too-large" and "1,000" in error.reason


def test_a_streamed_body_over_the_cap_is_cut(web: WebServer) -> None:
    web.route("/big", Reply(200, headers=HTML, chunks=[b"x" * 100] * 50))
    assert fetch_error(fetcher(replace(LOOPBACK, max_bytes=1000)), web.url("/big")).kind == "too-large"
    assert len(fetcher(replace(LOOPBACK, max_bytes=5000)).get(web.url("/big")).content) == 5000


def test_a_gzip_bomb_is_cut_at_the_cap_after_decompression(web: WebServer) -> None:
    bomb = gzip.compress(b"\0" * 10_000_000)
    web.route("/bomb", Reply(200, bomb, {**HTML, "Content-Encoding": "gzip"}))
    web.route("/small", Reply(200, gzip.compress(b"<p>ok</p>"), {**HTML, "Content-Encoding": "gzip"}))
    assert fetch_error(fetcher(replace(LOOPBACK, max_bytes=100_000)), web.url("/bomb")).kind == "too-large"
    assert fetcher().get(web.url("/small")).content == b"<p>ok</p>"


def test_a_slow_endless_body_ends_at_the_deadline(web: WebServer) -> None:
    web.route("/slow", Reply(200, headers=HTML, chunks=itertools.repeat(b"x", 2000), delay=0.05))
    started = time.monotonic()
    error = fetch_error(fetcher(replace(LOOPBACK, timeout=1.0)), web.url("/slow"))
    assert error.kind == "timeout"
    assert time.monotonic() - started < 8.0


def test_a_silent_server_times_out(web: WebServer) -> None:
    web.route("/mute", Reply(200, headers=HTML, chunks=iter([b"<p>"]), delay=30.0))
    started = time.monotonic()
    assert fetch_error(fetcher(replace(LOOPBACK, timeout=0.5)), web.url("/mute")).kind == "timeout"
    assert time.monotonic() - started < 8.0


# --- statuses, conditional GET, decoding --------------------------------------------------------


@pytest.mark.parametrize("status,kind", [(404, "http-404"), (410, "http-410"), (403, "http-403")])
def test_error_statuses_have_their_kind(web: WebServer, status: int, kind: str) -> None:
    web.route("/x", Reply(status, b"<p>no</p>", HTML))
    assert fetch_error(fetcher(), web.url("/x")).kind == kind


def test_a_page_that_is_not_html_is_refused_but_a_feed_is_not(web: WebServer) -> None:
    web.route("/img", Reply(200, b"\x89PNG", {"Content-Type": "image/png"}))
    assert fetch_error(fetcher(), web.url("/img")).kind == "not-html"
    web.route("/feed", Reply(200, b"<rss/>", {"Content-Type": "application/rss+xml"}))
    assert fetcher().get(web.url("/feed"), kind="feed").content == b"<rss/>"


def test_conditional_get_sends_validators_and_returns_304_empty(web: WebServer) -> None:
    def unchanged(headers: dict[str, str]) -> Reply | None:
        if headers.get("if-none-match") == '"v1"' or headers.get("if-modified-since"):
            return Reply(304, headers={"ETag": '"v1"'})
        return None

    web.route(
        "/p",
        Reply(
            200,
            b"<p>v1</p>",
            {**HTML, "ETag": '"v1"', "Last-Modified": "Sat, 05 Dec 2026 01:00:00 GMT"},
            when=unchanged,
        ),
    )
    fetch = fetcher()
    first = fetch.get(web.url("/p"))
    assert (first.status, first.etag, first.last_modified) == (200, '"v1"', "Sat, 05 Dec 2026 01:00:00 GMT")
    again = fetch.get(web.url("/p"), etag=first.etag)
    assert (again.status, again.content) == (304, b"")
    assert web.requests[-1][1]["if-none-match"] == '"v1"'
    dated = fetch.get(web.url("/p"), last_modified=first.last_modified)
    assert dated.status == 304 and web.requests[-1][1]["if-modified-since"] == first.last_modified


@pytest.mark.parametrize("codec,label", [("gbk", "gbk"), ("gb18030", "gb2312"), ("big5", "big5")])
def test_chinese_pages_with_only_a_meta_charset_decode_right(web: WebServer, codec: str, label: str) -> None:
    text = "新华社北京电 国务院总理今日在人民大会堂会见来访的外国领导人，双方就经济合作交换了意见。"
    if label == "big5":
        text = "中央社台北電 行政院長今日在立法院答詢時表示，將持續推動經濟發展與區域合作。"
    page = f'<html><head><meta charset="{label}"><title>News</title></head><body><p>{text}</p></body></html>'
    web.route("/p", Reply(200, page.encode(codec), {"Content-Type": "text/html"}))
    fetched = fetcher().get(web.url("/p"))
    assert text in fetched.text()


def test_the_http_charset_comes_before_detection(web: WebServer) -> None:
    # A KOI8-R page without <meta> is misread by detection; only the header names its charset.
    russian = "Президент провёл встречу с министрами"
    web.route(
        "/ru", Reply(200, f"<p>{russian}</p>".encode("koi8-r"), {"Content-Type": "text/html; charset=KOI8-R"})
    )
    assert russian in fetcher().get(web.url("/ru")).text()
    text = "国务院总理今日会见来访的外国领导人。" * 3
    web.route("/p", Reply(200, f"<p>{text}</p>".encode("gbk"), {"Content-Type": "text/html; charset=GBK"}))
    web.route(
        "/latin",
        Reply(200, f"<p>{text}</p>".encode("gbk"), {"Content-Type": "text/html; charset=iso-8859-1"}),
    )
    assert text in fetcher().get(web.url("/p")).text()
    # The server default (latin-1) is no declaration at all: the page's bytes decide.
    assert text in fetcher().get(web.url("/latin")).text()


def test_a_page_of_the_seed_layout_parses_from_the_fetched_bytes(web: WebServer) -> None:
    web.route(
        "/news/seed.html", Reply(200, SEED_PAGE.read_bytes(), {"Content-Type": "text/html; charset=utf-8"})
    )
    fetched = fetcher().get(web.url("/news/seed.html"))
    article, _notes = read_page(fetched.content, "seed.html")
    expected, _ = read_page(SEED_PAGE.read_bytes(), "seed.html")
    assert article == expected and len(article.paragraphs) > 3


# --- robots.txt ---------------------------------------------------------------------------------

ROBOTS = b"User-agent: *\nDisallow: /private\n\nUser-agent: quotebot\nDisallow: /nobots\nAllow: /nobots/ok\n"


def test_robots_txt_allows_and_denies_and_is_fetched_once(web: WebServer) -> None:
    web.route("/robots.txt", Reply(200, ROBOTS, {"Content-Type": "text/plain"}))
    for path in ("/public", "/private", "/nobots/x", "/nobots/ok"):
        web.route(path, Reply(200, b"<p>x</p>", HTML))
    fetch = fetcher()
    assert fetch.get(web.url("/public")).status == 200
    # The quotebot group replaces the * group (RFC 9309 2.2.1): /private is not ours to skip.
    assert fetch.get(web.url("/private")).status == 200
    error = fetch_error(fetch, web.url("/nobots/x"))
    assert error.kind == "robots" and "robots.txt" in error.reason
    assert fetch.get(web.url("/nobots/ok")).status == 200
    assert web.paths().count("/robots.txt") == 1
    assert "/nobots/x" not in web.paths()


def test_robots_txt_is_asked_for_without_the_urls_credentials(web: WebServer) -> None:
    web.route("/a", Reply(200, b"<p>x</p>", HTML))
    fetcher().get(f"http://reader:secret@127.0.0.1:{web.port}/a")
    [(_, robots_headers), (_, page_headers)] = web.requests
    assert "authorization" not in robots_headers and "authorization" in page_headers


def test_robots_txt_4xx_allows_all(web: WebServer) -> None:
    web.route("/a", Reply(200, b"<p>x</p>", HTML))
    assert fetcher().get(web.url("/a")).status == 200  # /robots.txt is a 404 here
    assert web.paths() == ["/robots.txt", "/a"]
    assert all(headers["user-agent"].startswith("quotebot/") for _, headers in web.requests)


def test_robots_txt_5xx_or_unreachable_disallows_all(web: WebServer) -> None:
    web.route("/robots.txt", Reply(503, b"down"))
    web.route("/a", Reply(200, b"<p>x</p>", HTML))
    error = fetch_error(fetcher(), web.url("/a"))
    assert error.kind == "robots" and "unavailable" in error.reason
    assert "/a" not in web.paths()


def test_robots_txt_can_be_ignored_by_policy(web: WebServer) -> None:
    web.route("/robots.txt", Reply(200, b"User-agent: *\nDisallow: /\n"))
    web.route("/a", Reply(200, b"<p>x</p>", HTML))
    assert fetcher(replace(LOOPBACK, respect_robots=False)).get(web.url("/a")).status == 200
    assert web.paths() == ["/a"]


def test_robots_txt_is_fetched_again_after_its_ttl(web: WebServer) -> None:
    web.route("/robots.txt", Reply(200, b"User-agent: *\nAllow: /\n"))
    web.route("/a", Reply(200, b"<p>x</p>", HTML))
    clock = FakeClock()
    fetch = fetcher(replace(LOOPBACK, robots_ttl=100.0), clock=clock, sleep=clock.sleep)
    fetch.get(web.url("/a"))
    clock.now += 50
    fetch.get(web.url("/a"))
    clock.now += 60
    fetch.get(web.url("/a"))
    assert web.paths().count("/robots.txt") == 2


# --- politeness: rate, Retry-After, backoff -----------------------------------------------------


def test_requests_to_one_host_keep_the_minimum_gap(web: WebServer) -> None:
    web.route("/a", Reply(200, b"<p>x</p>", HTML))
    clock = FakeClock()
    fetch = fetcher(
        replace(LOOPBACK, per_host_interval=2.0, respect_robots=False), clock=clock, sleep=clock.sleep
    )
    fetch.get(web.url("/a"))
    fetch.get(web.url("/a"))
    clock.now += 0.5
    fetch.get(web.url("/a"))
    clock.now += 10
    fetch.get(web.url("/a"))
    assert clock.sleeps == [2.0, 1.5]


def test_threads_sharing_a_fetcher_keep_the_gap_between_them(web: WebServer) -> None:
    web.route("/a", Reply(200, b"<p>x</p>", HTML))
    fetch = fetcher(replace(LOOPBACK, per_host_interval=0.25, respect_robots=False))
    with ThreadPoolExecutor(4) as pool:
        assert [f.status for f in pool.map(lambda _: fetch.get(web.url("/a")), range(4))] == [200] * 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(web.times)]
    assert len(gaps) == 3 and min(gaps) > 0.2


def test_the_robots_request_counts_toward_the_gap_and_crawl_delay_widens_it(web: WebServer) -> None:
    web.route("/robots.txt", Reply(200, b"User-agent: *\nCrawl-delay: 5\n"))
    web.route("/a", Reply(200, b"<p>x</p>", HTML))
    clock = FakeClock()
    fetch = fetcher(replace(LOOPBACK, per_host_interval=1.0), clock=clock, sleep=clock.sleep)
    fetch.get(web.url("/a"))
    fetch.get(web.url("/a"))
    assert clock.sleeps == [5.0, 5.0]


def test_retry_after_is_honoured_and_the_host_backs_off_without_requests(web: WebServer) -> None:
    web.route("/a", Reply(503, b"busy", {"Retry-After": "120"}))
    clock = FakeClock()
    policy = replace(LOOPBACK, respect_robots=False, backoff_base=10.0)
    fetch = fetcher(policy, clock=clock, sleep=clock.sleep)
    error = fetch_error(fetch, web.url("/a"))
    assert (error.kind, error.retry_after) == ("http-5xx", 120.0)
    clock.now += 100
    waiting = fetch_error(fetch, web.url("/a"))
    assert waiting.kind == "backoff" and waiting.retry_after == pytest.approx(20.0)
    assert web.paths() == ["/a"]
    clock.now += 21
    web.route("/a", Reply(200, b"<p>back</p>", HTML))
    assert fetch.get(web.url("/a")).content == b"<p>back</p>"


def test_backoff_doubles_per_failure_in_a_row_and_resets_on_success(web: WebServer) -> None:
    web.route("/a", Reply(500, b"broken"))
    clock = FakeClock()
    fetch = fetcher(
        replace(LOOPBACK, respect_robots=False, backoff_base=10.0), clock=clock, sleep=clock.sleep
    )
    waits = []
    for _ in range(3):
        assert fetch_error(fetch, web.url("/a")).kind == "http-5xx"
        waits.append(fetch_error(fetch, web.url("/a")).retry_after)
        clock.now += waits[-1] or 0
    assert waits == [10.0, 20.0, 40.0]
    web.route("/a", Reply(200, b"<p>ok</p>", HTML))
    fetch.get(web.url("/a"))
    web.route("/a", Reply(500, b"broken"))
    fetch_error(fetch, web.url("/a"))
    assert fetch_error(fetch, web.url("/a")).retry_after == 10.0


def test_a_refused_connection_is_a_connect_error_and_backs_off() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    fetch = fetcher(replace(LOOPBACK, respect_robots=False))
    assert fetch_error(fetch, f"http://127.0.0.1:{port}/a").kind == "connect"
    assert fetch_error(fetch, f"http://127.0.0.1:{port}/a").kind == "backoff"


def test_outcomes_are_reported_for_metrics(web: WebServer) -> None:
    web.route(
        "/a",
        Reply(
            200,
            b"<p>x</p>",
            {**HTML, "ETag": '"e"'},
            when=lambda h: Reply(304) if "if-none-match" in h else None,
        ),
    )
    seen: list[tuple[str, str]] = []
    fetch = fetcher(on_fetch=lambda kind, outcome: seen.append((kind, outcome)))
    fetch.get(web.url("/a"))
    fetch.get(web.url("/a"), etag='"e"')
    fetch_error(fetch, web.url("/missing"))
    assert seen == [("robots", "http-404"), ("page", "ok"), ("page", "not-modified"), ("page", "http-404")]


def test_fetch_error_is_a_corpus_error_and_pickles() -> None:
    import pickle

    error = pickle.loads(pickle.dumps(FetchError("timeout", "x took too long", retry_after=3.0)))
    assert isinstance(error, CorpusError) and (error.kind, error.reason, error.retry_after) == (
        "timeout",
        "x took too long",
        3.0,
    )
    assert isinstance(Fetched("u", "u", 304, b"", "", None, None, None).text(), str)

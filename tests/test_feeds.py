"""Feeds, sitemaps, feed discovery and canonical URLs, parsed from bytes fetched off loopback servers."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import pytest

from corpus.errors import CorpusError
from corpus.feeds import Feed, FeedItem, canonical_url, discover_feeds, normalise_url, parse_feed
from corpus.fetch import Fetcher, FetchPolicy
from tests.web_server import Headers, Reply, WebServer

LOOPBACK = FetchPolicy(allow=("127.0.0.1",), per_host_interval=0.0, timeout=5.0)

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel>
  <title>新华网 要闻</title><link>http://news.test/</link><ttl>15</ttl>
  <item><title>国务院常务会议召开</title><link>/2026-12/05/c_1.htm</link>
    <guid isPermaLink="false">c_1</guid><pubDate>Sat, 05 Dec 2026 10:00:00 +0800</pubDate>
    <description>摘要……</description></item>
  <item><title>无链接的条目</title><description>只有摘要</description></item>
  <item><title>第二条</title><link>http://news.test/2026-12/05/c_2.htm</link></item>
</channel></rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>中央社 即時</title><id>urn:feed</id>
  <updated>2026-12-05T02:00:00Z</updated>
  <entry><title>行政院會通過預算</title><id>urn:cna:1</id>
    <link rel="alternate" type="text/html" href="https://cna.test/news/1.aspx"/>
    <link rel="enclosure" href="https://cna.test/img/1.jpg"/>
    <updated>2026-12-05T01:02:03Z</updated></entry>
</feed>
"""

SITEMAP = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <url><loc>https://news.test/a/1.html</loc><lastmod>2026-12-01</lastmod></url>
  <url><loc> https://news.test/a/2.html </loc></url>
  <url><loc>javascript:alert(1)</loc></url>
</urlset>
"""

SITEMAP_INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
  <sitemap><loc>https://news.test/sitemap-1.xml</loc><lastmod>2026-12-01</lastmod></sitemap>
  <sitemap><loc>https://news.test/sitemap-2.xml.gz</loc></sitemap>
</sitemapindex>
"""


@pytest.fixture
def web() -> Iterator[WebServer]:
    """Return a running loopback web server."""
    with WebServer() as server:
        yield server


def with_etag(body: bytes, etag: str, content_type: str) -> Reply:
    """Serve body with an ETag, and 304 to a request that sends it back."""

    def unchanged(headers: Headers) -> Reply | None:
        return Reply(304, headers={"ETag": etag}) if headers.get("if-none-match") == etag else None

    return Reply(200, body, {"Content-Type": content_type, "ETag": etag}, when=unchanged)


def test_an_rss_feed_is_fetched_parsed_and_then_not_modified(web: WebServer) -> None:
    web.route("/rss.xml", with_etag(RSS.encode(), '"r1"', "application/rss+xml"))
    fetch = Fetcher(LOOPBACK)
    fetched = fetch.get(web.url("/rss.xml"), kind="feed")
    feed = parse_feed(fetched.content, fetched.final_url)
    assert (feed.kind, feed.title, feed.ttl_minutes, feed.sub_sitemaps) == ("rss", "新华网 要闻", 15, ())
    assert feed.items == (
        FeedItem(web.url("/2026-12/05/c_1.htm"), "国务院常务会议召开", "2026-12-05T02:00:00Z", "c_1"),
        FeedItem("http://news.test/2026-12/05/c_2.htm", "第二条", None, None),
    )
    again = fetch.get(web.url("/rss.xml"), kind="feed", etag=fetched.etag)
    assert (again.status, again.content, again.etag) == (304, b"", '"r1"')


def test_an_atom_feed_is_fetched_parsed_and_then_not_modified(web: WebServer) -> None:
    web.route("/atom", with_etag(ATOM.encode(), 'W/"a1"', "application/atom+xml; charset=utf-8"))
    fetch = Fetcher(LOOPBACK)
    fetched = fetch.get(web.url("/atom"), kind="feed")
    feed = parse_feed(fetched.content, fetched.final_url)
    assert (feed.kind, feed.title, feed.ttl_minutes) == ("atom", "中央社 即時", None)
    assert feed.items == (
        FeedItem("https://cna.test/news/1.aspx", "行政院會通過預算", "2026-12-05T01:02:03Z", "urn:cna:1"),
    )
    assert fetch.get(web.url("/atom"), kind="feed", etag=fetched.etag).status == 304


def test_relative_links_resolve_against_the_feed_url() -> None:
    feed = parse_feed(RSS.encode(), "http://mirror.test/feeds/rss.xml")
    # The channel's own <link> does not move the items: feedparser resolves against the document URL.
    assert feed.items[0].url in (
        "http://mirror.test/2026-12/05/c_1.htm",
        "http://news.test/2026-12/05/c_1.htm",
    )


def test_a_gbk_feed_decodes_by_its_xml_declaration() -> None:
    body = RSS.replace('encoding="UTF-8"', 'encoding="GBK"').encode("gbk")
    assert parse_feed(body, "http://news.test/rss.xml").title == "新华网 要闻"


def test_a_sitemap_and_a_sitemap_index_are_fetched_and_parsed(web: WebServer) -> None:
    web.route("/sitemap.xml", Reply(200, SITEMAP, {"Content-Type": "application/xml"}))
    web.route(
        "/sitemap-index.xml.gz",
        Reply(200, gzip.compress(SITEMAP_INDEX), {"Content-Type": "application/gzip"}),
    )
    fetch = Fetcher(LOOPBACK)
    sitemap = parse_feed(fetch.get(web.url("/sitemap.xml"), kind="sitemap").content, web.url("/sitemap.xml"))
    assert sitemap == Feed(
        "sitemap",
        "",
        (
            FeedItem("https://news.test/a/1.html", "", "2026-12-01", None),
            FeedItem("https://news.test/a/2.html", "", None, None),
        ),
        None,
        (),
    )
    index_url = web.url("/sitemap-index.xml.gz")
    index = parse_feed(fetch.get(index_url, kind="sitemap").content, index_url)
    assert index.kind == "sitemapindex" and index.items == ()
    assert index.sub_sitemaps == ("https://news.test/sitemap-1.xml", "https://news.test/sitemap-2.xml.gz")


@pytest.mark.parametrize(
    "body,words",
    [
        (b'<?xml version="1.0"?><rss version="2.0"><channel><item><title>x</title>', "malformed XML"),
        (b"<rss><channel><title>a & b</title></channel></rss>", "malformed XML"),
        (b"", "malformed XML"),
        (b"<!DOCTYPE html><html><body><p>404 Not Found</p></body></html>", "<html>"),
        (b'{"items": []}', "malformed XML"),
        (b"<opml version='2.0'><body/></opml>", "not an RSS or Atom feed or a sitemap"),
        (b"\x1f\x8b\x08\x00broken", "broken gzip"),
    ],
)
def test_what_is_not_a_feed_gets_a_clear_reason_naming_the_url(body: bytes, words: str) -> None:
    with pytest.raises(CorpusError) as caught:
        parse_feed(body, "http://news.test/feed")
    assert words in str(caught.value) and "http://news.test/feed" in str(caught.value)


def test_a_feed_with_a_bare_ampersand_is_read_leniently(caplog: pytest.LogCaptureFixture) -> None:
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>A & B</title>'
    body += b"<item><title>x</title><link>http://a.test/1?x=1&y=2</link></item></channel></rss>"
    feed = parse_feed(body, "http://a.test/rss")
    assert (feed.title, [item.url for item in feed.items]) == ("A & B", ["http://a.test/1?x=1&y=2"])
    assert "malformed XML" in caplog.text


def test_a_newline_before_the_xml_declaration_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    sitemap = parse_feed(b"\n\n" + SITEMAP, "http://news.test/sitemap.xml")
    assert len(sitemap.items) == 2 and "malformed" not in caplog.text


def test_entities_in_a_feed_or_sitemap_are_not_expanded(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("http://secret.test/", encoding="utf-8")
    dtd = f'<!DOCTYPE x [<!ENTITY x SYSTEM "{secret.as_uri()}"><!ENTITY y "http://inner.test/">]>'
    rss = f"""<?xml version="1.0"?>{dtd}
<rss version="2.0"><channel><title>&x;</title><item><link>http://a.test/1</link></item></channel></rss>"""
    feed = parse_feed(rss.encode(), "http://a.test/rss")
    assert "secret" not in feed.title and feed.items[0].url == "http://a.test/1"
    sitemap = f"""<?xml version="1.0"?>{dtd}<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>&x;</loc></url><url><loc>&y;a</loc></url><url><loc>http://a.test/2</loc></url></urlset>"""
    assert [item.url for item in parse_feed(sitemap.encode(), "http://a.test/s.xml").items] == [
        "http://a.test/2"
    ]


PAGE = """<!DOCTYPE html><html><head><title>要闻</title>
<link rel="alternate" type="application/rss+xml" title="RSS" href="/rss/news.xml">
<link rel="alternate" type="application/atom+xml" href="https://feeds.news.test/atom">
<link rel="alternate" type="application/rss+xml" href="/rss/news.xml">
<link rel="alternate" hreflang="en" href="/en/">
<link rel="stylesheet" type="text/css" href="/s.css">
<link rel="canonical" href="/news/2026/1205/a.html?utm_source=rss&amp;id=7#top">
</head><body><p>正文</p></body></html>"""


def test_feeds_are_discovered_from_a_fetched_html_page(web: WebServer) -> None:
    web.route("/news/", Reply(200, PAGE.encode(), {"Content-Type": "text/html; charset=utf-8"}))
    fetched = Fetcher(LOOPBACK).get(web.url("/news/"))
    assert discover_feeds(fetched.text(), fetched.final_url) == [
        web.url("/rss/news.xml"),
        "https://feeds.news.test/atom",
    ]


def test_feed_discovery_honours_base_and_finds_nothing_in_plain_pages() -> None:
    page = (
        '<html><head><base href="https://cdn.test/x/">'
        '<link rel="alternate" type="application/rss+xml" href="f.xml"></head></html>'
    )
    assert discover_feeds(page, "https://news.test/") == ["https://cdn.test/x/f.xml"]
    assert discover_feeds("<p>no head</p>", "https://news.test/") == []
    assert discover_feeds("", "https://news.test/") == []


def test_the_canonical_url_comes_from_the_page_normalised() -> None:
    assert canonical_url(PAGE, "HTTP://News.Test:80/x?b=1") == "http://news.test/news/2026/1205/a.html?id=7"
    assert canonical_url("<p>none</p>", "HTTP://News.Test:80/x?b=1#f") == "http://news.test/x?b=1"
    assert canonical_url(None, "https://news.test/x") == "https://news.test/x"
    bad = '<link rel="canonical" href="javascript:void(0)">'
    assert canonical_url(bad, "https://news.test/x") == "https://news.test/x"


@pytest.mark.parametrize(
    "url,expected",
    [
        ("HTTPS://News.Test:443/a", "https://news.test/a"),
        ("http://news.test:80", "http://news.test/"),
        ("http://news.test:8080/a#frag", "http://news.test:8080/a"),
        ("https://news.test/a?z=1&a=2&utm_source=rss&UTM_Medium=x", "https://news.test/a?a=2&z=1"),
        ("https://news.test/a?utm_campaign=x", "https://news.test/a"),
        ("https://news.test/新闻/a.html?q=中", "https://news.test/新闻/a.html?q=%E4%B8%AD"),
        ("https://[2001:DB8::1]:443/a", "https://[2001:db8::1]/a"),
        ("https://News.Test./a", "https://news.test/a"),
    ],
)
def test_normalise_url(url: str, expected: str) -> None:
    assert normalise_url(url) == expected
    assert normalise_url(expected) == expected


@pytest.mark.parametrize("url", ["http://[::1/a", "http://news.test:99999/a", "http://news.test:port/"])
def test_normalise_url_returns_what_it_cannot_parse_unchanged(url: str) -> None:
    assert normalise_url(f" {url} ") == url

"""Pure parsing of what a followed source serves: RSS/Atom feeds, sitemaps, feed links, canonical URLs."""

from __future__ import annotations

import gzip
import logging
import re
import time
import zlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import feedparser
from lxml import etree
from lxml import html as lxml_html

from corpus.errors import CorpusError

log = logging.getLogger(__name__)

FEED_TYPES = frozenset({"application/rss+xml", "application/atom+xml", "application/rdf+xml"})
MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # sitemaps.org: at most 50 MB uncompressed
_DEFAULT_PORTS = {"http": 80, "https": 443}
_FEED_ROOT = re.compile(rb"<(?:rss|feed|rdf:RDF)[\s>]")


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed or sitemap: the article's URL, its title and date when given, its id."""

    url: str
    title: str
    published: str | None
    guid: str | None


@dataclass(frozen=True)
class Feed:
    """A parsed source: its kind, title, items, TTL (RSS <ttl>) and, for an index, its sitemaps."""

    kind: str  # "rss" | "atom" | "sitemap" | "sitemapindex"
    title: str
    items: tuple[FeedItem, ...]
    ttl_minutes: int | None
    sub_sitemaps: tuple[str, ...]


def parse_feed(content: bytes, url: str) -> Feed:
    """Parse an RSS/Atom feed or a sitemap (index); raise CorpusError naming url when it is neither."""
    # PHP sites often print a newline before the XML declaration, which XML forbids.
    content = _gunzipped(content, url).lstrip(b" \t\r\n")
    try:
        root = etree.fromstring(content, _safe_parser())
    except etree.XMLSyntaxError as exc:
        return _recovered_feed(content, url, exc)
    name = etree.QName(root).localname.lower()
    if name in ("urlset", "sitemapindex"):
        return _sitemap(root, name, url)
    if name in ("rss", "feed", "rdf", "channel"):
        return _feed(content, url)
    raise CorpusError(f"{url}: a <{name}> document is not an RSS or Atom feed or a sitemap")


def _recovered_feed(content: bytes, url: str, error: etree.XMLSyntaxError) -> Feed:
    """Return what feedparser's lenient parser reads of a malformed feed, if it finds items at all."""
    # A bare "&" in a link is the commonest flaw of real feeds; a broken document yields no items.
    feed = _feed(content, url) if _FEED_ROOT.search(content[:2048]) else None
    if feed is None or not feed.items:
        raise CorpusError(f"{url}: malformed XML, not a readable feed or sitemap ({error})") from error
    log.warning("%s: malformed XML (%s); read %d items leniently", url, error, len(feed.items))
    return feed


def _safe_parser() -> etree.XMLParser:
    # No entity expansion, no DTD or network access: a feed is untrusted input.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


def _gunzipped(content: bytes, url: str) -> bytes:
    if not content.startswith(b"\x1f\x8b"):
        return content
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(content, MAX_SITEMAP_BYTES + 1)
    except (zlib.error, gzip.BadGzipFile) as exc:
        raise CorpusError(f"{url}: broken gzip data ({exc})") from exc
    if len(data) > MAX_SITEMAP_BYTES:
        raise CorpusError(f"{url}: larger than {MAX_SITEMAP_BYTES:,} bytes once unzipped")
    if not inflater.eof:
        raise CorpusError(f"{url}: broken gzip data (it ends before the compressed stream does)")
    return data


def _sitemap(root: etree._Element, name: str, url: str) -> Feed:
    entries = [el for el in root if isinstance(el.tag, str)]
    locs = [(_child_text(el, "loc"), _child_text(el, "lastmod")) for el in entries]
    found = [(urljoin(url, loc), lastmod) for loc, lastmod in locs if loc and _is_web(urljoin(url, loc))]
    if name == "sitemapindex":
        return Feed("sitemapindex", "", (), None, tuple(dict.fromkeys(loc for loc, _ in found)))
    items = tuple(FeedItem(loc, "", lastmod, None) for loc, lastmod in found)
    return Feed("sitemap", "", items, None, ())


def _child_text(element: etree._Element, name: str) -> str | None:
    for child in element:
        if isinstance(child.tag, str) and etree.QName(child).localname.lower() == name:
            return (child.text or "").strip() or None
    return None


def _feed(content: bytes, url: str) -> Feed:
    parsed = feedparser.parse(content, response_headers={"content-location": url})
    version = str(parsed.get("version") or "")
    if not version:
        reason = parsed.get("bozo_exception") or "no RSS or Atom elements"
        raise CorpusError(f"{url}: not an RSS or Atom feed ({reason})")
    items = []
    for entry in parsed.entries:
        link = _entry_link(entry, url)
        if link:
            items.append(FeedItem(link, str(entry.get("title", "")).strip(), _published(entry), _guid(entry)))
    channel = parsed.feed
    return Feed(
        kind="atom" if version.startswith("atom") else "rss",
        title=str(channel.get("title", "")).strip(),
        items=tuple(items),
        ttl_minutes=_ttl(channel.get("ttl")),
        sub_sitemaps=(),
    )


def _entry_link(entry: Any, url: str) -> str | None:
    candidates = [entry.get("link")]
    candidates += [link.get("href") for link in entry.get("links", []) if link.get("rel") == "alternate"]
    for candidate in candidates:
        if candidate and _is_web(absolute := urljoin(url, str(candidate).strip())):
            return absolute
    return None


def _published(entry: Any) -> str | None:
    for key in ("published", "updated"):
        parsed = entry.get(f"{key}_parsed")
        if parsed:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", parsed)
        if entry.get(key):
            return str(entry[key])
    return None


def _guid(entry: Any) -> str | None:
    guid = entry.get("id")
    return str(guid).strip() or None if guid else None


def _ttl(value: object) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes if minutes > 0 else None


def _is_web(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _html_root(html: str) -> etree._Element | None:
    if not html.strip():
        return None
    try:
        return lxml_html.document_fromstring(html)
    except (etree.ParserError, ValueError):
        return None


def _base(root: etree._Element, url: str) -> str:
    bases = root.xpath("//base[@href]/@href")
    return urljoin(url, str(bases[0]).strip()) if bases else url


def discover_feeds(html: str, base_url: str) -> list[str]:
    """Return the RSS/Atom feeds a page links with <link rel="alternate" type=...>, in page order."""
    root = _html_root(html)
    if root is None:
        return []
    base = _base(root, base_url)
    found: list[str] = []
    for link in root.iter("link"):
        rels = str(link.get("rel", "")).lower().split()
        media = str(link.get("type", "")).split(";")[0].strip().lower()
        href = str(link.get("href", "")).strip()
        if "alternate" in rels and media in FEED_TYPES and href and _is_web(urljoin(base, href)):
            found.append(urljoin(base, href))
    return list(dict.fromkeys(found))


def canonical_url(html: str | None, url: str) -> str:
    """Return a page's rel=canonical URL (normalised) if it gives a web one, else its normalised url."""
    root = _html_root(html) if html else None
    if root is not None:
        for link in root.iter("link"):
            href = str(link.get("href", "")).strip()
            if "canonical" in str(link.get("rel", "")).lower().split() and href:
                candidate = urljoin(_base(root, url), href)
                if _is_web(candidate):
                    return normalise_url(candidate)
    return normalise_url(url)


def normalise_url(url: str) -> str:
    """Return url with scheme and host lowercased, no fragment, default port or utm_* params, query sorted.

    A string that is no parseable URL (a broken IPv6 literal, a bad port) comes back stripped, unchanged.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return url.strip()
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS.get(scheme)) else f"{host}:{port}"
    if parts.username:
        userinfo = parts.username + (f":{parts.password}" if parts.password else "")
        netloc = f"{userinfo}@{netloc}"
    query = sorted(
        (key, value)
        for key, value in parse_qsl(parts.query, keep_blank_values=True)
        if not key.lower().startswith("utm_")
    )
    path = parts.path or ("/" if netloc else "")
    return urlunsplit((scheme, netloc, path, urlencode(query), ""))

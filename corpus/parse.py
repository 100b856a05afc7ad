"""Pure parsing of one news page: bytes -> Article (the div.entry layout, else the general extractor)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

from lxml import etree

from corpus import text as tx
from corpus.decode import decode_page
from corpus.errors import CorpusError, PageError
from corpus.extract import generic_layout
from corpus.limits import bound_paragraphs
from corpus.models import Article, Paragraph
from corpus.page_tree import MAX_DEPTH, build_tree, meta, too_deep
from corpus.paragraph_rules import finish
from corpus.seed_layout import entry_layout, find_entry

_HAS_TAG = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9]*[\s>/]|!--|!doctype)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[。！？!?]")


def parse_article(data: bytes, path: str) -> Article:
    """Parse a page's bytes into an Article; raise CorpusError(reason) when it yields none."""
    return read_page(data, path)[0]


def read_page(data: bytes, path: str) -> tuple[Article, tuple[str, ...]]:
    """Parse a page's bytes into an Article plus notes on what was odd about it (truncation)."""
    if not data.strip():
        raise PageError(path, "empty file", skip=True)
    try:
        source = decode_page(data)
    except CorpusError as exc:
        raise PageError(path, str(exc), skip=True) from exc
    if not _HAS_TAG.search(source[:100_000]):
        raise PageError(path, "not HTML: plain text without tags", skip=True)
    root = build_tree(source, path)
    notes = ["truncated HTML: no closing </html>; parsed what is there"] if looks_truncated(source) else []
    if too_deep():
        notes.append(f"markup nested deeper than {MAX_DEPTH} levels: the text below that depth is dropped")
    try:
        article, cut = _bounded_article(root, path, hashlib.sha256(data).hexdigest())
    except PageError as exc:
        raise PageError(path, "; ".join((exc.reason, *notes)), skip=exc.skip) from exc
    return article, (*notes, *cut)


def looks_truncated(source: str) -> bool:
    """Tell whether a whole document (one that opens <html>) ends before its closing tag."""
    head = source[:4096].lower()
    return "<html" in head and re.search(r"</html\s*>", source[-4096:], re.IGNORECASE) is None


def extract_article(root: etree._Element, path: str, content_hash: str) -> Article:
    """Build the Article of a cleaned page tree."""
    return _bounded_article(root, path, content_hash)[0]


def _bounded_article(root: etree._Element, path: str, content_hash: str) -> tuple[Article, tuple[str, ...]]:
    entry = find_entry(root)
    layout = entry_layout(root, entry) if entry is not None else generic_layout(root)
    paragraphs, notes = bound_paragraphs(finish(layout.paragraphs))
    if not any(kind == "body" for _, kind in paragraphs):
        raise PageError(path, "no paragraphs: the page has no article text")
    title = layout.title or _title_from_text(next(text for text, kind in paragraphs if kind == "body"))
    url = _canonical_url(root)
    article = Article(
        id=article_id(path),
        path=path,
        title=title,
        outlet=layout.outlet,
        url=url,
        date=_date(root, url, path, layout.header),
        tags=layout.tags,
        paragraphs=tuple(Paragraph(i, text, kind) for i, (text, kind) in enumerate(paragraphs)),
        content_hash=content_hash,
    )
    return article, notes


def article_id(path: str) -> str:
    """Return the stable id of the article at a corpus-relative path."""
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:16]


def _canonical_url(root: etree._Element) -> str | None:
    candidates = [link.get("href") or "" for link in root.xpath("//link[@rel='canonical']")]
    candidates.append(meta(root, "og:url") or "")
    for url in candidates:
        url = url.strip()
        if url.startswith(("http://", "https://")):
            return url
    return None


def _date(root: etree._Element, url: str | None, path: str, header: Callable[[], str]) -> str | None:
    published = meta(
        root,
        "article:published_time",
        "og:published_time",
        "datePublished",
        "pubdate",
        "publishdate",
        "PubDate",
        "publish_date",
        "weibo:article:create_at",
    )
    if published and (found := tx.iso_date(published)):
        return found
    for element in root.xpath("//time[@datetime]"):
        found = tx.iso_date(element.get("datetime") or "")
        if found:
            return found
    return (url and tx.find_url_date(url)) or tx.find_url_date("/" + path) or tx.find_date(header())


def _title_from_text(text: str) -> str:
    match = _SENTENCE_END.search(text)
    first = text[: match.start()] if match else text
    return first if len(first) <= 40 else first[:40] + "…"

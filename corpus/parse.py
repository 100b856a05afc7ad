"""Pure parsing of one news page: bytes -> Article (the div.entry layout, else a main-content extractor)."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import lxml.html
from lxml import etree

from corpus import text as tx
from corpus.decode import decode_page
from corpus.errors import CorpusError
from corpus.models import Article, Paragraph, ParagraphKind

log = logging.getLogger(__name__)


class PageError(CorpusError):
    """A file yields no article; skip marks files that are not news pages at all (empty, binary, text)."""

    def __init__(self, path: str, reason: str, *, skip: bool = False) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.skip = skip

    def __reduce__(self) -> tuple[object, ...]:
        return (_page_error, (self.path, self.reason, self.skip))


def _page_error(path: str, reason: str, skip: bool) -> PageError:
    return PageError(path, reason, skip=skip)


@dataclass(frozen=True)
class Segment:
    """A run of displayed text between block boundaries, with the block element that holds it."""

    text: str
    block: etree._Element


_PARSER = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True)
_HAS_TAG = re.compile(r"<(?:[a-zA-Z][a-zA-Z0-9]*[\s>/]|!--|!doctype)", re.IGNORECASE)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*>")
_BAD_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_INVISIBLE = (
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "object",
    "embed",
    "svg",
    "select",
    "button",
)
_BLOCK_TAGS = (
    "p div h1 h2 h3 h4 h5 h6 li ul ol dl dt dd blockquote section article aside header footer nav main "
    "table thead tbody tfoot tr td th pre figure figcaption form fieldset address center hr details "
    "summary caption body html"
)
_BLOCKS = frozenset(_BLOCK_TAGS.split())
# Inside div.entry: the notice, related list, promo links, source line, ads and share anchors.
_ENTRY_JUNK_CLASSES = (
    "notice op-related-articles texttj src-info banner-ads ads ad advert sharedaddy share social "
    "jp-relatedposts wp_rp_wrap related-posts yarpp-related post-tags wp_keywordlink_affiliate-box"
)
_ENTRY_JUNK = frozenset(_ENTRY_JUNK_CLASSES.split())
_TAG_CLASSES = frozenset({"st_tag"})
_SRC_INFO = frozenset({"src-info"})
_HEADINGS = frozenset({"h1", "h2", "h3"})
_JUNK_ID = re.compile(r"^(?:taboola|ad[-_]|ads[-_]|google_ads|div-gpt-ad|archive-pix)", re.IGNORECASE)
_CAPTION_CLASS = re.compile(
    r"caption|pic[-_]?(?:txt|text|info|desc)|img[-_]?(?:desc|title|txt)", re.IGNORECASE
)
# translate() lower-cases the style and drops its spaces ("DISPLAY: none" -> "display:none").
_STYLE = "translate(@style, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ ', 'abcdefghijklmnopqrstuvwxyz')"
_HIDDEN = f"//*[@hidden or contains({_STYLE}, 'display:none') or contains({_STYLE}, 'visibility:hidden')]"
_SENTENCE_END = re.compile(r"[。！？!?]")
_MIN_MATCH_CHARS = 8
_MIN_GENERIC_CHARS = 10


def has_class(element: etree._Element, names: frozenset[str]) -> bool:
    """Tell whether an element carries one of the class names."""
    value = element.get("class")
    return bool(value) and not names.isdisjoint(value.split())


def _class_xpath(tag: str, name: str) -> str:
    return f"//{tag}[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]"


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
    notes = ("truncated HTML: no closing </html>; parsed what is there",) if looks_truncated(source) else ()
    article = extract_article(root, path, hashlib.sha256(data).hexdigest())
    return article, notes


def looks_truncated(source: str) -> bool:
    """Tell whether a whole document (one that opens <html>) ends before its closing tag."""
    head = source[:4096].lower()
    return "<html" in head and re.search(r"</html\s*>", source[-4096:], re.IGNORECASE) is None


def build_tree(source: str, path: str = "<page>") -> etree._Element:
    """Return the cleaned lxml tree of a decoded page: no scripts, styles, comments or hidden widgets."""
    source = _BAD_CHARS.sub("", _XML_DECLARATION.sub("", source, count=1))
    try:
        root = lxml.html.document_fromstring(source.encode("utf-8", "replace"), parser=_PARSER)
    except (etree.ParserError, ValueError) as exc:
        raise PageError(path, f"unparsable HTML: {exc}") from exc
    for element in list(root.iter(*_INVISIBLE)):
        _drop(element)
    for element in list(root.iter(etree.Comment, etree.ProcessingInstruction)):
        _drop(element)
    # Text a browser does not show (anti-copy watermarks, collapsed widgets) is not the page's text.
    for element in root.xpath(_HIDDEN):
        _drop(element)
    return root


def _drop(element: etree._Element) -> None:
    # drop_tree keeps the tail text, which belongs to the parent.
    if element.getparent() is not None:
        element.drop_tree()  # type: ignore[attr-defined]


def segments(root: etree._Element) -> list[Segment]:
    """Split an element's displayed text at block boundaries and double <br>, whitespace normalised."""
    out: list[Segment] = []
    buffer: list[str] = []
    stack: list[etree._Element] = [root]
    last_br: int | None = None

    def flush() -> None:
        nonlocal last_br
        text = tx.normalize_space("".join(buffer))
        buffer.clear()
        last_br = None
        if text:
            out.append(Segment(text, stack[-1]))

    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag if isinstance(element.tag, str) else None
        if event == "start":
            if tag in _BLOCKS:
                flush()
                stack.append(element)
            elif tag == "br":
                # One <br> is a line break inside a paragraph; two in a row end the paragraph.
                if last_br is not None and not "".join(buffer[last_br:]).strip():
                    flush()
                else:
                    buffer.append("\n")
                    last_br = len(buffer)
            if tag is not None and element.text:
                buffer.append(element.text)
        else:
            if tag in _BLOCKS:
                flush()
                stack.pop()
            if element is not root and element.tail:
                buffer.append(element.tail)
    flush()
    return out


def extract_article(root: etree._Element, path: str, content_hash: str) -> Article:
    """Build the Article of a cleaned page tree."""
    entries = root.xpath(_class_xpath("div", "entry"))
    if entries:
        title, outlet, paragraphs, header, tags = _entry_layout(root, entries[0])
    else:
        title, outlet, paragraphs, header, tags = _generic_layout(root)
    paragraphs = _finish(paragraphs)
    if not any(kind == "body" for _, kind in paragraphs):
        raise PageError(path, "no paragraphs: the page has no article text")
    if not title:
        title = _title_from_text(next(text for text, kind in paragraphs if kind == "body"))
    url = _canonical_url(root)
    return Article(
        id=article_id(path),
        path=path,
        title=title,
        outlet=outlet,
        url=url,
        date=_date(root, url, path, header),
        tags=tags,
        paragraphs=tuple(Paragraph(i, text, kind) for i, (text, kind) in enumerate(paragraphs)),
        content_hash=content_hash,
    )


def article_id(path: str) -> str:
    """Return the stable id of the article at a corpus-relative path."""
    return hashlib.sha256(path.encode("utf-8")).hexdigest()[:16]


_Layout = tuple[str, str | None, list[tuple[str, ParagraphKind]], Callable[[], str], tuple[str, ...]]


def _entry_layout(root: etree._Element, entry: etree._Element) -> _Layout:
    # The headline is the <h2> just before div.entry (or its first <h2>), not a sidebar's <h2>.
    title = ""
    for heading in (*entry.xpath("preceding::h2[1]"), *entry.iter("h2")):
        title = tx.normalize_space(heading.text_content())
        if title:
            break
    if not title:
        title = _head_title(root)
    outlet = _src_info_outlet(root)
    for element in list(entry.iter()):
        if element is not entry and element.getparent() is not None and _is_entry_junk(element):
            _drop(element)
    tags = _tags(entry)
    summary_texts = set()
    paragraphs: list[tuple[str, ParagraphKind]] = []
    for segment in segments(entry):
        if segment.text == title and segment.block.tag in _HEADINGS:
            continue
        if segment.block.get("id") == "summary":
            summary_texts.add(segment.text)
        paragraphs.append((segment.text, _kind(segment)))
    paragraphs = _drop_summary_copies(paragraphs, summary_texts)

    # Only pages without a dated <meta> or URL need this (the dateline above the article).
    def header() -> str:
        return " ".join(entry.xpath("preceding::text()")[-200:])

    return title, outlet, paragraphs, header, tags


def _is_entry_junk(element: etree._Element) -> bool:
    if not isinstance(element.tag, str):
        return False
    if has_class(element, _ENTRY_JUNK) or _JUNK_ID.match(element.get("id") or ""):
        return True
    return element.tag == "a" and element.get("name") == "sharetosocial"


def _kind(segment: Segment) -> ParagraphKind:
    block = segment.block
    if block.tag == "figcaption" or _CAPTION_CLASS.search(block.get("class") or ""):
        return "caption"
    # Short text sharing a block with an image (div.img_wrapper > img + span) describes the image.
    if (
        len(segment.text) <= tx.CAPTION_MAX_CHARS
        and block.tag != "body"
        and next(block.iter("img"), None) is not None
    ):
        return "caption"
    return "caption" if tx.is_caption(segment.text) else "body"


def _drop_summary_copies(
    paragraphs: list[tuple[str, ParagraphKind]], summaries: set[str]
) -> list[tuple[str, ParagraphKind]]:
    # p#summary repeats (or abridges) the lead: keep the first copy of the text, drop a summary
    # that is only part of another paragraph.
    kept: list[tuple[str, ParagraphKind]] = []
    others = [text for text, _ in paragraphs]
    for text, kind in paragraphs:
        if text in summaries:
            stem = text.rstrip("…. ")
            if any(other != text and stem in other for other in others):
                continue
        kept.append((text, kind))
    return kept


def _finish(paragraphs: Sequence[tuple[str, ParagraphKind]]) -> list[tuple[str, ParagraphKind]]:
    """Drop trailers, editor credits and exact repeats, keeping page order."""
    seen: set[str] = set()
    out: list[tuple[str, ParagraphKind]] = []
    for text, kind in paragraphs:
        if tx.is_trailer(text):
            continue
        text = tx.strip_trailer_tail(text)
        if text and text not in seen:
            seen.add(text)
            out.append((text, kind))
    return out


def _tags(scope: etree._Element) -> tuple[str, ...]:
    found: dict[str, None] = {}
    for link in scope.iter("a"):
        rel = (link.get("rel") or "").split()
        if "tag" in rel or has_class(link, _TAG_CLASSES):
            name = tx.normalize_space(link.text_content())
            if name:
                found.setdefault(name, None)
    return tuple(found)


def _meta(root: etree._Element, *names: str) -> str | None:
    """Return the first non-empty content of <meta property|name|itemprop=NAME> for the names, in order."""
    wanted = {name.lower(): rank for rank, name in enumerate(names)}
    best: tuple[int, str] | None = None
    for meta in root.iter("meta"):
        for attribute in ("property", "name", "itemprop"):
            rank = wanted.get((meta.get(attribute) or "").lower())
            if rank is not None and (best is None or rank < best[0]):
                content = tx.normalize_space(meta.get("content") or "")
                if content:
                    best = (rank, content)
    return best[1] if best else None


def _head_title(root: etree._Element) -> str:
    for element in root.iter("title"):
        title = tx.strip_site_suffix(element.text_content())
        if title:
            return title
    return ""


def _canonical_url(root: etree._Element) -> str | None:
    candidates = [link.get("href") or "" for link in root.xpath("//link[@rel='canonical']")]
    candidates.append(_meta(root, "og:url") or "")
    for url in candidates:
        url = url.strip()
        if url.startswith(("http://", "https://")):
            return url
    return None


def _date(root: etree._Element, url: str | None, path: str, header: Callable[[], str]) -> str | None:
    published = _meta(
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


# --- pages without div.entry -------------------------------------------------------------------


def _generic_layout(root: etree._Element) -> _Layout:
    title = _generic_title(root)
    tags = _tags(root)
    outlet = _src_info_outlet(root) or _source_element_outlet(root)
    body = root.find("body")
    scope = body if body is not None else root
    for element in list(scope.iter()):
        if element is not scope and element.getparent() is not None and _is_page_junk(element):
            _drop(element)
    all_segments = segments(scope)
    chosen = _main_content(root, all_segments)
    paragraphs: list[tuple[str, ParagraphKind]] = []
    for index in chosen:
        segment = all_segments[index]
        if segment.text != title:
            paragraphs.append((segment.text, _kind(segment)))
    paragraphs = _cut_at_trailer(paragraphs)
    if sum(len(text) for text, kind in paragraphs if kind == "body") < _MIN_GENERIC_CHARS:
        paragraphs = []  # a menu word or a copyright line is not an article
    first = chosen[0] if chosen else len(all_segments)
    header = " ".join(segment.text for segment in all_segments[:first])
    page_text = "\n".join(segment.text for segment in all_segments)
    declared = _meta(root, "source", "ContentSource", "og:site_name", "SiteName")
    outlet = (
        outlet
        or tx.find_outlet(header)
        or tx.find_outlet(page_text)
        or (declared and (tx.find_outlet(declared) or declared))
    )
    return title, outlet, paragraphs, lambda: header, tags


# Whole widgets that are never the article: sharing bars, comment threads, related lists, sidebars.
_PAGE_JUNK = re.compile(
    r"^(?:share\S*|\S*sharing\S*|sharedaddy|social\S*|comments?|comment-list|comments-area|related\S*"
    r"|relevant|recommend\S*|breadcrumbs?|crumbs?|sidebar|widget-area|ads?|advert\S*|banner-ads|toolbar"
    r"|nav|navbar|topnav|menu|main-menu|site-nav)$",
    re.IGNORECASE,
)


def _src_info_outlet(root: etree._Element) -> str | None:
    for line in root.xpath("//*[contains(@class, 'src-info')]"):
        if has_class(line, _SRC_INFO):
            outlet = tx.find_outlet(tx.normalize_space(line.text_content()))
            if outlet:
                return outlet
    return None


def _is_page_junk(element: etree._Element) -> bool:
    if not isinstance(element.tag, str):
        return False
    if _is_entry_junk(element):
        return True
    if element.tag in ("nav", "aside"):
        return True
    tokens = (element.get("class") or "").split() + (element.get("id") or "").split()
    return any(_PAGE_JUNK.match(token) for token in tokens)


def _source_element_outlet(root: etree._Element) -> str | None:
    # Sina and many portals name the outlet in a short element classed "source", often without 来源：.
    for element in root.xpath("//*[contains(@class, 'source') or contains(@id, 'source')]"):
        line = tx.normalize_space(element.text_content())
        if 0 < len(line) <= 40:
            outlet = tx.find_outlet(line) or (line if len(line) <= 20 and "：" not in line else None)
            if outlet:
                return outlet
    return None


def _generic_title(root: etree._Element) -> str:
    head_title = " ".join(tx.normalize_space(t.text_content()) for t in root.iter("title"))
    headings = [tx.normalize_space(h.text_content()) for h in root.iter("h1")]
    for heading in headings:
        if heading and heading in head_title:
            return heading
    meta_title = _meta(root, "og:title", "ArticleTitle", "twitter:title")
    if meta_title:
        return meta_title
    return (
        _head_title(root)
        or next((h for h in headings if h), "")
        or next((t for t in (tx.normalize_space(h.text_content()) for h in root.iter("h2")) if t), "")
    )


def _main_content(root: etree._Element, all_segments: Sequence[Segment]) -> list[int]:
    """Return the indexes of the segments that form the main text, as a content extractor sees it."""
    extracted = _trafilatura_text(root)
    if extracted:
        lines = {tx.squash(line) for line in extracted.splitlines()}
        joined = tx.squash(extracted)
        chosen = [
            i
            for i, segment in enumerate(all_segments)
            if (squashed := tx.squash(segment.text)) in lines
            or (len(squashed) >= _MIN_MATCH_CHARS and squashed in joined)
        ]
        if chosen:
            return _within_container(chosen, all_segments)
    return _densest_block(all_segments)


def _within_container(chosen: list[int], all_segments: Sequence[Segment]) -> list[int]:
    """Keep the chosen segments inside the element whose <p> children carry most of the chosen text."""
    direct: dict[etree._Element, int] = {}
    for i in chosen:
        block = all_segments[i].block
        parent = block.getparent()
        if block.tag == "p" and parent is not None:
            direct[parent] = direct.get(parent, 0) + len(all_segments[i].text)
    if not direct:
        return chosen
    container = max(direct, key=lambda element: direct[element])

    def paragraph_text(element: etree._Element) -> int:
        return sum(chars for holder, chars in direct.items() if holder is element or _inside(holder, element))

    # Climb while the parent holds much more chosen paragraph text (an article split in sections),
    # but never up to <body>, where site footers live.
    parent = container.getparent()
    while parent is not None and parent.tag not in ("body", "html"):
        if paragraph_text(parent) < 1.5 * paragraph_text(container):
            break
        container, parent = parent, parent.getparent()
    return [
        i for i in chosen if _inside(all_segments[i].block, container) or all_segments[i].block is container
    ]


def _inside(element: etree._Element, container: etree._Element) -> bool:
    return any(ancestor is container for ancestor in element.iterancestors())


def _trafilatura_text(root: etree._Element) -> str | None:
    import trafilatura  # heavy: only pages without the known layout need it

    # trafilatura warns "discarding data" on every page it finds nothing in; our fallback covers those.
    logging.getLogger("trafilatura").setLevel(logging.ERROR)

    try:
        # trafilatura copies the tree it is given, so ours is not changed and not parsed twice.
        return trafilatura.extract(
            root,
            include_comments=False,
            include_tables=True,
            favor_recall=True,
            deduplicate=False,
        )
    except Exception:  # a third-party extractor must not stop a batch
        log.exception("trafilatura failed; falling back to the densest block")
        return None


def _densest_block(all_segments: Sequence[Segment]) -> list[int]:
    # Fallback: the parent holding the most paragraph text wins, and its paragraphs are the body.
    weight: dict[etree._Element, int] = {}
    for segment in all_segments:
        parent = segment.block.getparent()
        if segment.block.tag == "p" and parent is not None:
            weight[parent] = weight.get(parent, 0) + len(segment.text)
    if not weight:
        return [i for i, segment in enumerate(all_segments) if segment.block.tag == "p"]
    best = max(weight, key=lambda element: weight[element])
    return [i for i, segment in enumerate(all_segments) if segment.block.getparent() is best]


_CLOSING = re.compile(
    r"^[\s（(【\[]*(?:责任编辑|責任編輯|责编|責編|【纠错】|【糾錯】|纠错】|免责声明|免責聲明)"
)


def _cut_at_trailer(paragraphs: list[tuple[str, ParagraphKind]]) -> list[tuple[str, ParagraphKind]]:
    # What follows an editor credit or correction link on a news site is page furniture.
    for index, (text, _) in enumerate(paragraphs):
        if index and _CLOSING.match(text):
            return paragraphs[:index]
    return paragraphs

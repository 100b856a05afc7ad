"""A page as a cleaned lxml tree: what a browser shows, cut into segments at block boundaries."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import lxml.html
from lxml import etree

from corpus import text as tx
from corpus.errors import PageError
from corpus.models import ParagraphKind


@dataclass(frozen=True)
class Segment:
    """A run of displayed text between block boundaries, with the block element that holds it."""

    text: str
    block: etree._Element


@dataclass(frozen=True)
class Layout:
    """What a layout reader finds on a page: title, outlet, paragraphs, the dateline's text, tags."""

    title: str
    outlet: str | None
    paragraphs: list[tuple[str, ParagraphKind]]
    header: Callable[[], str]  # the text above the article, computed only when a date is missing
    tags: tuple[str, ...]


# libxml2 stops descending at 256 levels unless huge_tree is set; huge_tree also lifts its other
# caps (text node and attribute sizes), so it stays off and the depth is reported instead.
MAX_DEPTH = 256
_PARSER = lxml.html.HTMLParser(encoding="utf-8", remove_comments=True, remove_pis=True, no_network=True)
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
# translate() lower-cases the style and drops its spaces ("DISPLAY: none" -> "display:none").
_STYLE = "translate(@style, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ ', 'abcdefghijklmnopqrstuvwxyz')"
_HIDDEN = f"//*[@hidden or contains({_STYLE}, 'display:none') or contains({_STYLE}, 'visibility:hidden')]"
_TAG_CLASSES = frozenset({"st_tag"})


def has_class(element: etree._Element, names: frozenset[str]) -> bool:
    """Tell whether an element carries one of the class names."""
    value = element.get("class")
    return bool(value) and not names.isdisjoint(value.split())


def class_xpath(tag: str, name: str) -> str:
    """Return an XPath to the `tag` elements that carry class `name`."""
    return f"//{tag}[contains(concat(' ', normalize-space(@class), ' '), ' {name} ')]"


def build_tree(source: str, path: str = "<page>") -> etree._Element:
    """Return the cleaned lxml tree of a decoded page: no scripts, styles, comments or hidden widgets."""
    source = _BAD_CHARS.sub("", _XML_DECLARATION.sub("", source, count=1))
    try:
        root = lxml.html.document_fromstring(source.encode("utf-8", "replace"), parser=_PARSER)
    except (etree.ParserError, ValueError) as exc:
        raise PageError(path, f"unparsable HTML: {exc}") from exc
    for element in list(root.iter(*_INVISIBLE)):
        drop(element)
    for element in list(root.iter(etree.Comment, etree.ProcessingInstruction)):
        drop(element)
    # Text a browser does not show (anti-copy watermarks, collapsed widgets) is not the page's text.
    for element in root.xpath(_HIDDEN):
        drop(element)
    return root


def too_deep() -> bool:
    """Tell whether the last page parsed in this process was cut at libxml2's depth limit."""
    return any("Excessive depth" in entry.message for entry in _PARSER.error_log)


def drop(element: etree._Element) -> None:
    """Remove an element from its tree, keeping its tail text (which belongs to the parent)."""
    if element.getparent() is not None:
        element.drop_tree()


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


def tags(scope: etree._Element) -> tuple[str, ...]:
    """Return the names of the tag links (rel=tag or class st_tag) under scope, in page order."""
    found: dict[str, None] = {}
    for link in scope.iter("a"):
        rel = (link.get("rel") or "").split()
        if "tag" in rel or has_class(link, _TAG_CLASSES):
            name = tx.normalize_space(link.text_content())
            if name:
                found.setdefault(name, None)
    return tuple(found)


def meta(root: etree._Element, *names: str) -> str | None:
    """Return the first non-empty content of <meta property|name|itemprop=NAME> for the names, in order."""
    wanted = {name.lower(): rank for rank, name in enumerate(names)}
    best: tuple[int, str] | None = None
    for element in root.iter("meta"):
        for attribute in ("property", "name", "itemprop"):
            rank = wanted.get((element.get(attribute) or "").lower())
            if rank is not None and (best is None or rank < best[0]):
                content = tx.normalize_space(element.get("content") or "")
                if content:
                    best = (rank, content)
    return best[1] if best else None


def head_title(root: etree._Element) -> str:
    """Return the <title>, without a site-name suffix."""
    for element in root.iter("title"):
        title = tx.strip_site_suffix(element.text_content())
        if title:
            return title
    return ""

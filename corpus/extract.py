"""The general extractor for pages of other sites: main text by trafilatura, else the densest block."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

from lxml import etree

from corpus import text as tx
from corpus.models import ParagraphKind
from corpus.page_tree import Layout, Segment, drop, head_title, meta, segments, tags
from corpus.paragraph_rules import cut_at_trailer, kind_of
from corpus.seed_layout import is_entry_junk, src_info_outlet

log = logging.getLogger(__name__)

_MIN_MATCH_CHARS = 8
_MIN_GENERIC_CHARS = 10
# Whole widgets that are never the article: sharing bars, comment threads, related lists, sidebars.
_PAGE_JUNK = re.compile(
    r"^(?:share\S*|\S*sharing\S*|sharedaddy|social\S*|comments?|comment-list|comments-area|related\S*"
    r"|relevant|recommend\S*|breadcrumbs?|crumbs?|sidebar|widget-area|ads?|advert\S*|banner-ads|toolbar"
    r"|nav|navbar|topnav|menu|main-menu|site-nav)$",
    re.IGNORECASE,
)


def generic_layout(root: etree._Element) -> Layout:
    """Read title, outlet, paragraphs and tags of a page in any other layout."""
    title = _generic_title(root)
    page_tags = tags(root)
    outlet = src_info_outlet(root) or _source_element_outlet(root)
    body = root.find("body")
    scope = body if body is not None else root
    for element in list(scope.iter()):
        if element is not scope and element.getparent() is not None and _is_page_junk(element):
            drop(element)
    all_segments = segments(scope)
    chosen = _main_content(root, all_segments)
    paragraphs: list[tuple[str, ParagraphKind]] = []
    for index in chosen:
        segment = all_segments[index]
        if segment.text != title:
            paragraphs.append((segment.text, kind_of(segment)))
    paragraphs = cut_at_trailer(paragraphs)
    if sum(len(text) for text, kind in paragraphs if kind == "body") < _MIN_GENERIC_CHARS:
        paragraphs = []  # a menu word or a copyright line is not an article
    first = chosen[0] if chosen else len(all_segments)
    header = " ".join(segment.text for segment in all_segments[:first])
    page_text = "\n".join(segment.text for segment in all_segments)
    declared = meta(root, "source", "ContentSource", "og:site_name", "SiteName")
    outlet = (
        outlet
        or tx.find_outlet(header)
        or tx.find_outlet(page_text)
        or (declared and (tx.find_outlet(declared) or declared))
    )
    return Layout(title, outlet, paragraphs, lambda: header, page_tags)


def _is_page_junk(element: etree._Element) -> bool:
    if not isinstance(element.tag, str):
        return False
    if is_entry_junk(element):
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
    titles = " ".join(tx.normalize_space(t.text_content()) for t in root.iter("title"))
    headings = [tx.normalize_space(h.text_content()) for h in root.iter("h1")]
    for heading in headings:
        if heading and heading in titles:
            return heading
    meta_title = meta(root, "og:title", "ArticleTitle", "twitter:title")
    if meta_title:
        return meta_title
    return (
        head_title(root)
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

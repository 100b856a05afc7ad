"""The seed corpus's layout: the headline <h2>, then div.entry holding the article, its source line."""

from __future__ import annotations

import re

from lxml import etree

from corpus import text as tx
from corpus.models import ParagraphKind
from corpus.page_tree import Layout, class_xpath, drop, has_class, head_title, segments, tags
from corpus.paragraph_rules import kind_of

# Inside div.entry: the notice, related list, promo links, source line, ads and share anchors.
_ENTRY_JUNK_CLASSES = (
    "notice op-related-articles texttj src-info banner-ads ads ad advert sharedaddy share social "
    "jp-relatedposts wp_rp_wrap related-posts yarpp-related post-tags wp_keywordlink_affiliate-box"
)
_ENTRY_JUNK = frozenset(_ENTRY_JUNK_CLASSES.split())
_SRC_INFO = frozenset({"src-info"})
_HEADINGS = frozenset({"h1", "h2", "h3"})
_JUNK_ID = re.compile(r"^(?:taboola|ad[-_]|ads[-_]|google_ads|div-gpt-ad|archive-pix)", re.IGNORECASE)


def find_entry(root: etree._Element) -> etree._Element | None:
    """Return the page's div.entry, or None when the page has another layout."""
    entries = root.xpath(class_xpath("div", "entry"))
    return entries[0] if entries else None


def entry_layout(root: etree._Element, entry: etree._Element) -> Layout:
    """Read title, outlet, paragraphs and tags of a page in the seed layout."""
    # The headline is the <h2> just before div.entry (or its first <h2>), not a sidebar's <h2>.
    title = ""
    for heading in (*entry.xpath("preceding::h2[1]"), *entry.iter("h2")):
        title = tx.normalize_space(heading.text_content())
        if title:
            break
    if not title:
        title = head_title(root)
    outlet = src_info_outlet(root)
    for element in list(entry.iter()):
        if element is not entry and element.getparent() is not None and is_entry_junk(element):
            drop(element)
    entry_tags = tags(entry)
    summary_texts = set()
    paragraphs: list[tuple[str, ParagraphKind]] = []
    for segment in segments(entry):
        if segment.text == title and segment.block.tag in _HEADINGS:
            continue
        if segment.block.get("id") == "summary":
            summary_texts.add(segment.text)
        paragraphs.append((segment.text, kind_of(segment)))
    paragraphs = _drop_summary_copies(paragraphs, summary_texts)

    # Only pages without a dated <meta> or URL need this (the dateline above the article).
    def header() -> str:
        return " ".join(entry.xpath("preceding::text()")[-200:])

    return Layout(title, outlet, paragraphs, header, entry_tags)


def is_entry_junk(element: etree._Element) -> bool:
    """Tell whether an element is page furniture inside div.entry (notices, related lists, ads, sharing)."""
    if not isinstance(element.tag, str):
        return False
    if has_class(element, _ENTRY_JUNK) or _JUNK_ID.match(element.get("id") or ""):
        return True
    return element.tag == "a" and element.get("name") == "sharetosocial"


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


def src_info_outlet(root: etree._Element) -> str | None:
    """Return the outlet named in the seed layout's source line (div.src-info), if any."""
    for line in root.xpath("//*[contains(@class, 'src-info')]"):
        if has_class(line, _SRC_INFO):
            outlet = tx.find_outlet(tx.normalize_space(line.text_content()))
            if outlet:
                return outlet
    return None

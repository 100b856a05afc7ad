"""Passage ids: a page's paragraphs become passages with stable 63-bit ids."""

from __future__ import annotations

import hashlib

from corpus.models import Article
from embeddings.models import Passage, citation


def passage_id(doc: str, ordinal: int, text: str) -> int:
    """Return the stable positive 63-bit id of a passage (same page, place and text: same id)."""
    digest = hashlib.blake2b(f"{doc}\x00{ordinal}\x00{text}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF or 1


def passages_of(article: Article) -> tuple[Passage, ...]:
    """Return the passages an article contributes: every non-empty paragraph, captions included."""
    return tuple(
        Passage(
            id=passage_id(article.path, p.ordinal, p.text),
            doc=article.path,
            ordinal=p.ordinal,
            text=p.text,
            kind=p.kind,
            **citation(article),
        )
        for p in article.paragraphs
        if p.text.strip()
    )

"""A fetched page as a corpus file: its name from its URL, its address kept inside it, written atomically;
the checks of the URLs it comes from."""

from __future__ import annotations

import hashlib
import re
from html import escape
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bot import uploads

WEB_DIR = "web"  # fetched pages live under <corpus>/web/<host>/
_SLUG = re.compile(r"[^A-Za-z0-9_-]+")
_HOST = re.compile(r"[^a-z0-9.-]+")
_HEAD = re.compile(rb"<head(?:\s[^>]*)?>", re.IGNORECASE)
_HTML = re.compile(rb"<html(?:\s[^>]*)?>", re.IGNORECASE)
MAX_SLUG = 60


def page_path(url: str) -> str:
    """Return the corpus-relative file of a page: web/<host>/<slug>-<hash of the URL>.html."""
    parts = urlsplit(url)
    host = _HOST.sub("_", (parts.hostname or "").lower()).strip("._") or "unknown"
    host += f"_{parts.port}" if parts.port else ""
    last = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
    stem = re.sub(r"\.(s?html?|php|aspx?|jsp)$", "", last, flags=re.IGNORECASE)
    slug = _SLUG.sub("-", stem).strip("-_")[:MAX_SLUG] or "index"
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]
    return f"{WEB_DIR}/{host}/{slug}-{digest}.html"


def with_address(data: bytes, url: str) -> bytes:
    """Return the page with <link rel="canonical" href=url> added, so the parser cites where it came from.

    The tag is ASCII and goes right after <head> (or <html>): that is safe inside any of the charsets
    pages declare (GBK, Big5, UTF-8), and the declared charset stays where the decoder looks for it.
    """
    tag = f'<link rel="canonical" href="{escape(url, quote=True)}">'.encode("ascii", "xmlcharrefreplace")
    for pattern in (_HEAD, _HTML):
        match = pattern.search(data, 0, 65_536)
        if match is not None:
            return data[: match.end()] + tag + data[match.end() :]
    return tag + data


def save_page(corpus_dir: Path, rel: str, data: bytes, max_bytes: int) -> str:
    """Write a page into the corpus atomically and durably; return saved, replaced, unchanged or why not."""
    plan = uploads.UploadPlan((uploads.PlannedFile(rel),), (), data, max_bytes, max_bytes)
    ((_, status),) = uploads.save_upload(corpus_dir, plan)
    return status


def address_problem(url: str) -> str | None:
    """Return why a string is no http(s) address to fetch, or None."""
    parts = urlsplit(url.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return f"not an http(s) address: {url[:200]}"
    return None


def same_site(one: str, other: str) -> bool:
    """Tell whether two URLs are on the same host (www. or not)."""

    def host(url: str) -> str:
        name = (urlsplit(url).hostname or "").lower()
        return name.removeprefix("www.")

    return host(one) == host(other) != ""

"""Pure rules of an HTTP exchange: URL checks, conditional headers, statuses, bounded gunzip."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from urllib.parse import urlsplit

from corpus.errors import FetchError


def charset_of(content_type: str) -> str | None:
    """Return the charset parameter of a Content-Type header, or None."""
    for param in content_type.split(";")[1:]:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip(" \"'"):
            return value.strip(" \"'")
    return None


def conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    """Return the If-None-Match / If-Modified-Since headers for stored validators."""
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def checked_host(url: str) -> str:
    """Return a URL's host after checking it is an absolute http(s) URL."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        raise FetchError("url", f"{url!r} is not a valid URL: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise FetchError("scheme", f"{url} is not http or https; quotebot fetches only web pages")
    if not parts.hostname:
        raise FetchError("url", f"{url!r} has no host; give a full URL such as https://example.com/news")
    return parts.hostname.lower()


def may_be_html(content_type: str) -> bool:
    """Tell whether a Content-Type may hold an HTML page (text, HTML, XML, or none given)."""
    media = content_type.split(";")[0].strip().lower()
    return not media or media.startswith("text/") or "html" in media or media.endswith("xml")


def status_error(url: str, status: int, retry_after: float | None) -> FetchError:
    """Return the FetchError of an HTTP error status."""
    if status == 404:
        return FetchError("http-404", f"{url} is not found (404); check the URL")
    if status == 410:
        return FetchError("http-410", f"{url} is gone (410); the site removed it")
    if status == 429 or status >= 500:
        kind = "http-429" if status == 429 else "http-5xx"
        wait = f"; it asks to wait {retry_after:.0f} s" if retry_after is not None else ""
        reason = f"{url} answered {status}, an error of the site{wait}"
        return FetchError(kind, reason, retry_after=retry_after)
    return FetchError(f"http-{status}", f"{url} answered {status}")


def too_large(url: str, limit: int) -> FetchError:
    """Return the FetchError of a body over the size limit."""
    return FetchError("too-large", f"{url} is larger than {limit:,} bytes, the page size limit")


def decoded_body(url: str, encoding: str, chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    """Yield the body's bytes, gunzipped in bounded steps so a small bomb cannot fill memory."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        yield from chunks
        return
    if encoding not in ("gzip", "x-gzip", "deflate"):
        raise FetchError("encoding", f"{url} is sent {encoding}-encoded, which quotebot did not ask for")
    inflater = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header, detected
    try:
        for chunk in chunks:
            data = chunk
            while data:
                yield inflater.decompress(data, limit + 1)
                data = inflater.unconsumed_tail
        yield inflater.flush()
    except zlib.error as exc:
        raise FetchError("encoding", f"{url} sent a broken {encoding} body: {exc}") from exc

"""The corpus package's one exception family."""

from __future__ import annotations


class CorpusError(Exception):
    """A page could not be read or parsed; the message names the file and the reason."""


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


class FetchError(CorpusError):
    """A URL could not be fetched; kind is a short machine word, reason one sentence with the fix."""

    def __init__(self, kind: str, reason: str, *, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[object, ...]:
        return (_fetch_error, (self.kind, self.reason, self.retry_after))


def _fetch_error(kind: str, reason: str, retry_after: float | None) -> FetchError:
    return FetchError(kind, reason, retry_after=retry_after)

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

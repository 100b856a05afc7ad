"""The corpus package's one exception family."""

from __future__ import annotations


class CorpusError(Exception):
    """A page could not be read or parsed; the message names the file and the reason."""

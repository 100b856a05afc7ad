"""Keeping stdout for the answers: what libraries print while the model loads goes to stderr."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TextIO


@contextlib.contextmanager
def stdout_for_data() -> Iterator[TextIO]:
    """Yield a stream on the real stdout, and point everything else written to stdout at stderr.

    A library that prints while the model loads or converts (C++ runtimes write to file descriptor 1
    directly) would otherwise put lines among the JSON that a `--jsonl` consumer parses.
    """
    try:
        out_fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stdout or stderr is not a file (captured in tests)
        yield sys.stdout
        return
    sys.stdout.flush()
    saved = os.dup(out_fd)
    data = os.fdopen(os.dup(out_fd), "w", encoding="utf-8")
    os.dup2(err_fd, out_fd)
    try:
        yield data
    finally:
        sys.stdout.flush()  # what a library left in Python's buffer goes to stderr too
        os.dup2(saved, out_fd)
        os.close(saved)
        close_quietly(data)


def close_quietly(stream: TextIO) -> None:
    """Close a stream whose reader may be gone (`... | head`), dropping what it cannot take."""
    try:
        stream.close()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
        stream.close()

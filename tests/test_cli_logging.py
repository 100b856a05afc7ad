"""Logging set up by the CLI entry: our records at the configured level, libraries' only from WARNING."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Each library logs as it does on a real run: faiss probes CPU features at INFO, bm25s raises its own
# logger to DEBUG on import.
PROGRAM = """
import logging, sys
from bot.cli import configure_logging
configure_logging(sys.argv[1])
logging.getLogger("bm25s").setLevel(logging.DEBUG)
logging.getLogger("bm25s").debug("Building index from tokens")
logging.getLogger("faiss.loader").info("Could not load library with AVX512 support")
logging.getLogger("sentence_transformers.base.model").info("Loading SentenceTransformer model")
logging.getLogger("telegram.ext.Application").warning("library warning")
logging.getLogger("embeddings.reindex").info("index now serves gen-1")
logging.getLogger("bot.app").debug("own debug line")
logging.getLogger("httpx").info("HTTP Request: POST https://api.telegram.org/bot123:SECRET/getMe")
loss = logging.getLogger("transformers.modeling_utils")
loss.warning("`loss_type=None` was set in the config but it is unrecognized. Using the default loss: `X`.")
loss.warning("another transformers warning")
"""


def run(level: str) -> str:
    """Return what the program above writes to stderr at level."""
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, level], capture_output=True, text=True, cwd=REPO, check=True
    )
    return done.stderr


def test_default_level_shows_our_info_and_library_warnings_only() -> None:
    err = run("INFO")
    assert "index now serves gen-1" in err
    assert "library warning" in err and "another transformers warning" in err
    for quiet in ("Building index", "AVX512", "Loading SentenceTransformer", "own debug line", "SECRET"):
        assert quiet not in err


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
def test_the_unused_loss_type_warning_is_dropped_at_every_level(level: str) -> None:
    err = run(level)
    assert "loss_type" not in err
    assert "another transformers warning" in err


@pytest.mark.parametrize("level", ["DEBUG", "debug"])
def test_debug_shows_libraries_but_never_the_token(level: str) -> None:
    err = run(level)
    assert "Building index from tokens" in err and "AVX512" in err and "own debug line" in err
    assert "SECRET" not in err


def test_warning_level_hides_our_info() -> None:
    err = run("WARNING")
    assert "library warning" in err
    assert "index now serves" not in err

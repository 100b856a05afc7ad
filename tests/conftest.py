"""Shared fixtures: the local embedding model (never the hub) and the sample pages."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

if TYPE_CHECKING:
    from bot.telegram.runtime import BotApplication
    from tests.bot_support import BuiltIndex
    from tests.telegram_server import BotApiServer

# CI runs the properties on hypothesis' fixed sequence of examples, so a run that passed here passes
# there; locally every run explores new ones (a failure it finds becomes a plain test, as in test_render).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_MODEL = SHARED / "models" / "multilingual-e5-small-zh-en"
SEED_PAGE = SHARED / "samples" / "seed-article.html"
EVAL_DIR = SHARED / "eval"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# No test may reach a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("QUOTEBOT_MODEL", str(SHARED_MODEL))
# The suite runs on the reference encoder (torch); tests/test_encoder.py converts and checks the
# OpenVINO ones once per session in tmp (an int8 conversion on the shipped calibration takes minutes).
os.environ.setdefault("QUOTEBOT_ENCODER", "torch")
# `quotebot serve` in a test listens for health probes on a free port, never on the shared default 8089.
os.environ.setdefault("QUOTEBOT_OPS_LISTEN", "127.0.0.1:0")


@pytest.fixture(scope="session")
def model_path() -> str:
    """Return the configured local model directory, failing loudly when it is absent."""
    path = os.environ["QUOTEBOT_MODEL"]
    if not Path(path).is_dir():
        pytest.fail(f"QUOTEBOT_MODEL={path} is not a directory; point it at a local model copy")
    return path


@pytest.fixture(scope="session")
def seed_bytes() -> bytes:
    """Return the real seed page's bytes."""
    return SEED_PAGE.read_bytes()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> BuiltIndex:
    """Return the session's index of the bot tests' pages, on the test encoder (read-only)."""
    from tests.bot_support import shared_index

    return shared_index(tmp_path_factory.getbasetemp() / "bot-index")


@pytest.fixture
def server() -> Iterator[BotApiServer]:
    """Run a fresh test Bot API server for one test."""
    from tests.bot_support import BOT_NAME, TOKEN
    from tests.telegram_server import BotApiServer

    with BotApiServer(token=TOKEN, username=BOT_NAME) as api:
        yield api


@pytest.fixture
async def bot(server: BotApiServer, built: BuiltIndex) -> AsyncIterator[BotApplication]:
    """Run the real bot on the session's index against this test's server."""
    from tests.bot_support import bot_settings, running_bot

    async with running_bot(bot_settings(built, server.url)) as app:
        yield app

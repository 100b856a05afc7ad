"""Shared pieces of the bot tests and bench: a real small index, settings, a running bot.

The bot-flow tests run on the hashing test encoder (embeddings/hashing.py): they judge what the bot
does with an answer, not which passage answers. Its hand-set calibration lets the questions below
(which share their words with the answering paragraph) get the same answers as with the model.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.config import TEST_ENCODER
from tests.conftest import REPO, SHARED_MODEL

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.telegram.runtime import BotApplication
    from embeddings.backend import TextEncoder
    from embeddings.encoder import Encoder

SAMPLES = REPO / "sample_corpus"
# A handful of real pages: simplified, traditional and translated-English-source Chinese.
PAGES = (
    "seed-article.html",
    "drcd/drcd-00145.html",
    "xquad/xquad-00000.html",
    "cmrc2018/cmrc2018-00016.html",
)
LATER_PAGE = "drcd/drcd-00109.html"  # added by the reindex and upload tests
LATER_QUESTION = "全球第一個電視播送服務是BBC從何時開始的?"  # answered only by LATER_PAGE
LATER_ANSWER = "1936年11月2日"
QUESTION = "台北101的動土儀式是誰主持的？"
QUESTION_DOC = "drcd/drcd-00145.html"
QUESTION_ANSWER = "陳水扁"
MORE_QUESTION = "台北101有多高？"  # two paragraphs of QUESTION_DOC answer it: one quote plus "more"
ADMIN_ID = 1001
TOKEN = "123456:TEST-token-for-quotebot"
BOT_NAME = "quotebot_test"
REAL_ENCODER = "torch"  # the real model's encoder setting (what shared_encoder runs)


@dataclass(frozen=True)
class BuiltIndex:
    """A corpus of PAGES and the index built from it (read-only: copy before changing)."""

    corpus_dir: Path
    index_dir: Path
    encoder: str = REAL_ENCODER  # the QUOTEBOT_ENCODER setting the index was built with


_lock = threading.RLock()
_cache: dict[str, Any] = {}  # the session's one Encoder and BuiltIndex values


def shared_encoder() -> Encoder:
    """Return the one Encoder of the test session (the real local model)."""
    from embeddings.encoder import Encoder

    with _lock:
        if "encoder" not in _cache:
            _cache["encoder"] = Encoder(str(SHARED_MODEL))
        return _cache["encoder"]


def encoder_for(setting: str) -> TextEncoder:
    """Return the session's encoder for an encoder setting: the hashing one, else the real model."""
    from embeddings.hashing import HashingEncoder

    return HashingEncoder() if setting == TEST_ENCODER else shared_encoder()


def copy_pages(target: Path, pages: tuple[str, ...] = PAGES) -> Path:
    """Copy sample pages into a corpus directory and return it."""
    for rel in pages:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLES / rel, target / rel)
    return target


def shared_index(root: Path, encoder: str = TEST_ENCODER) -> BuiltIndex:
    """Build the session's index of PAGES once per encoder (under root), and return where it is."""
    from bot.indexing import build_index

    with _lock:
        key = f"index-{encoder}"
        if key not in _cache:
            corpus = copy_pages(root / encoder / "corpus")
            index = root / encoder / "index"
            build_index(corpus, index, encoder_for(encoder))
            _cache[key] = BuiltIndex(corpus, index, encoder)
        return _cache[key]  # type: ignore[no-any-return]


def private_copy(built: BuiltIndex, target: Path) -> BuiltIndex:
    """Copy a built corpus and index so a test may reindex or upload without touching others."""
    corpus = target / "corpus"
    index = target / "index"
    shutil.copytree(built.corpus_dir, corpus, symlinks=True)
    shutil.copytree(built.index_dir, index, symlinks=True)
    return BuiltIndex(corpus, index, built.encoder)


def bot_settings(built: BuiltIndex, api_url: str, **overrides: Any) -> Settings:
    """Return Settings for a bot talking to the test server about a built index."""
    from bot.config import Settings

    values: dict[str, Any] = {
        "model": str(SHARED_MODEL),
        "encoder": built.encoder,
        "corpus_dir": built.corpus_dir,
        "index_dir": built.index_dir,
        "telegram_token": TOKEN,
        "telegram_api_url": api_url,
        "admin_ids": frozenset({ADMIN_ID}),
        "questions_per_minute": 1000,
    }
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings, *, webhook: dict[str, Any] | None = None
) -> AsyncIterator[BotApplication]:
    """Run the real Application (long polling, or a webhook) until the block ends."""
    from bot.indexing import index_store
    from bot.telegram.app import build_application, polling_options
    from embeddings.live import LiveSearcher

    encoder = encoder_for(settings.encoder)
    live = LiveSearcher(
        index_store(settings.index_dir),
        encoder,
        top_k=settings.top_k,
        max_per_article=settings.max_per_article,
    )
    app = build_application(settings, live, encoder)
    assert app.updater is not None  # built with the default updater
    await app.initialize()
    if app.post_init is not None:
        await app.post_init(app)
    if webhook is None:
        await app.updater.start_polling(poll_interval=0.0, timeout=1, **polling_options())
    else:
        await app.updater.start_webhook(**webhook)
    await app.start()
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        if app.post_stop is not None:
            await app.post_stop(app)
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


async def settle(seconds: float = 0.2) -> None:
    """Give the bot a moment to (not) react."""
    await asyncio.sleep(seconds)

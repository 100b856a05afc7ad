"""`quotebot chat` (the bot in a terminal) and `quotebot serve` (the bot on Telegram)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

from bot.config import Settings

if TYPE_CHECKING:
    from embeddings.backend import TextEncoder
    from embeddings.live import LiveSearcher

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the chat and serve subcommands."""
    chat = subparsers.add_parser("chat", help="ask questions in the terminal (no token needed)")
    chat.add_argument(
        "--lang",
        choices=("zh-hans", "zh-hant", "en"),
        help="UI language (default: from LANG, else simplified Chinese)",
    )
    chat.set_defaults(func=run_chat_command)
    serve = subparsers.add_parser(
        "serve", help="run the Telegram bot (long polling, or a webhook when QUOTEBOT_WEBHOOK_URL is set)"
    )
    serve.set_defaults(func=run_serve_command)


def live_searcher(settings: Settings) -> tuple[LiveSearcher, TextEncoder]:
    """Return (live searcher, encoder) for the configured backend and model."""
    from bot.backends import open_live
    from bot.cli.index import make_encoder, make_reranker

    encoder = make_encoder(settings, serving=True)
    return open_live(settings, encoder, make_reranker(settings, serving=True)), encoder


def run_chat_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the terminal chat over the live index."""
    from bot.cli.chat import run_chat
    from bot.i18n import pick_language

    lang = args.lang or pick_language(os.environ.get("LC_ALL") or os.environ.get("LANG") or None)
    live, _ = live_searcher(settings)
    return run_chat(live, lang, sys.stdin, sys.stdout)


def run_serve_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run the bot on Telegram until interrupted."""
    from bot.metrics import Metrics
    from bot.telegram.app import build_application, serve, token_of
    from bot.telegram.health import attach, ops_endpoint
    from embeddings.errors import EmbeddingsError

    token_of(settings)  # fail before loading the model when there is no token
    metrics = Metrics()
    # Up before the model loads: /livez answers during a long warm-up, /readyz says what is missing.
    with ops_endpoint(settings, metrics) as ops:
        live, encoder = live_searcher(settings)
        try:
            stats = live.current.stats
            log.info("serving %d articles, %d passages", stats.articles, stats.passages)
        except EmbeddingsError as exc:
            log.warning("no usable index yet (%s); an admin can run /reindex", exc)
        application = build_application(settings, live, encoder, metrics=metrics)
        attach(ops, application)
        serve(application, settings)
    return 0

"""quotebot's command line: a thin shell over the library (parse, corpus, index, search, chat, serve)."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from bot.cli.wording import explain
from bot.config import ConfigError, Settings, load_settings
from corpus.errors import CorpusError
from embeddings.errors import EmbeddingsError

# Each module adds its subcommands with register(subparsers); a subcommand sets
# func(args, settings) -> exit code.
COMMAND_MODULES = ("bot.cli.corpus", "bot.cli.index", "bot.cli.serve", "bot.cli.sources")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="quotebot",
        description="Answer questions about Chinese news by quoting the paragraphs that answer them.",
    )
    parser.add_argument("--model", help="embedding model: hub id or local directory (QUOTEBOT_MODEL)")
    parser.add_argument("--corpus-dir", help="directory of news pages (QUOTEBOT_CORPUS_DIR)")
    parser.add_argument("--index-dir", help="directory of the index (QUOTEBOT_INDEX_DIR)")
    parser.add_argument("--log-level", help="DEBUG, INFO, WARNING or ERROR (QUOTEBOT_LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


OWN_LOGGERS = ("bot", "embeddings", "corpus", "__main__")


class LibraryQuiet(logging.Filter):
    """Lets other libraries' records through only from WARNING up, unless the level is DEBUG.

    faiss logs its CPU-feature probing at INFO and bm25s sets its own logger to DEBUG on import, which
    a newcomer reads as errors between the index progress and the chat.
    """

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        """Return whether the record is shown."""
        own = record.name.split(".", 1)[0] in OWN_LOGGERS
        return record.levelno >= (self.level if own or self.level <= logging.DEBUG else logging.WARNING)


class UnusedLossType(logging.Filter):
    """Drops transformers' warning that the model's config names no training loss.

    Tracing the model for OpenVINO reads its `loss_function`, and transformers then warns
    "`loss_type=None` was set in the config but it is unrecognized": quotebot never trains, and a
    newcomer's first run would read it as an error.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Return whether the record is shown."""
        text = record.getMessage()
        return not (text.startswith("`loss_type=") and "was set in the config but it is unrecognized" in text)


# transformers logs it on its modeling_utils logger, to its own handler (no propagation to ours).
LOSS_TYPE_LOGGER = "transformers.modeling_utils"


def configure_logging(level: str) -> None:
    """Configure logging once: our records at level, libraries' from WARNING, HTTP clients quiet."""
    numeric = logging.getLevelName(level.upper())
    numeric = numeric if isinstance(numeric, int) else logging.INFO
    logging.basicConfig(
        level=numeric, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    for handler in logging.getLogger().handlers:
        handler.addFilter(LibraryQuiet(numeric))
    # httpx logs every request URL, and Bot API URLs contain the token: quiet even at DEBUG.
    for noisy in ("httpx", "httpcore", "telegram.ext.Updater", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    loss_type = logging.getLogger(LOSS_TYPE_LOGGER)
    if not any(isinstance(f, UnusedLossType) for f in loss_type.filters):
        loss_type.addFilter(UnusedLossType())


def main(argv: Sequence[str] | None = None) -> int:
    """Run one quotebot command and return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        settings: Settings = load_settings(
            model=args.model, corpus_dir=args.corpus_dir, index_dir=args.index_dir, log_level=args.log_level
        )
        configure_logging(settings.log_level)
        return int(args.func(args, settings) or 0)
    except (ConfigError, CorpusError, EmbeddingsError) as exc:
        print(f"quotebot: {explain(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("quotebot: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

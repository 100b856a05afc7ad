"""What the health server says about the running bot: ready or why not, and the metrics of a scrape."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from bot.config import ConfigError, Settings, parse_listen
from bot.metrics import Metrics
from bot.ops_server import OpsServer
from embeddings.errors import EmbeddingsError

if TYPE_CHECKING:
    from bot.telegram.runtime import BotApplication

log = logging.getLogger(__name__)


def readiness(application: BotApplication) -> str | None:
    """Return None when an index is served and updates arrive (polling or webhook), else why not."""
    updater = application.updater
    if not application.running or updater is None or not updater.running:
        return "not ready: Telegram long polling or the webhook is not running"
    try:
        # Loads the first index when none is served yet (once per check interval), like a question would.
        application.bot_data.runtime.live.current  # noqa: B018
    except EmbeddingsError as exc:
        return f"not ready: no index is served ({exc})"
    return None


def scrape(application: BotApplication) -> bytes:
    """Return the metrics, with the index-size gauges read from the index served now."""
    rt = application.bot_data.runtime
    stats = None
    if rt.live.generation is not None:  # never loads an index for a scrape
        with contextlib.suppress(EmbeddingsError):
            stats = rt.live.current.stats
    rt.metrics.record_index(stats)
    return rt.metrics.exposition()


@contextlib.contextmanager
def ops_endpoint(settings: Settings, metrics: Metrics) -> Iterator[OpsServer | None]:
    """Run the health and metrics server of QUOTEBOT_OPS_LISTEN (None when it is off) for the block."""
    address = parse_listen(settings.ops_listen)
    if address is None:
        yield None
        return
    try:
        server = OpsServer(*address, scrape=metrics.exposition)
    except OSError as exc:
        raise ConfigError(
            f"QUOTEBOT_OPS_LISTEN={settings.ops_listen}: cannot listen there ({exc.strerror or exc}); "
            "choose another host:port, or set it to off"
        ) from None
    server.start()
    try:
        yield server
    finally:
        server.stop()


def attach(server: OpsServer | None, application: BotApplication) -> None:
    """Point the health server's readiness and scrape at the built bot."""
    if server is not None:
        server.ready = lambda: readiness(application)
        server.scrape = lambda: scrape(application)

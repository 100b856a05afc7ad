"""The reindexes the bot starts by itself: when the watched corpus folder settles, and on a schedule.

Both go through reindex.request_reindex: the same job slot, index lock and incremental reindex as
/reindex. They are plain asyncio tasks, not Application.create_task ones (PTB's stop awaits those,
and these loops never end by themselves); post_stop cancels them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from bot.telegram.reindex import request_reindex
from bot.watch import Settle, snapshot

if TYPE_CHECKING:
    from bot.telegram.runtime import BotApplication

log = logging.getLogger(__name__)


def start(application: BotApplication) -> None:
    """Start the folder watcher (QUOTEBOT_WATCH) and the schedule (QUOTEBOT_REINDEX_EVERY) when set."""
    rt = application.bot_data.runtime
    settings = rt.settings
    if settings.watch:
        rt.background.append(asyncio.create_task(watch_folder(application), name="quotebot-watch"))
    if settings.reindex_every is not None:
        schedule = reindex_every(application, settings.reindex_every)
        rt.background.append(asyncio.create_task(schedule, name="quotebot-schedule"))


async def stop(application: BotApplication) -> None:
    """Cancel the watcher and the schedule and wait for them to end."""
    rt = application.bot_data.runtime
    tasks, rt.background = rt.background, []
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def watch_folder(application: BotApplication) -> None:
    """Reindex incrementally each time the pages under the corpus directory change and then settle."""
    settings = application.bot_data.runtime.settings
    root = settings.corpus_dir
    settle = Settle(settings.watch_quiet, last=await asyncio.to_thread(snapshot, root))
    log.info(
        "watching %s every %gs (reindex after %gs without changes)",
        *(root, settings.watch_interval, settings.watch_quiet),
    )
    while True:
        await asyncio.sleep(settings.watch_interval)
        try:
            current = await asyncio.to_thread(snapshot, root)
        except OSError as exc:  # an unmounted share: say so and look again
            log.warning("cannot look at the watched folder %s: %s", root, exc)
            continue
        if settle.look(time.monotonic(), current):
            await start_quietly(application, "watch")


async def reindex_every(application: BotApplication, seconds: float) -> None:
    """Start an incremental reindex every `seconds`; a tick while one runs is skipped."""
    log.info("scheduled reindex every %gs", seconds)
    while True:
        await asyncio.sleep(seconds)
        rt = application.bot_data.runtime
        if rt.reindex is not None and rt.reindex.running():
            log.info("scheduled reindex skipped: one is running")
            continue
        await start_quietly(application, "schedule")


async def start_quietly(application: BotApplication, trigger: str) -> None:
    """Request a reindex for a trigger, logging (not raising) what goes wrong, so the loop lives on."""
    try:
        started = await request_reindex(application, trigger)
    except Exception:
        log.exception("could not start the %s reindex", trigger)
        return
    log.info("%s: %s", trigger, "reindexing" if started else "queued after the running reindex")

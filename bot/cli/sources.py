"""`quotebot add|follow|sources|unfollow|poll`: pages by URL and followed feeds (a shell over bot.sources)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.config import Settings

if TYPE_CHECKING:
    from bot.sources.live_corpus import LiveCorpus, PageOutcome, PollOutcome
    from bot.sources.store import Source
    from embeddings.backend import TextEncoder

log = logging.getLogger(__name__)

IDLE_SECONDS = (5.0, 60.0)  # `poll` without --once sleeps this long at least and at most between checks


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the add, follow, sources, unfollow and poll subcommands."""
    add = subparsers.add_parser(
        "add",
        help="fetch news pages by URL into the corpus and index them",
        description="Fetch each URL, check it is a news page not yet in the corpus, save it under "
        "CORPUS_DIR/web/<host>/ and index it incrementally.",
    )
    add.add_argument("urls", nargs="+", metavar="URL")
    add.add_argument("--json", action="store_true", help="print one JSON object per URL")
    add.set_defaults(func=run_add)
    follow = subparsers.add_parser(
        "follow",
        help="follow an RSS/Atom feed, a sitemap, or a page that links its feed",
        description="Follow URL: each poll fetches its new items' article pages into the corpus.",
    )
    follow.add_argument("url", metavar="URL")
    follow.add_argument(
        "--every", type=_minutes, metavar="MINUTES", help="poll interval (QUOTEBOT_POLL_MINUTES)"
    )
    follow.set_defaults(func=run_follow)
    sources = subparsers.add_parser("sources", help="list the followed sources and how their polls went")
    sources.add_argument("--json", action="store_true", help="print the sources as JSON")
    sources.set_defaults(func=run_sources)
    unfollow = subparsers.add_parser("unfollow", help="stop following a source (its pages stay)")
    unfollow.add_argument("source", metavar="ID|URL")
    unfollow.set_defaults(func=run_unfollow)
    poll = subparsers.add_parser(
        "poll",
        help="poll the followed sources and index what is new",
        description="Poll the sources that are due, fetch new articles and index them; --once polls every "
        "source now (conditional GETs still apply) and exits.",
    )
    poll.add_argument("--once", action="store_true", help="poll every source once, index, and exit")
    poll.set_defaults(func=run_poll)


def _minutes(value: str) -> int:
    """Parse --every: a whole number of minutes, at least 1."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"--every takes whole minutes (1 or more), not {value!r}")
    return int(value)


@contextmanager
def live_corpus(settings: Settings, *, indexing: bool) -> Iterator[LiveCorpus]:
    """Open the state store and the live corpus (which indexes by itself when indexing), then close them."""
    from bot.backends import state_file
    from bot.sources.wiring import open_live_corpus
    from bot.state import BotState

    state = BotState(state_file(settings))
    corpus = open_live_corpus(settings, state)
    if indexing:
        corpus.index = indexer(settings, corpus)
    try:
        yield corpus
    finally:
        corpus.fetcher.close()
        state.close()


def indexer(settings: Settings, corpus: LiveCorpus) -> Callable[[], None]:
    """Return the incremental reindex of the saved pages that the live corpus calls (the model loaded
    once); it reads only the pages saved since the last one when the live corpus knows them."""
    from bot import backends
    from bot.cli.index import make_encoder
    from embeddings.errors import IndexBusy

    encoders: list[TextEncoder] = []

    def index() -> None:
        if not encoders:
            encoders.append(make_encoder(settings))
        pending = corpus.pending()
        try:
            report = backends.reindex(
                settings, encoders[0], settings.corpus_dir, full=False, only=pending.pages
            )
        except IndexBusy as exc:  # the bot or another command reindexes: the pages wait for the next run
            log.warning("pages saved but not indexed yet: %s", exc)
            return
        corpus.indexed(pending)
        log.info(
            "indexed: added %d, updated %d, now %d passages", report.added, report.updated, report.passages
        )

    return index


def run_add(args: argparse.Namespace, settings: Settings) -> int:
    """Add pages by URL and index them."""
    with live_corpus(settings, indexing=True) as corpus:
        outcomes = [corpus.add(url) for url in args.urls]
        for outcome in outcomes:
            print(json.dumps(asdict(outcome), ensure_ascii=False) if args.json else page_line(outcome))
        corpus.flush()
    return 1 if any(o.status == "refused" for o in outcomes) else 0


def page_line(outcome: PageOutcome) -> str:
    """Return one line on what adding a URL did."""
    if outcome.status == "refused":
        return f"refused   {outcome.url}: {outcome.reason}"
    if outcome.status == "duplicate":
        return f"duplicate {outcome.url}: already in the corpus as {outcome.path}"
    fields = ", ".join(
        [*(str(f) for f in (outcome.outlet, outcome.date) if f), f"{outcome.passages} passages"]
    )
    return f"{outcome.status:<9} {outcome.path}: {outcome.title} ({fields})"


def run_follow(args: argparse.Namespace, settings: Settings) -> int:
    """Follow a source."""
    from bot.sources.live_corpus import SourceRefused

    with live_corpus(settings, indexing=False) as corpus:
        try:
            source = corpus.follow(args.url, args.every)
        except SourceRefused as exc:
            print(f"quotebot follow: cannot follow {args.url}: {exc}", file=sys.stderr)
            return 1
    every = source.every_minutes or settings.poll_minutes
    print(
        f"following #{source.id} {source.feed_url} ({source.kind}, every {every} min): {source.title or ''}"
    )
    return 0


def run_sources(args: argparse.Namespace, settings: Settings) -> int:
    """List the followed sources."""
    with live_corpus(settings, indexing=False) as corpus:
        sources = corpus.store.sources()
    if args.json:
        print(json.dumps([asdict(s) for s in sources], ensure_ascii=False, indent=1))
    elif not sources:
        print("no sources followed; add one with `quotebot follow URL`")
    else:
        print("\n".join(source_line(s) for s in sources))
    return 0


def when(stamp: float | None) -> str:
    """Return a UTC time as 2026-12-06 09:30, or "never"."""
    if stamp is None:
        return "never"
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%d %H:%M")


def source_line(source: Source) -> str:
    """Return one line about a source: id, URL, kind, last fetch, status, pages added, next check."""
    return (
        f"#{source.id} {source.url} [{source.kind}] last fetch {when(source.last_fetch)}, "
        f"status {source.status}, pages added {source.pages_added}, next check {when(source.next_check)}"
    )


def run_unfollow(args: argparse.Namespace, settings: Settings) -> int:
    """Stop following a source."""
    with live_corpus(settings, indexing=False) as corpus:
        source = corpus.unfollow(args.source)
    if source is None:
        print(f"quotebot unfollow: no source {args.source!r}; `quotebot sources` lists them", file=sys.stderr)
        return 1
    print(f"unfollowed #{source.id} {source.url} ({source.pages_added} pages stay in the corpus)")
    return 0


def run_poll(args: argparse.Namespace, settings: Settings) -> int:
    """Poll the sources (all of them now with --once, else each when due, until interrupted)."""
    with live_corpus(settings, indexing=True) as corpus:
        if args.once:
            report(corpus.poll_due(force=True))
            return 0
        while True:
            report(corpus.poll_due())
            due = min((s.next_check for s in corpus.store.sources()), default=time.time() + IDLE_SECONDS[1])
            time.sleep(min(max(due - time.time(), IDLE_SECONDS[0]), IDLE_SECONDS[1]))


def report(outcomes: list[PollOutcome]) -> None:
    """Print one line per polled source."""
    for outcome in outcomes:
        refused = sum(p.status == "refused" for p in outcome.pages)
        print(
            f"#{outcome.source.id} {outcome.source.feed_url}: {outcome.status}, {outcome.items} items, "
            f"{outcome.added} pages added, {refused} refused",
            flush=True,
        )

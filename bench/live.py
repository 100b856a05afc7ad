"""Live corpus speed: a loopback feed of 500 real-layout pages, fetched and indexed; feed-to-quote latency.

Run: nice -n 19 .venv/bin/python bench/live.py [--pages 500] [--rounds 5] [--encoder torch]
Generates (at run time, in a temporary directory) pages in the layout of ../shared/samples/
seed-article.html with the title and paragraphs of ../shared/eval-news articles, serves them and an
RSS feed listing them on 127.0.0.1, follows the feed with the live corpus (bot.sources) and measures:

1. one poll of the 500-item feed: pages fetched and saved per second (the per-host rate limit is set
   to 0 here: with the default 1 s per host a single site gives at most 1 page/s);
2. the incremental reindex that takes them in: pages (and passages) indexed per second;
3. feed-to-quote latency at a one-minute poll cadence, simulated: each round adds one held-back
   article to the feed at a uniformly random second of the minute; the wait until the next minute's
   poll is that remainder (not slept), then `poll --once`'s work is timed for real (conditional GET
   of the feed, the article, the incremental reindex, the searcher's reload) until the question from
   ../shared/eval-news/questions.jsonl about that article is answered with a quote from it.
Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bot.config import Settings  # noqa: E402
from bot.sources.live_corpus import LiveCorpus  # noqa: E402
from bot.sources.store import SourceStore  # noqa: E402
from bot.state import BotState  # noqa: E402
from corpus.fetch import Fetcher, FetchPolicy  # noqa: E402
from corpus.parse import parse_article  # noqa: E402
from embeddings.models import ReindexReport  # noqa: E402

SHARED = REPO.parent / "shared"
SEED = SHARED / "samples" / "seed-article.html"
NEWS = SHARED / "eval-news"
MODEL = SHARED / "models" / "multilingual-e5-small-zh-en"


def seed_layout() -> tuple[str, str, str]:
    """Return the seed page split around its title and its article body: (head, middle, tail)."""
    seed = SEED.read_text(encoding="utf-8")
    title = re.search(r"<h2>.*?</h2>", seed, re.S)
    body = re.search(r'<div class="entry">.*?(?=<div id="taboola-mid-1">)', seed, re.S)
    assert title and body, "the seed page's layout changed"
    head = re.sub(r"<title>.*?</title>", "<title>{title}</title>", seed[: title.start()], count=1, flags=re.S)
    return head, seed[title.end() : body.start()], seed[body.end() :]


def generate(target: Path, count: int) -> list[tuple[str, str, str]]:
    """Write count pages in the seed layout; return (file name, title, source doc) for each."""
    head, middle, tail = seed_layout()
    written = []
    for source in sorted((NEWS / "articles").rglob("*.html")):
        if len(written) == count:
            break
        try:
            article = parse_article(source.read_bytes(), source.name)
        except Exception:  # an article the parser refuses is simply not used
            continue
        paragraphs = "".join(f"<p>{escape(p.text)}</p> " for p in article.body)
        page = (
            head.replace("{title}", escape(article.title))
            + f"<h2>{escape(article.title)}</h2>"
            + middle
            + f'<div class="entry"> {paragraphs}'
            + tail
        )
        name = f"{len(written):04d}.html"
        (target / name).write_text(page, encoding="utf-8")
        written.append((name, article.title, source.relative_to(NEWS / "articles").as_posix()))
    return written


class Site:
    """A loopback web site: the generated pages under /news/ and an RSS feed of those listed."""

    def __init__(self, pages: Path) -> None:
        self.pages = pages
        self.listed: list[str] = []
        self.version = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                status, body, kind, etag = site.answer(self.path, self.headers.get("If-None-Match"))
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                if etag:
                    self.send_header("ETag", etag)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.root = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def answer(self, path: str, etag: str | None) -> tuple[int, bytes, str, str | None]:
        """Return status, body, content type and ETag for a path."""
        if path == "/feed.xml":
            current = f'"v{self.version}"'
            if etag == current:
                return 304, b"", "application/rss+xml", current
            items = "".join(
                f"<item><title>{n}</title><link>{self.root}/news/{n}</link><guid>{n}</guid></item>"
                for n in reversed(self.listed)
            )
            channel = f"<channel><title>bench</title>{items}</channel>"
            xml = f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'
            return 200, xml.encode(), "application/rss+xml", current
        file = self.pages / path.removeprefix("/news/")
        if path.startswith("/news/") and file.is_file():
            return 200, file.read_bytes(), "text/html; charset=utf-8", None
        return 404, b"not found", "text/plain", None

    def publish(self, names: list[str]) -> None:
        """List more pages in the feed (a new feed version)."""
        self.listed.extend(names)
        self.version += 1


def questions_by_doc() -> dict[str, dict[str, object]]:
    """Return the first eval-news question of each article."""
    found: dict[str, dict[str, object]] = {}
    for line in (NEWS / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        found.setdefault(str(row["doc"]), row)
    return found


def main() -> None:
    """Run the bench and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5, help="feed-to-quote rounds at a 1-minute cadence")
    parser.add_argument("--encoder", default="torch", help="QUOTEBOT_ENCODER (hashing: no model)")
    parser.add_argument("--seed", type=int, default=19)
    args = parser.parse_args()

    from bot import backends
    from bot.cli.index import make_encoder

    rng = random.Random(args.seed)
    questions = questions_by_doc()
    with tempfile.TemporaryDirectory(prefix="quotebot-live-") as tmp:
        root = Path(tmp)
        (root / "site").mkdir()
        (root / "corpus").mkdir()
        made = generate(root / "site", args.pages + args.rounds)
        later = [m for m in made[args.pages :] if m[2] in questions][: args.rounds]
        site = Site(root / "site")
        site.publish([name for name, _, _ in made[: args.pages]])
        settings = Settings(
            model=str(MODEL), encoder=args.encoder, corpus_dir=root / "corpus", index_dir=root / "index"
        )
        encoder = make_encoder(settings)
        state = BotState(backends.state_file(settings))
        fetcher = Fetcher(FetchPolicy(allow=("127.0.0.1",), per_host_interval=0.0))
        live = LiveCorpus(root / "corpus", fetcher, SourceStore(state), poll_minutes=1)

        def index() -> ReindexReport:  # as `quotebot poll` indexes (bot.cli.sources.indexer)
            pending = live.pending()
            report = backends.reindex(settings, encoder, settings.corpus_dir, full=False, only=pending.pages)
            live.indexed(pending)
            return report

        live.follow(f"{site.root}/feed.xml")
        started = time.perf_counter()
        (outcome,) = live.poll_due(force=True)  # index None: fetch and save only
        fetch_s = time.perf_counter() - started
        started = time.perf_counter()
        report = index()
        index_s = time.perf_counter() - started
        print(f"encoder {args.encoder}; {outcome.items} feed items, {outcome.added} pages saved")
        print(f"fetch+parse+save: {fetch_s:.1f} s = {outcome.added / fetch_s:.1f} pages/s")
        print(
            f"incremental reindex of them: {index_s:.1f} s = {report.added / index_s:.2f} pages/s, "
            f"{report.passages / index_s:.1f} passages/s ({report.passages} passages)"
        )

        live.index = index
        searcher = backends.open_live(settings, encoder)
        latencies, work, quotes = [], [], 0
        for name, _title, doc in later:
            offset = rng.uniform(0, 60)  # the item appears this many seconds into the minute
            site.publish([name])
            started = time.perf_counter()
            live.poll_due(force=True)  # the next minute's poll: feed, article, incremental reindex
            searcher.reload()  # what the bot does once its reindex is done (bot.telegram.reindex.serve)
            answer = searcher.current.search(str(questions[doc]["question"]))
            quoted = any(Path(h.doc).name.startswith(name.removesuffix(".html") + "-") for h in answer.hits)
            spent = time.perf_counter() - started
            work.append(spent)
            latencies.append(60 - offset + spent)
            quotes += quoted
            print(
                f"  round {name}: appeared at +{offset:4.1f} s, poll to answer {spent:.1f} s, "
                f"quoted it: {quoted}"
            )
        if latencies:
            print(
                f"feed-to-quote at a 1-minute poll: mean {statistics.mean(latencies):.1f} s, "
                f"max {max(latencies):.1f} s (poll to answer mean {statistics.mean(work):.1f} s; the wait "
                f"for the next poll is simulated, 30 s on average); the answer quoted the new page "
                f"{quotes}/{len(work)}"
            )
        fetcher.close()
        state.close()
        site.httpd.shutdown()


if __name__ == "__main__":
    main()

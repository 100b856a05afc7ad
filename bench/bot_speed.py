"""Bot speed: questions/s and p50/p95 latency through the test Bot API server vs the pipeline called directly.

Run: .venv/bin/python bench/bot_speed.py [--questions 60] [--users 1 20]
Builds (once, cached under /tmp/quotebot-bench/) an index of sample_corpus with the shared model, then
for each user count measures (a) Searcher.search called directly from that many threads and (b) the
real PTB Application over HTTP: time from the update being queued at the server to the server
receiving the bot's sendMessage. Figures, not pass/fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault(
    "QUOTEBOT_MODEL", str(REPO.parent / "shared" / "models" / "multilingual-e5-small-zh-en")
)

from bench.cpu import print_cpu  # noqa: E402
from bot.config import DEFAULT_ENCODER  # noqa: E402
from tests.bot_support import TOKEN, BuiltIndex, bot_settings, running_bot  # noqa: E402
from tests.telegram_server import BotApiServer  # noqa: E402

if TYPE_CHECKING:
    from embeddings.encoder import Encoder

WORK = Path("/tmp/quotebot-bench")
CORPUS = REPO / "sample_corpus"
QUESTIONS = REPO.parent / "shared" / "eval" / "questions.jsonl"


def bench_encoder(setting: str) -> Encoder:
    """Return the real model under an encoder setting (QUOTEBOT_ENCODER value)."""
    from embeddings.encoder import Encoder

    return Encoder(os.environ["QUOTEBOT_MODEL"], encoder=setting)


def bench_index(encoder: str = DEFAULT_ENCODER) -> BuiltIndex:
    """Build (or reuse) the index of the whole sample corpus with an encoder setting."""
    from bot.indexing import build_index

    index = WORK / f"index-{encoder}"
    build_index(CORPUS, index, bench_encoder(encoder))  # incremental: a no-op when cached
    return BuiltIndex(CORPUS, index, encoder)


def questions(n: int) -> list[str]:
    """Return n eval questions about pages in the sample corpus (cycled if needed)."""
    pages = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.html")}
    found = []
    with QUESTIONS.open(encoding="utf-8") as lines:
        for line in lines:
            item = json.loads(line)
            if item["doc"] in pages:
                found.append(item["question"])
    return [found[i % len(found)] for i in range(n)]


def summary(name: str, users: int, latencies: list[float], seconds: float) -> dict[str, Any]:
    """Return throughput and latency percentiles of one run."""
    ordered = sorted(latencies)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return {
        "path": name,
        "users": users,
        "questions": len(latencies),
        "q_per_s": round(len(latencies) / seconds, 2),
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(p95 * 1000, 1),
    }


def direct(built: BuiltIndex, asked: list[str], users: int) -> dict[str, Any]:
    """Call Searcher.search from `users` threads, each asking its share in turn."""
    from bot.indexing import index_store
    from embeddings.live import LiveSearcher

    searcher = LiveSearcher(index_store(built.index_dir), bench_encoder(built.encoder)).current
    searcher.search(asked[0])  # warm up

    def one(question: str) -> float:
        start = time.perf_counter()
        searcher.search(question)
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(users) as pool:
        latencies = list(pool.map(one, asked))
    return summary("direct", users, latencies, time.perf_counter() - start)


async def through_bot(built: BuiltIndex, asked: list[str], users: int) -> dict[str, Any]:
    """Ask through the test server: each user sends a question, waits for the answer, asks the next."""
    with BotApiServer(token=TOKEN, username="quotebot_bench") as server:
        settings = bot_settings(built, server.url, index_dir=built.index_dir, questions_per_minute=10_000)
        async with running_bot(settings):

            async def answer_for(chat_id: int, since: float) -> float:
                while True:
                    calls = server.calls("sendMessage")
                    for call in calls:
                        if call.params.get("chat_id") == chat_id and call.ok and call.at >= since:
                            return call.at
                    await asyncio.sleep(0.002)

            async def user(uid: int, mine: list[str]) -> list[float]:
                out = []
                for question in mine:
                    start = time.time()
                    server.add_text(question, user_id=uid)
                    out.append(await answer_for(uid, start) - start)
                return out

            await user(999, asked[:1])  # warm up
            shares = [asked[i::users] for i in range(users)]
            start = time.perf_counter()
            results = await asyncio.gather(*(user(1000 + i, share) for i, share in enumerate(shares)))
            seconds = time.perf_counter() - start
    return summary("bot", users, [x for r in results for x in r], seconds)


def main() -> int:
    """Run the benchmark and print one JSON line per measurement."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=60)
    parser.add_argument("--users", type=int, nargs="+", default=[1, 20])
    args = parser.parse_args()
    print_cpu()
    WORK.mkdir(parents=True, exist_ok=True)
    built = bench_index()
    asked = questions(args.questions)
    for users in args.users:
        print(json.dumps(direct(built, asked, users)), flush=True)
        print(json.dumps(asyncio.run(through_bot(built, asked, users))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

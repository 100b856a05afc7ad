"""Load and soak: many users at once, then a long run, against `quotebot serve` over the test Bot API server.

Run: .venv/bin/python bench/load.py [--burst 200 [60 ...]] [--soak 10000] [--soak-users 500]
     [--rss-at 1000 10000]
Starts the real bot (`python -m bot serve`, a child process with the shared model and an index of
sample_corpus) against tests/telegram_server.py, then (a) for each `--burst` size, that many users
each send one question at the same moment and (b) `--soak-users` users ask `--soak` questions in
all, each asking again as soon as answered. Reports replies received, duplicates, refused sends,
p50/p95/p99 of question -> first answer message (update queued -> the server receiving
sendMessage), for bursts the same up to the answer being ready to send (searched and rendered,
before the 30 messages/s send budget; from the bot's "answered" log lines), questions/s, and the
bot's RSS before the soak and after each `--rss-at` count (the bot's log is kept in
/tmp/quotebot-bench/load-bot.log). Figures, not pass/fail; sizes are flags so a small run fits a
busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
MODEL = os.environ.setdefault(
    "QUOTEBOT_MODEL", str(REPO.parent / "shared" / "models" / "multilingual-e5-small-zh-en")
)

import psutil  # noqa: E402

from bench.bot_speed import CORPUS, QUESTIONS, WORK, bench_index  # noqa: E402
from bench.cpu import print_cpu  # noqa: E402
from bot import i18n  # noqa: E402
from bot.config import DEFAULT_ENCODER  # noqa: E402
from tests.bot_support import TOKEN  # noqa: E402
from tests.telegram_server import BotApiServer, Call  # noqa: E402

FAILURE_TEXTS = {i18n.text("zh-hans", key) for key in ("error", "send_failed", "index_missing")}
# bot/telegram/questions.py logs one such line per answer; its time is when the handler finished.
ANSWERED = re.compile(
    r"^(?P<at>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) INFO \S+: answered chat=(?P<chat>-?\d+) .* in "
    r"(?P<total>\d+) ms \(ready after (?P<ready>\d+) ms\)$"
)


def interleaved_questions() -> list[str]:
    """Return the eval questions about sample pages, ordered so neighbours are about different pages.

    Each user walks this list from its own start, so its consecutive answers differ and an answer
    sent twice shows as two identical messages in a row.
    """
    pages = {p.relative_to(CORPUS).as_posix() for p in CORPUS.rglob("*.html")}
    by_doc: dict[str, list[str]] = defaultdict(list)
    with QUESTIONS.open(encoding="utf-8") as lines:
        for line in lines:
            item = json.loads(line)
            if item["doc"] in pages:
                by_doc[item["doc"]].append(item["question"])
    rounds = itertools.zip_longest(*by_doc.values())
    return [q for row in rounds for q in row if q is not None]


def percentile(ordered: list[float], q: float) -> float:
    """Return the q-quantile (nearest rank) of sorted values, in ms."""
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 1) if ordered else 0.0


class Replies:
    """Collects the bot's messages per chat as the server records them; wakes the user waiting for one."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.texts: dict[int, list[str]] = defaultdict(list)
        self.events: dict[int, list[tuple[str, str]]] = defaultdict(list)  # ("ask"|"msg", text) per chat
        self.refused = 0  # sendMessage calls the server refused (bad HTML, too long, ...)
        self._waiting: dict[int, asyncio.Future[float]] = {}
        self.asked_at: dict[int, float] = {}  # when each chat last asked (epoch seconds)

    def on_call(self, call: Call) -> None:
        """Take one recorded call (runs in the server's thread)."""
        if call.method != "sendMessage":
            return
        if call.ok:
            self.loop.call_soon_threadsafe(
                self._got, int(call.params["chat_id"]), call.result["text"], call.at
            )
        elif call.status == 400:
            self.refused += 1

    def _got(self, chat_id: int, text: str, at: float) -> None:
        self.texts[chat_id].append(text)
        self.events[chat_id].append(("msg", text))
        future = self._waiting.pop(chat_id, None)
        if future is not None and not future.done():
            future.set_result(at)

    async def ask(self, server: BotApiServer, user_id: int, question: str, timeout: float) -> float | None:
        """Send a question and return the seconds until its first reply (None when none came)."""
        future: asyncio.Future[float] = self.loop.create_future()
        self._waiting[user_id] = future
        start = time.time()
        self.asked_at[user_id] = start
        self.events[user_id].append(("ask", question))
        server.add_text(question, user_id=user_id)
        try:
            return await asyncio.wait_for(future, timeout) - start
        except TimeoutError:
            self._waiting.pop(user_id, None)
            return None

    def duplicates(self, chats: range) -> int:
        """Count messages sent twice: identical to the message before in the chat, and not simply the
        usual answer of the question asked in between (two questions may share an answer)."""
        usual = self._usual_answers()
        count = 0
        for chat in chats:
            asked, previous = None, None
            for kind, text in self.events[chat]:
                if kind == "ask":
                    asked = text
                    continue
                if text == previous and usual.get(asked or "") != text:
                    count += 1
                previous, asked = text, None
        return count

    def _usual_answers(self) -> dict[str, str]:
        """Return the most common first reply to each question, over every chat."""
        firsts: dict[str, Counter[str]] = defaultdict(Counter)
        for events in self.events.values():
            for (kind, question), (next_kind, text) in itertools.pairwise(events):
                if kind == "ask" and next_kind == "msg":
                    firsts[question][text] += 1
        return {q: c.most_common(1)[0][0] for q, c in firsts.items()}

    def failures(self, chats: range) -> int:
        """Count apologies and other failure notices sent to these chats."""
        return sum(t in FAILURE_TEXTS for c in chats for t in self.texts[c])


def ready_latencies(log: Path, asked_at: dict[int, float]) -> list[float]:
    """Return, per chat that asked once, the seconds from its question to its answer being ready to send.

    The bot logs when each handler finished, its duration and when in it the answer was ready, so the
    handler started at (log time - duration) and the answer was ready that much later.
    """
    ready: dict[int, float] = {}
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        found = ANSWERED.match(line)
        if found is None or int(found["chat"]) not in asked_at:
            continue
        at = datetime.datetime.strptime(found["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        started = at - int(found["total"]) / 1000
        ready[int(found["chat"])] = started + int(found["ready"]) / 1000 - asked_at[int(found["chat"])]
    return sorted(ready.values())


def summary(
    name: str, users: int, latencies: list[float | None], seconds: float, replies: Replies, chats: range
) -> dict[str, Any]:
    """Return the figures of one run."""
    got = sorted(x for x in latencies if x is not None)
    return {
        "run": name,
        "users": users,
        "questions": len(latencies),
        "replies": len(got),
        "missing": len(latencies) - len(got),
        "duplicates": replies.duplicates(chats),
        "failure_notices": replies.failures(chats),
        "refused_sends": replies.refused,
        "q_per_s": round(len(got) / seconds, 2) if seconds else 0.0,
        "p50_ms": percentile(got, 0.50),
        "p95_ms": percentile(got, 0.95),
        "p99_ms": percentile(got, 0.99),
        "max_ms": percentile(got, 1.0),
    }


def start_bot(
    server: BotApiServer, index_dir: Path, work: Path, args: argparse.Namespace
) -> subprocess.Popen[bytes]:
    """Start `python -m bot serve` against the server with the chosen encoder, logging to work/bot.log."""
    env = dict(os.environ)
    env.update(
        QUOTEBOT_TELEGRAM_TOKEN=TOKEN,
        QUOTEBOT_TELEGRAM_API_URL=server.url,
        QUOTEBOT_INDEX_DIR=str(index_dir),
        QUOTEBOT_CORPUS_DIR=str(CORPUS),
        QUOTEBOT_MODEL=MODEL,
        QUOTEBOT_QUESTIONS_PER_MINUTE=str(args.per_minute),
        # Named here: importing tests.bot_support sets the test suite's encoder in this environment.
        QUOTEBOT_ENCODER=args.encoder,
        QUOTEBOT_LOG_LEVEL="INFO",  # one "answered" line per question: when it was ready to send
        PYTHONPATH=str(REPO),
    )
    log = (work / "bot.log").open("wb")
    return subprocess.Popen([sys.executable, "-m", "bot", "serve"], env=env, cwd=work, stdout=log, stderr=log)


def rss_mb(proc: subprocess.Popen[bytes]) -> float:
    """Return the bot process's resident memory in MB."""
    return round(psutil.Process(proc.pid).memory_info().rss / 1e6, 1)


async def burst(
    server: BotApiServer, replies: Replies, asked: list[str], users: int, first: int, log: Path
) -> dict[str, Any]:
    """Have `users` users send one question each at the same moment."""
    start = time.perf_counter()
    latencies = await asyncio.gather(
        *(replies.ask(server, first + i, asked[(7 * i) % len(asked)], 300) for i in range(users))
    )
    seconds = time.perf_counter() - start
    chats = range(first, first + users)
    result = summary("burst", users, list(latencies), seconds, replies, chats)
    await asyncio.sleep(0.5)  # the handlers log their line just after the send
    ready = ready_latencies(log, {c: replies.asked_at[c] for c in chats})
    result.update(
        ready_count=len(ready),
        ready_p50_ms=percentile(ready, 0.50),
        ready_p95_ms=percentile(ready, 0.95),
        ready_p99_ms=percentile(ready, 0.99),
    )
    return result


async def soak(
    server: BotApiServer,
    replies: Replies,
    proc: subprocess.Popen[bytes],
    args: argparse.Namespace,
    asked: list[str],
) -> dict[str, Any]:
    """Have soak_users users ask soak questions in all, each asking again once answered; sample RSS."""
    first, users, total = 100_000, args.soak_users, args.soak
    latencies: list[float | None] = []
    rss = {"start": rss_mb(proc)}
    marks = sorted(args.rss_at)
    issued = iter(range(total))

    async def user(uid: int) -> None:
        for step, _ in enumerate(issued):
            question = asked[(7 * uid + step) % len(asked)]
            latencies.append(await replies.ask(server, uid, question, 300))
            while marks and len(latencies) >= marks[0]:
                rss[f"after_{marks.pop(0)}"] = rss_mb(proc)

    start = time.perf_counter()
    await asyncio.gather(*(user(first + i) for i in range(users)))
    result = summary(
        "soak", users, latencies, time.perf_counter() - start, replies, range(first, first + users)
    )
    result["rss_mb"] = rss
    return result


async def measured(
    proc: subprocess.Popen[bytes], one: Coroutine[Any, Any, dict[str, Any]], encoder: str
) -> dict[str, Any]:
    """Run one burst or soak and add the encoder, the bot's CPU seconds and the load average."""
    bot = psutil.Process(proc.pid)
    before = sum(bot.cpu_times()[:2])
    result = await one
    result.update(
        encoder=encoder,
        bot_cpu_s=round(sum(bot.cpu_times()[:2]) - before, 1),
        load_avg=round(os.getloadavg()[0], 1),
    )
    return result


async def run(args: argparse.Namespace, index_dir: Path, work: Path) -> list[dict[str, Any]]:
    """Start the server and the bot, run the burst and the soak, stop the bot."""
    asked = interleaved_questions()
    with BotApiServer(token=TOKEN, username="quotebot_load") as server:
        replies = Replies(asyncio.get_running_loop())
        server.on_call = replies.on_call
        proc = start_bot(server, index_dir, work, args)
        try:
            if await replies.ask(server, 999, asked[0], 600) is None:  # warm up (model load)
                raise SystemExit(f"the bot did not answer; see {work / 'bot.log'}")
            runs = [
                burst(server, replies, asked, users, 10_000 * (n + 1), work / "bot.log")
                for n, users in enumerate(u for u in args.burst if u)  # --burst 0 or none: skip
            ]
            if args.soak:
                runs.append(soak(server, replies, proc, args, asked))
            return [await measured(proc, one, args.encoder) for one in runs]
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    """Run the benchmark and print one JSON line per run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--burst",
        type=int,
        nargs="*",
        default=[200],
        help="users asking at once, one burst per size (0: no burst)",
    )
    parser.add_argument("--soak", type=int, default=10_000, help="questions in the soak (0: skip)")
    parser.add_argument("--soak-users", type=int, default=500)
    parser.add_argument("--rss-at", type=int, nargs="*", default=[1_000, 10_000])
    parser.add_argument("--encoder", default=DEFAULT_ENCODER, help="the bot's QUOTEBOT_ENCODER")
    parser.add_argument("--per-minute", type=int, default=1_000, help="QUOTEBOT_QUESTIONS_PER_MINUTE")
    args = parser.parse_args()
    print_cpu()
    WORK.mkdir(parents=True, exist_ok=True)
    built = bench_index(args.encoder)
    with tempfile.TemporaryDirectory(prefix="quotebot-load-") as tmp:
        work = Path(tmp)
        index_dir = work / "index"  # a copy: the bot's button store must start empty
        shutil.copytree(built.index_dir, index_dir, symlinks=True)
        try:
            for line in asyncio.run(run(args, index_dir, work)):
                print(json.dumps(line), flush=True)
        finally:
            shutil.copyfile(work / "bot.log", WORK / "load-bot.log")  # warnings and apologies, if any
    return 0


if __name__ == "__main__":
    sys.exit(main())

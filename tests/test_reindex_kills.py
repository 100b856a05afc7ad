"""kill -9 at random moments of many consecutive reindexes: the served index always answers, and one
normal run afterwards leaves exactly what a fresh full build has (same pages, passages and vectors)."""

from __future__ import annotations

import os
import queue
import random
import signal
import subprocess
import sys
import threading
from dataclasses import asdict
from pathlib import Path

import numpy as np

from bot.indexing import PAGE_STATS, open_searcher
from embeddings.hashing import HashingEncoder
from embeddings.local.generations import CURRENT, read_manifest
from embeddings.local.segments import load_passages, load_vectors
from tests.test_store import write_corpus, write_page

SEED = 20261201
ROUNDS = 30  # bounded: each round is one `python -m bot index` of about two seconds
EXTRA_PAGES = 16
ANCHOR_QUESTION = "强台风海燕在福建省福清市沿海登陆"  # news/typhoon.html, never edited or deleted
WORDS = "市政府 交通 预算 铁路 港口 医院 学校 电力 水库 机场 桥梁 公园 地铁 税收 人口 农业".split()  # noqa: SIM905


def paragraph(rng: random.Random) -> str:
    """Return a fresh paragraph of words (texts repeat across rounds, so vectors get reused by text)."""
    return "，".join(rng.choice(WORDS) + f"第{rng.randrange(40)}项" for _ in range(6)) + "。"


def add_page(rng: random.Random, corpus: Path, name: str) -> None:
    """Write one extra page of a few paragraphs."""
    paras = [paragraph(rng) for _ in range(rng.randint(2, 7))]
    write_page(corpus, f"extra/{name}.html", f"报道{name}", "新华社", None, paras)


def change_pages(rng: random.Random, corpus: Path, round_: int) -> None:
    """Edit, add, delete and move extra pages, as an editor between two reindexes might."""
    pages = sorted((corpus / "extra").glob("*.html"))
    if pages:
        edited = rng.choice(pages)
        text = edited.read_text(encoding="utf-8")
        # A new first paragraph shifts every ordinal of the page; the old texts keep their vectors.
        edited.write_text(text.replace("<p>", f"<p>{paragraph(rng)}</p><p>", 1), encoding="utf-8")
    if len(pages) > 4 and rng.random() < 0.6:
        rng.choice(pages).unlink()
    if pages and rng.random() < 0.3:
        moved = rng.choice(sorted((corpus / "extra").glob("*.html")))
        moved.rename(corpus / "extra" / f"moved-{round_}.html")
    for n in range(rng.randint(0, 2)):
        add_page(rng, corpus, f"r{round_}-{n}")


def start_index(corpus: Path, index_dir: Path, *, full: bool) -> subprocess.Popen[str]:
    """Start `python -m bot index` with the test encoder, logging its progress on stderr."""
    env = {
        **os.environ,
        "QUOTEBOT_ENCODER": "hashing",
        "QUOTEBOT_INDEX_DIR": str(index_dir),
        "QUOTEBOT_BATCH_SIZE": "1",  # chunks of 4 passages: many moments to be killed at
        "QUOTEBOT_LOG_LEVEL": "INFO",
    }
    argv = [sys.executable, "-m", "bot", "index", str(corpus), *(["--full"] if full else [])]
    return subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env, cwd=index_dir.parent
    )


def stderr_lines(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """Return a queue of the process's stderr lines, None once it is closed."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


# Where a kill lands: after one of these log lines (the scan, an embedded chunk, the write with its
# fsyncs and swaps, the swapped-in generation; "" is any line), then a random delay of up to the
# seconds given. The write stage is drawn most often: the commit happens there.
MOMENTS = {"scanned": 0.2, "embedded": 0.2, "writing the index": 1.5, "now serves": 0.1, "": 0.3}
WEIGHTS = {"scanned": 2, "embedded": 2, "writing the index": 5, "now serves": 1, "": 2}


def kill_at_random(proc: subprocess.Popen[str], rng: random.Random) -> bool:
    """Kill proc at a random moment of its run (it may finish first); return whether it was killed."""
    lines = stderr_lines(proc)
    marker = rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
    skip = rng.randint(0, 3) if marker in ("embedded", "") else 0  # lines that repeat
    while (line := lines.get(timeout=120)) is not None:
        if marker in line:
            if skip == 0:
                break
            skip -= 1
    try:
        proc.wait(timeout=rng.uniform(0.0, MOMENTS[marker]))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode in (0, -signal.SIGKILL), proc.returncode
    return proc.returncode == -signal.SIGKILL


def assert_serves(index_dir: Path) -> None:
    """Open the live index as the bot would and ask it a question about a page that is always there."""
    searcher = open_searcher(index_dir, HashingEncoder())
    answer = searcher.search(ANCHOR_QUESTION)
    assert (answer.hits or answer.nearest)[0].doc == "news/typhoon.html"
    assert searcher.stats.passages == sum(len(r.passage_ids) for r in read_manifest(index_dir).pages.values())


def contents(index_dir: Path) -> tuple[dict[str, object], list[dict[str, object]], dict[int, np.ndarray]]:
    """Return a live generation's pages, passages and vectors by passage id."""
    manifest = read_manifest(index_dir)
    pages = {path: (rec.content_hash, rec.passage_ids) for path, rec in manifest.pages.items()}
    passages = [asdict(p) for p in load_passages(index_dir / CURRENT)]
    vectors = load_vectors(index_dir / CURRENT, manifest)
    return pages, passages, {int(p["id"]): vectors[row] for row, p in enumerate(passages)}


def test_kill_9_during_many_reindexes_never_breaks_the_served_index(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    for n in range(EXTRA_PAGES):
        add_page(rng, corpus, f"p{n}")
    first = start_index(corpus, index_dir, full=False)
    assert first.wait(timeout=300) == 0
    killed = 0
    for round_ in range(ROUNDS):
        change_pages(rng, corpus, round_)
        killed += kill_at_random(start_index(corpus, index_dir, full=rng.random() < 0.3), rng)
        assert_serves(index_dir)
    assert killed >= ROUNDS // 3, f"only {killed} of {ROUNDS} runs were killed: the loop tests little"

    assert start_index(corpus, index_dir, full=False).wait(timeout=300) == 0
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert start_index(corpus, fresh / "i", full=True).wait(timeout=300) == 0
    pages, passages, vectors = contents(index_dir)
    fresh_pages, fresh_passages, fresh_vectors = contents(fresh / "i")
    assert pages == fresh_pages and passages == fresh_passages
    assert vectors.keys() == fresh_vectors.keys()
    for pid, vector in fresh_vectors.items():
        np.testing.assert_allclose(vectors[pid], vector, atol=1e-6)
    leftovers = {p.name for p in index_dir.iterdir()} - {".lock", "current", "previous", PAGE_STATS}
    assert leftovers == {os.readlink(index_dir / CURRENT), os.readlink(index_dir / "previous")}

"""LiveSearcher: picks up reindexes and rollbacks without a restart, keeps serving through bad swaps."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from bot.indexing import build_index, index_store
from embeddings.errors import IndexMissing
from embeddings.hashing import HashingEncoder
from embeddings.live import LiveSearcher
from embeddings.local.generations import CURRENT, rollback
from embeddings.search import Searcher
from tests.test_store import write_corpus, write_page


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return (corpus, index) built once; tests copy both before changing them."""
    root = tmp_path_factory.mktemp("live")
    corpus = write_corpus(root / "corpus", seed=False)
    build_index(corpus, root / "index", HashingEncoder())
    return corpus, root / "index"


@pytest.fixture()
def copy(built: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path]:
    """Return a private (corpus, index) copy."""
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(built[0], corpus)
    shutil.copytree(built[1], index_dir, symlinks=True)
    return corpus, index_dir


def add_quake(corpus: Path) -> None:
    """Add a page the original corpus does not have."""
    write_page(
        corpus, "news/quake.html", "四川发生地震", "新华社", "2024-08-01", ["四川泸定县发生六点八级地震。"]
    )


def swapped(live: LiveSearcher) -> Searcher:
    """Return the searcher served once the load the next question starts (if any) has ended."""
    live.current  # noqa: B018
    assert live.settle(timeout=120)
    return live.current


def test_a_reindex_is_picked_up_and_the_old_searcher_keeps_working(copy: tuple[Path, Path]) -> None:
    corpus, index_dir = copy
    live = LiveSearcher(index_store(index_dir), HashingEncoder(), check_interval=0, top_k=2)
    old = live.current
    first = live.generation
    assert first == os.readlink(index_dir / CURRENT)
    assert live.current is old  # nothing changed: the same object, no reload
    add_quake(corpus)
    build_index(corpus, index_dir, HashingEncoder())
    new = swapped(live)
    assert new is not old and live.generation == os.readlink(index_dir / CURRENT) != first
    assert new.search("四川哪里发生了地震？").hits[0].doc == "news/quake.html"
    assert len(new.search("四川哪里发生了地震？").hits) <= 2  # search options carry over
    assert old.search("台风在哪里登陆？").hits[0].doc == "news/typhoon.html"
    assert old.stats.passages == new.stats.passages - 1

    rollback(index_dir)
    assert swapped(live).stats.passages == old.stats.passages and live.generation == first


def test_checks_are_rate_limited_but_reload_forces_one(copy: tuple[Path, Path]) -> None:
    corpus, index_dir = copy
    live = LiveSearcher(index_store(index_dir), HashingEncoder(), check_interval=3600)
    old = live.current
    assert live.reload() is False
    add_quake(corpus)
    build_index(corpus, index_dir, HashingEncoder())
    assert live.current is old  # not looked at again within the interval
    assert live.reload() is True and live.current is not old
    assert live.reload() is False


def test_a_broken_new_generation_leaves_the_old_one_serving(
    copy: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    corpus, index_dir = copy
    live = LiveSearcher(index_store(index_dir), HashingEncoder(), check_interval=0)
    good = live.current
    good_name = live.generation
    broken = index_dir / "gen-29991231T000000000000Z"
    broken.mkdir()
    (broken / "manifest.json").write_text("{", encoding="utf-8")
    os.symlink(broken.name, index_dir / "swap")
    os.replace(index_dir / "swap", index_dir / CURRENT)
    with caplog.at_level(logging.ERROR, logger="embeddings.live"):
        assert live.current is good and swapped(live) is good and swapped(live) is good
    assert live.generation == good_name
    assert sum("cannot be opened" in r.getMessage() for r in caplog.records) == 1  # not retried each call
    assert live.current.search("台风在哪里登陆？").answered

    os.symlink(good_name or "", index_dir / "swap")
    os.replace(index_dir / "swap", index_dir / CURRENT)
    add_quake(corpus)
    build_index(corpus, index_dir, HashingEncoder())
    assert (
        swapped(live) is not good
        and live.current.search("四川哪里发生了地震？").hits[0].doc == "news/quake.html"
    )


def test_no_index_raises_until_one_is_built(built: tuple[Path, Path], tmp_path: Path) -> None:
    live = LiveSearcher(index_store(tmp_path / "index"), HashingEncoder(), check_interval=0)
    with pytest.raises(IndexMissing, match="quotebot index"):
        live.current  # noqa: B018
    build_index(built[0], tmp_path / "index", HashingEncoder())
    assert isinstance(live.current, Searcher)


def test_a_failed_first_load_is_not_retried_on_every_question(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    live = LiveSearcher(index_store(tmp_path / "index"), HashingEncoder(), check_interval=3600)
    with pytest.raises(IndexMissing) as first:
        live.current  # noqa: B018
    build_index(built[0], tmp_path / "index", HashingEncoder())
    with pytest.raises(IndexMissing) as again:
        live.current  # noqa: B018
    assert again.value is first.value
    assert live.reload() is True and isinstance(live.current, Searcher)


def test_threads_always_get_a_complete_searcher_during_swaps(copy: tuple[Path, Path]) -> None:
    corpus, index_dir = copy
    live = LiveSearcher(index_store(index_dir), HashingEncoder(), check_interval=0)
    start = live.current.stats.passages
    stop = threading.Event()
    seen: list[int] = []
    errors: list[BaseException] = []

    def reader() -> None:
        while not stop.is_set():
            try:
                searcher = live.current
                assert len(searcher.headlines(3)) > 0
                seen.append(searcher.stats.passages)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for n in range(3):
        write_page(corpus, f"extra/{n}.html", f"补充{n}", None, None, [f"第{n}条补充新闻。"])
        build_index(corpus, index_dir, HashingEncoder())
    # A reader thread may be loading the last generation right now (it serves the previous one until
    # the load is done): wait for the swap instead of racing it on a busy machine.
    deadline = time.monotonic() + 120
    while (final := live.current.stats.passages) != start + 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert final == start + 3
    assert set(seen) <= set(range(start, start + 4)) and seen


class GatedStore:
    """The real local store, whose open() waits for a gate and records the thread that opens."""

    def __init__(self, index_dir: Path) -> None:
        self.store = index_store(index_dir)
        self.gate = threading.Event()
        self.gate.set()
        self.openers: list[threading.Thread] = []
        self.opening = threading.Event()

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    def open(self, generation: str | None = None) -> object:
        self.openers.append(threading.current_thread())
        self.opening.set()
        self.gate.wait(timeout=120)
        return self.store.open(generation)


def test_a_new_generation_loads_in_the_background_while_questions_get_the_old_one(
    copy: tuple[Path, Path],
) -> None:
    corpus, index_dir = copy
    store = GatedStore(index_dir)
    live = LiveSearcher(store, HashingEncoder(), check_interval=0)  # type: ignore[arg-type]
    old = live.current
    store.gate.clear()
    store.opening.clear()
    add_quake(corpus)
    build_index(corpus, index_dir, HashingEncoder())
    assert live.current is old
    assert store.opening.wait(timeout=120)
    for _ in range(3):  # none of these questions waits for the load, nor starts a second one
        assert live.current is old
    assert len(store.openers) == 2 and store.openers[1] is not threading.current_thread()
    assert live.generation != os.readlink(index_dir / CURRENT)
    store.gate.set()
    assert live.settle(timeout=120)
    assert live.current is not old and live.generation == os.readlink(index_dir / CURRENT)
    assert live.current.search("四川哪里发生了地震？").hits[0].doc == "news/quake.html"
    assert len(store.openers) == 2

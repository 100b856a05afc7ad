"""Reindexes cost what changed: segments shared by hard links, BM25 equal to a full build, safe commits."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import bm25s
import numpy as np
import pytest

from bot.indexing import build_index, index_store, open_searcher
from embeddings.hashing import HashingEncoder
from embeddings.local import segments as seg
from embeddings.local import writer
from embeddings.local.dense import DenseIndex
from embeddings.local.generations import CURRENT, PREVIOUS, read_manifest, rollback
from embeddings.local.lexical import LexicalIndex, LexicalSegment, merge_segments
from embeddings.local.segments import Segment, load_passages, load_vectors, merge_from
from embeddings.manifest import manifest_to_json
from embeddings.page_diff import page_fingerprints
from embeddings.page_table import PageTable
from embeddings.tokens import tokenize
from tests.test_store import PAGES, CountingHashingEncoder, write_corpus, write_page

TEXTS = [text for page in PAGES.values() for text in page[3]]
QUERIES = ["台风在福建登陆", "国产大飞机订单", "臺北捷運票價", "女排决赛", "市政府 交通 预算", "C919"]
WORDS = "市政府 交通 预算 铁路 港口 医院 学校 电力 水库 机场 桥梁 公园 地铁 税收 人口 农业".split()  # noqa: SIM905


def texts(rng: random.Random, n: int) -> list[str]:
    """Return n passages: the store's news paragraphs shuffled and cut, and word salads of WORDS."""
    out = []
    for _ in range(n):
        base = rng.choice(TEXTS)
        cut = "".join(rng.sample(base, rng.randint(1, len(base))))
        out.append(cut if rng.random() < 0.6 else "，".join(rng.choices(WORDS, k=rng.randint(1, 9))))
    return out


def reference_scores(query: str, docs: list[str]) -> np.ndarray:
    """Return bm25s' scores of a full build over docs (the reference the segments must equal)."""
    bm25 = bm25s.BM25()
    bm25.index([tokenize(d) for d in docs], show_progress=False)
    ids = sorted({bm25.vocab_dict[t] for t in tokenize(query) if t in bm25.vocab_dict})
    return np.asarray(bm25.get_scores_from_ids(ids), dtype=np.float32) if ids else np.zeros(len(docs))


@pytest.mark.parametrize("seed", range(6))
def test_segments_with_deletions_score_as_a_full_build(seed: int) -> None:
    rng = random.Random(seed)
    segments, keeps, live = [], [], []
    next_id = 1
    for _ in range(rng.randint(1, 5)):  # segments written over time, some rows deleted later
        batch = texts(rng, rng.randint(1, 40))
        ids = list(range(next_id, next_id + len(batch)))
        next_id += len(batch)
        keep = np.array([rng.random() > 0.25 for _ in batch])
        segments.append(LexicalSegment.of(ids, batch))
        keeps.append(keep)
        live += [(i, t) for i, t, k in zip(ids, batch, keep, strict=True) if k]
    rng.shuffle(live)  # the generation's page order is not the segments' order
    order = np.array([i for i, _ in live], dtype=np.int64)
    segmented = LexicalIndex.from_segments(segments, keeps, order=order)
    fresh = LexicalIndex.build([i for i, _ in live], [t for _, t in live])
    merged = LexicalIndex.from_segments([merge_segments(segments, keeps)], [np.ones(len(live), bool)], order)
    assert segmented.ids().tolist() == fresh.ids().tolist() == order.tolist()
    for query in QUERIES:
        np.testing.assert_array_equal(segmented.scores(query), fresh.scores(query))
        np.testing.assert_array_equal(merged.scores(query), fresh.scores(query))
        for got, want in zip(segmented.search(query, 10), fresh.search(query, 10), strict=True):
            np.testing.assert_array_equal(got, want)
        assert segmented.query_weight(query) == pytest.approx(fresh.query_weight(query), rel=1e-12)
        reference = reference_scores(query, [t for _, t in live])
        np.testing.assert_allclose(segmented.scores(query), reference, rtol=2e-6, atol=1e-6)


def test_each_entry_is_bm25s_own_float32_value() -> None:
    docs = texts(random.Random(7), 120)
    index = LexicalIndex.build(list(range(1, 121)), docs)
    bm25 = bm25s.BM25()
    bm25.index([tokenize(d) for d in docs], show_progress=False)
    singles = [t for t in bm25.vocab_dict if t and tokenize(t) == [t]]
    assert len(singles) > 50
    for token in singles:  # one token: no summing order, so the values are bit for bit bm25s'
        reference = np.asarray(bm25.get_scores_from_ids([bm25.vocab_dict[token]]), dtype=np.float32)
        np.testing.assert_array_equal(index.scores(token), reference)


def test_the_merge_policy_keeps_few_segments_and_compacts_deletions() -> None:
    segments: list[Segment] = [Segment("base", 10_000)]
    for n in range(200):  # 200 one-page commits of 20 passages
        segments.append(Segment(f"s{n}", 20))
        start = merge_from(segments)
        if start is not None:
            segments = [*segments[:start], Segment(f"m{n}", sum(s.live for s in segments[start:]))]
        assert len(segments) <= 10
    assert segments[0] == Segment("base", 10_000)  # the big segment was never rewritten for a page
    assert merge_from([Segment("a", 100, dead=19), Segment("b", 1)]) is None
    assert merge_from([Segment("a", 100, dead=21), Segment("b", 1)]) == 0
    assert merge_from([Segment("a", 100, dead=30)]) == 0


def prints_of(index_dir: Path) -> dict[str, str] | None:
    """Return the text fingerprints the live generation's page table records."""
    return PageTable.of(read_manifest(index_dir).pages).fingerprints()


def files(generation: Path) -> dict[str, os.stat_result]:
    """Return the stat of every file of a generation by its relative path."""
    return {p.relative_to(generation).as_posix(): p.stat() for p in generation.rglob("*") if p.is_file()}


def test_a_new_generation_links_what_it_keeps_and_writes_only_the_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "DENSE_LAG_FRACTION", 1.0)  # the tiny corpus may lag by its size
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    build_index(corpus, index_dir, HashingEncoder())
    before = files(index_dir / CURRENT)
    write_page(
        corpus, "news/quake.html", "四川发生地震", "新华社", "2024-08-01", ["四川泸定县发生六点八级地震。"]
    )
    build_index(corpus, index_dir, HashingEncoder())
    after = files(index_dir / CURRENT)
    shared = {f for f in after if f in before and after[f].st_ino == before[f].st_ino}
    whole = {"manifest.json", "pages.npys", "segments.json"}  # written by every commit
    assert shared == set(before) - whole
    assert all(after[f].st_nlink == 2 for f in shared)
    written = set(after) - shared
    table = seg.read_table(index_dir / CURRENT)
    new_segment = table.segments[-1]
    assert new_segment.rows == 1 and table.dense_lag == 1
    assert written == {*whole, *new_segment.sizes}
    searcher = open_searcher(index_dir, HashingEncoder())  # the dense index catches up on load
    assert searcher.search("四川哪里发生了地震？").hits[0].doc == "news/quake.html"
    assert searcher.stats.passages == read_manifest(index_dir).passages


def contents(index_dir: Path) -> tuple[list[object], dict[int, np.ndarray], dict[str, object]]:
    """Return the live generation's passages, vectors by id and each query's BM25 scores and top ids."""
    generation = index_dir / CURRENT
    passages = load_passages(generation)
    vectors = load_vectors(generation, read_manifest(index_dir))
    reader = index_store(index_dir).open()
    found = {q: (reader.lexical_index.scores(q), reader.lexical_index.search(q, 10)[1]) for q in QUERIES}
    dense = reader.dense_index.search(vectors[:5], 5)[1] if len(passages) else None
    return passages, dict(zip([p.id for p in passages], vectors, strict=True)), found | {"dense": dense}


def test_many_small_commits_equal_a_full_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "DENSE_LAG_FRACTION", 0.3)  # lagging and caught-up dense indexes both
    rng = random.Random(19)
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    build_index(corpus, index_dir, HashingEncoder())
    merged = 0
    for round_ in range(14):
        pages = sorted((corpus / "extra").glob("*.html")) if (corpus / "extra").exists() else []
        changed = [f"extra/r{round_}.html"]
        if len(pages) > 2 and rng.random() < 0.4:
            gone = pages.pop(rng.randrange(len(pages)))
            gone.unlink()
            changed.append(f"extra/{gone.name}")
        if pages and rng.random() < 0.5:  # an edit: the first passage stays, the others change
            edited = rng.choice(pages)
            kept = edited.read_text(encoding="utf-8").split("<p>")[1].split("</p>")[0]
            write_page(
                corpus, f"extra/{edited.name}", f"报道{edited.stem}", "新华社", None, [kept, *texts(rng, 2)]
            )
            changed.append(f"extra/{edited.name}")
        write_page(
            corpus, f"extra/r{round_}.html", f"报道{round_}", "新华社", None, texts(rng, rng.randint(1, 6))
        )
        # Every other round names the pages it changed, as a poll or /add does: the same index results.
        build_index(corpus, index_dir, HashingEncoder(), only=changed if round_ % 2 else None)
        table = seg.read_table(index_dir / CURRENT)
        merged += any(s.name.endswith("-1") for s in table.segments)
        # Duplicate detection reads the recorded fingerprints: each is its page's, as now indexed.
        prints = prints_of(index_dir)
        assert prints == page_fingerprints(load_passages(index_dir / CURRENT))
        assert len(table.segments) <= 1 + np.log2(max(table.live, 2))
    assert merged, "no commit merged segments: the test exercises too little"
    fresh = tmp_path / "fresh"
    build_index(corpus, fresh, HashingEncoder(), full=True)
    passages, vectors, found = contents(index_dir)
    fresh_passages, fresh_vectors, fresh_found = contents(fresh)
    assert passages == fresh_passages
    assert vectors.keys() == fresh_vectors.keys()
    for pid, vector in fresh_vectors.items():
        np.testing.assert_array_equal(vectors[pid], vector)
    for query in QUERIES:
        np.testing.assert_array_equal(found[query][0], fresh_found[query][0])  # type: ignore[index]
        np.testing.assert_array_equal(found[query][1], fresh_found[query][1])  # type: ignore[index]
    np.testing.assert_array_equal(found["dense"], fresh_found["dense"])
    assert prints_of(index_dir) == prints_of(fresh)
    assert read_manifest(index_dir).pages == read_manifest(fresh).pages


def test_an_hnsw_index_takes_pages_added_and_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Past FLAT_MAX passages the dense index is an HNSW graph: lowered here so that a small corpus is one.
    monkeypatch.setattr(writer, "FLAT_MAX", 8)
    monkeypatch.setitem(DenseIndex.create.__func__.__kwdefaults__, "flat_max", 8)  # type: ignore[attr-defined]
    rng = random.Random(5)
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    build_index(corpus, index_dir, HashingEncoder())
    assert read_manifest(index_dir).dense_kind == "hnsw"
    for round_ in range(8):
        changed = [f"extra/r{round_}.html"]
        write_page(corpus, changed[0], f"报道{round_}", "新华社", None, texts(rng, rng.randint(1, 5)))
        if round_ % 3 == 2:
            gone = sorted((corpus / "extra").glob("*.html"))[0]
            gone.unlink()
            changed.append(f"extra/{gone.name}")
        build_index(corpus, index_dir, HashingEncoder(), only=changed)
    fresh = tmp_path / "fresh"
    build_index(corpus, fresh, HashingEncoder(), full=True)
    assert read_manifest(index_dir).pages == read_manifest(fresh).pages
    assert read_manifest(index_dir).dense_kind == "hnsw"
    reader = index_store(index_dir).open()  # the lagging graph catches up on load
    passages = load_passages(index_dir / CURRENT)
    vectors = load_vectors(index_dir / CURRENT, read_manifest(index_dir))
    assert len(reader.dense_index) == len(passages)
    _, nearest = reader.dense_index.search(vectors, 1)
    assert nearest[:, 0].tolist() == [p.id for p in passages]  # each passage is its own nearest


def test_a_reindex_of_named_pages_reads_those_alone(tmp_path: Path) -> None:
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    build_index(corpus, index_dir, HashingEncoder())
    typhoon = PAGES["news/typhoon.html"]
    write_page(corpus, "news/typhoon.html", typhoon[0], typhoon[1], typhoon[2], ["台风过后全省恢复供电。"])
    write_page(
        corpus, "news/quake.html", "四川发生地震", "新华社", "2024-08-01", ["四川泸定县发生六点八级地震。"]
    )
    counting = CountingHashingEncoder()
    report = build_index(corpus, index_dir, counting, only=["news/quake.html"])
    assert (report.added, report.updated, report.unchanged) == (1, 0, 4)
    assert counting.embedded == ["四川泸定县发生六点八级地震。"]  # the edited page was not named: not read
    texts_now = {p.text for p in load_passages(index_dir / CURRENT)}
    assert "四川泸定县发生六点八级地震。" in texts_now and typhoon[3][0] in texts_now
    # A named page that copies an indexed page (not named) is its duplicate; one gone leaves the index.
    (corpus / "news/copy.html").write_bytes((corpus / "news/plane.html").read_bytes())
    (corpus / "news/quake.html").unlink()
    report = build_index(corpus, index_dir, counting, only=["news/copy.html", "news/quake.html", "../x.html"])
    assert (report.added, report.removed, report.unchanged) == (0, 1, 4)
    assert [(f.doc, f.reason) for f in report.skipped_reasons] == [
        ("news/copy.html", "duplicate of news/plane.html")
    ]
    assert "news/quake.html" not in read_manifest(index_dir).pages
    # A scan of every page then finds the edit the named runs left alone.
    assert build_index(corpus, index_dir, counting).updated == 1
    assert typhoon[3][0] not in {p.text for p in load_passages(index_dir / CURRENT)}


def test_rollback_and_pruning_keep_every_shared_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer, "DENSE_LAG_FRACTION", 1.0)
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    build_index(corpus, index_dir, HashingEncoder())
    names = [os.readlink(index_dir / CURRENT)]
    questions = {}
    for n, (place, what) in enumerate(
        [("四川泸定县", "地震"), ("云南昆明市", "暴雨"), ("甘肃兰州市", "沙尘暴")]
    ):
        text = f"{place}今天发生{what}，当地启动应急响应。"
        write_page(corpus, f"extra/{n}.html", f"{place}{what}", "新华社", None, [text])
        build_index(corpus, index_dir, HashingEncoder())
        names.append(os.readlink(index_dir / CURRENT))
        questions[n] = f"{place}发生了什么？"
    # The first generation is pruned: its base segment lives on in the two kept generations.
    assert sorted(p.name for p in index_dir.glob("gen-*")) == sorted(names[-2:])
    back = rollback(index_dir)
    assert back.generation == names[-2] and os.readlink(index_dir / PREVIOUS) == names[-1]
    searcher = open_searcher(index_dir, HashingEncoder())
    assert searcher.search(questions[1]).hits[0].doc == "extra/1.html"
    assert all(hit.doc != "extra/2.html" for hit in searcher.search(questions[2]).hits)
    # A commit on the rolled-back generation prunes the newer one; nothing the live ones link goes.
    (corpus / "extra/2.html").unlink()
    write_page(corpus, "extra/3.html", "台风", "新华社", None, ["台风海燕今天再次登陆福建。"])
    build_index(corpus, index_dir, HashingEncoder())
    assert sorted(p.name for p in index_dir.glob("gen-*")) == sorted(
        [names[-2], os.readlink(index_dir / CURRENT)]
    )
    for generation in (index_dir / CURRENT, index_dir / PREVIOUS):
        table = seg.read_table(generation)
        assert all(not seg.damaged(generation, s.sizes) for s in table.segments)
    rollback(index_dir)
    assert open_searcher(index_dir, HashingEncoder()).search(questions[1]).hits[0].doc == "extra/1.html"


def digests(generation: Path) -> dict[str, str]:
    """Return the sha256 of every file of a generation."""
    return {name: hashlib.sha256((generation / name).read_bytes()).hexdigest() for name in files(generation)}


KILL_MID_COMMIT = """
import os, signal, sys
from bot.indexing import build_index
from embeddings.hashing import HashingEncoder
from embeddings.local import segments

def killed(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)  # after the base files are linked, before the table

segments.write_table = killed
build_index(sys.argv[1], sys.argv[2], HashingEncoder())
"""


def test_kill_9_in_the_middle_of_a_commit_leaves_the_served_generation_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writer, "DENSE_LAG_FRACTION", 1.0)
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    build_index(corpus, index_dir, HashingEncoder())
    served, before = os.readlink(index_dir / CURRENT), digests(index_dir / CURRENT)
    write_page(
        corpus, "news/quake.html", "四川发生地震", "新华社", "2024-08-01", ["四川泸定县发生六点八级地震。"]
    )
    (corpus / "news/volleyball.html").unlink()  # deletions too: a new deleted-rows file is written
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    run = subprocess.run(
        [sys.executable, "-c", KILL_MID_COMMIT, str(corpus), str(index_dir)], env=env, capture_output=True
    )
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()
    linked = [p for p in index_dir.glob(".tmp-*/*") if p.is_file() and p.stat().st_nlink > 1]
    assert linked, "the kill came before the commit shared any file: the test tests little"
    assert os.readlink(index_dir / CURRENT) == served and digests(index_dir / CURRENT) == before
    answer = open_searcher(index_dir, HashingEncoder()).search("中国女排在世界杯决赛中战胜了谁？")
    assert (answer.hits or answer.nearest)[0].doc == "news/volleyball.html"
    build_index(corpus, index_dir, HashingEncoder())  # the next run cleans up and completes
    assert not list(index_dir.glob(".tmp-*"))
    assert digests(index_dir / PREVIOUS) == before
    assert (
        open_searcher(index_dir, HashingEncoder()).search("四川哪里发生了地震？").hits[0].doc
        == "news/quake.html"
    )


def make_legacy(index_dir: Path) -> None:
    """Rewrite the live generation in the layout before segments (what an upgraded bot finds)."""
    generation = (index_dir / CURRENT).resolve()
    passages, vectors = load_passages(generation), load_vectors(generation, read_manifest(index_dir))
    dense = index_store(index_dir).open().dense_index
    manifest = manifest_to_json(read_manifest(index_dir))  # no pages file: one record per page
    for path in sorted(generation.rglob("*"), reverse=True):
        if path.is_file():
            path.unlink()  # never rewrite a file in place: another generation may link it
    (generation / "manifest.json").write_text(manifest, encoding="utf-8")
    with (generation / "passages.jsonl").open("w", encoding="utf-8") as out:
        out.writelines(json.dumps(asdict(p), ensure_ascii=False) + "\n" for p in passages)
    np.save(generation / "vectors.npy", vectors)
    dense.save(generation / "dense.faiss")


def test_an_index_from_before_segments_serves_and_converts_without_embedding_again(tmp_path: Path) -> None:
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    build_index(corpus, index_dir, HashingEncoder())
    make_legacy(index_dir)
    assert seg.is_legacy(index_dir / CURRENT)
    assert (
        open_searcher(index_dir, HashingEncoder()).search("台风在哪里登陆？").hits[0].doc
        == "news/typhoon.html"
    )
    write_page(
        corpus, "news/quake.html", "四川发生地震", "新华社", "2024-08-01", ["四川泸定县发生六点八级地震。"]
    )
    counting = CountingHashingEncoder()
    report = build_index(corpus, index_dir, counting)
    assert (report.added, report.unchanged, counting.embedded) == (1, 4, ["四川泸定县发生六点八级地震。"])
    assert not seg.is_legacy(index_dir / CURRENT)
    fresh = tmp_path / "fresh"
    build_index(corpus, fresh, HashingEncoder(), full=True)
    passages, vectors, found = contents(index_dir)
    fresh_passages, fresh_vectors, fresh_found = contents(fresh)
    assert passages == fresh_passages and vectors.keys() == fresh_vectors.keys()
    for query in QUERIES:
        np.testing.assert_array_equal(found[query][0], fresh_found[query][0])  # type: ignore[index]
    assert prints_of(index_dir) == prints_of(fresh)

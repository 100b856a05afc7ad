"""The index store: manifest, incremental diff, atomic generations, lock, rollback, mismatch checks."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.indexing import PAGE_STATS, build_index, open_searcher
from corpus.load import FileResult
from corpus.models import Article, Paragraph
from embeddings.cache import EmbeddingCache
from embeddings.encoder import Encoder
from embeddings.errors import IndexBusy, IndexCorrupt, IndexMismatch, IndexMissing
from embeddings.hashing import HashingEncoder
from embeddings.ids import passage_id, passages_of
from embeddings.local.generations import CURRENT, PREVIOUS, index_lock, read_manifest, rollback
from embeddings.local.segments import load_passages, load_vectors
from embeddings.manifest import SCHEMA_VERSION, Manifest, manifest_from_json, manifest_to_json, mismatch
from embeddings.models import ReindexProgress
from embeddings.page_diff import diff_pages
from embeddings.page_table import PageRecord
from tests.conftest import SEED_PAGE, SHARED_MODEL

# Small handwritten pages in the seed layout: (relative path, title, outlet, date or None, paragraphs).
PAGES = {
    "news/typhoon.html": (
        "强台风海燕登陆福建",
        "新华社",
        "2024-07-02",
        [
            "强台风“海燕”周二下午在福建省福清市沿海登陆，登陆时中心附近最大风力达到十四级。",
            "福建省防汛抗旱指挥部紧急转移沿海群众三万余人，全省中小学停课一天。",
            "气象台预计台风将继续向西北方向移动，强度逐渐减弱。",
            "台风过境后福州街头大量树木倒伏。（图／新华社）",
        ],
    ),
    "news/plane.html": (
        "国产大飞机完成首次商业飞行",
        "人民日报",
        "2023-05-28",
        [
            "国产大型客机C919完成首次商业载客飞行，航班从上海虹桥机场起飞，降落在北京首都机场。",
            "这架飞机由中国东方航空公司运营，共搭载一百三十多名旅客。",
            "中国商飞公司表示，C919已获得超过一千架订单。",
        ],
    ),
    "tw/metro.html": (
        "台北捷運明年調漲票價",
        "中央社",
        "2024-11-15",
        [
            "台北市政府今天宣布，台北捷運票價將從明年一月起每段調漲五元。",
            "市府交通局表示，調漲票價是因為電費與人事成本持續上升。",
            "部分議員批評漲價時機不當，要求市府提出配套優惠方案。",
        ],
    ),
    "news/volleyball.html": (
        "中国女排夺得世界杯冠军",
        None,
        None,
        [
            "中国女排在世界杯决赛中以三比一战胜巴西队，第五次夺得世界杯冠军。",
            "主教练在赛后表示，年轻队员在关键分上表现沉稳。",
        ],
    ),
}


def page_html(title: str, outlet: str | None, date: str | None, paragraphs: Sequence[str]) -> str:
    """Return a page in the seed layout (a whole document when it has a date, else a fragment)."""
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    src = f'<p class="src-info">来源：{outlet}</p>' if outlet else ""
    article = f'<h2>{title}</h2> <div class="entry">{body}{src}</div>'
    if date is None:
        return article
    head = f'<meta property="article:published_time" content="{date}T08:00:00+08:00">'
    return f"<html><head><title>{title} -六四天网 禁闻网</title>{head}</head><body>{article}</body></html>"


def write_page(
    root: Path, rel: str, title: str, outlet: str | None, date: str | None, paras: Sequence[str]
) -> Path:
    """Write one page under root and return its path."""
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page_html(title, outlet, date, paras), encoding="utf-8")
    return path


def write_corpus(root: Path, *, seed: bool = True) -> Path:
    """Write the handwritten pages (and the real seed page) under root and return root."""
    for rel, (title, outlet, date, paras) in PAGES.items():
        write_page(root, rel, title, outlet, date, paras)
    if seed:
        (root / "seed.html").write_bytes(SEED_PAGE.read_bytes())
    return root


@functools.cache
def shared_encoder() -> Encoder:
    """Return the one real encoder every test module of the store shares (the model loads once)."""
    return Encoder(str(SHARED_MODEL), batch_size=8)


class CountingEncoder(Encoder):
    """The real encoder, counting the passages it is asked to embed."""

    def __init__(self) -> None:
        base = shared_encoder()
        assert base.dimension == 384  # loads the model once; this copy shares it
        self.__dict__.update(base.__dict__)
        self.embedded: list[str] = []

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return super().encode_passages(texts)


class CountingHashingEncoder(HashingEncoder):
    """The deterministic test encoder, counting the passages it is asked to embed."""

    def __init__(self) -> None:
        super().__init__()
        self.embedded: list[str] = []

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return super().encode_passages(texts)


@pytest.fixture()
def hashing() -> CountingHashingEncoder:
    """Return the test encoder wrapped in a passage counter (for tests that do not judge answers)."""
    return CountingHashingEncoder()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return (corpus, index) with a full index built once for the read-only tests of this module."""
    root = tmp_path_factory.mktemp("store")
    corpus = write_corpus(root / "corpus")
    build_index(corpus, root / "index", HashingEncoder())
    return corpus, root / "index"


def copy_index(built: tuple[Path, Path], tmp_path: Path) -> Path:
    """Return a private copy of the module's built index (symlinks kept)."""
    target = tmp_path / "index"
    shutil.copytree(built[1], target, symlinks=True)
    return target


def generations(index_dir: Path) -> list[str]:
    """Return the generation directories present."""
    return sorted(p.name for p in index_dir.iterdir() if p.name.startswith("gen-"))


# ---------------------------------------------------------------- pure parts


@given(st.text(max_size=30), st.integers(0, 10_000), st.text(max_size=200))
def test_passage_ids_are_stable_positive_63_bit(doc: str, ordinal: int, text: str) -> None:
    pid = passage_id(doc, ordinal, text)
    assert 0 < pid < 2**63
    assert pid == passage_id(doc, ordinal, text)
    assert np.int64(pid) == pid  # fits FAISS's int64 ids


def test_passage_ids_differ_by_page_place_and_text() -> None:
    ids = {passage_id("a.html", 0, "文"), passage_id("b.html", 0, "文"), passage_id("a.html", 1, "文")}
    ids.add(passage_id("a.html", 0, "字"))
    assert len(ids) == 4
    # A known value pins the recipe: ids written by one version must mean the same in the next.
    assert passage_id("news/a.html", 3, "台风登陆") == passage_id("news/a.html", 3, "台风登陆")


def article(path: str, texts: Sequence[str], content_hash: str = "h", kinds: Sequence[str] = ()) -> Article:
    """Return an article with the given paragraph texts."""
    kinds = list(kinds) or ["body"] * len(texts)
    paragraphs = tuple(Paragraph(i, t, k) for i, (t, k) in enumerate(zip(texts, kinds, strict=True)))  # type: ignore[arg-type]
    return Article(path, path, "标题", "outlet", None, "2024-01-01", (), paragraphs, content_hash)


def result(path: str, status: str, art: Article | None = None, **kw: str | None) -> FileResult:
    """Return a scan result."""
    return FileResult(
        path=path,
        status=status,  # type: ignore[arg-type]
        reason=kw.get("reason"),
        article=art,
        duplicate_of=kw.get("duplicate_of"),
        content_hash=art.content_hash if art else kw.get("content_hash"),
    )


def test_passages_keep_captions_with_their_kind_and_skip_blank_paragraphs() -> None:
    a = article("x.html", ["正文。", "  ", "图说。（图／路透）"], kinds=["body", "body", "caption"])
    passages = passages_of(a)
    assert [(p.ordinal, p.kind) for p in passages] == [(0, "body"), (2, "caption")]
    assert passages[1].text == "图说。（图／路透）"
    assert passages[0].id == passage_id("x.html", 0, "正文。")


def test_diff_sorts_every_kind_of_scan_result() -> None:
    previous = {"same.html": "h1", "edited.html": "h2", "gone.html": "h3", "broken.html": "h4"}
    results = [
        result("same.html", "unchanged", content_hash="h1"),
        result("edited.html", "ok", article("edited.html", ["新"], "h2b")),
        result("new.html", "ok", article("new.html", ["新页"], "h5")),
        result("copy.html", "duplicate", duplicate_of="new.html", content_hash="h5"),
        result("big.html", "skipped", reason="larger than 5,000,000 bytes"),
        result("bad.html", "failed", reason="not HTML"),
        result("broken.html", "failed", reason="truncated HTML"),
    ]
    diff = diff_pages(previous, results)
    assert diff.kept == ("same.html",)
    assert [a.path for a in diff.fresh] == ["edited.html", "new.html"]
    assert (diff.added, diff.updated) == (1, 1)
    assert diff.removed == ("gone.html",)
    assert diff.dropped == ("broken.html",)
    assert [(f.doc, f.reason) for f in diff.skipped] == [
        ("copy.html", "duplicate of new.html"),
        ("big.html", "larger than 5,000,000 bytes"),
    ]
    assert diff.failed[0].reason == "not HTML"
    assert diff.failed[1].doc == "broken.html" and "removed from the index" in diff.failed[1].reason
    assert diff.changes_index


def test_diff_treats_byte_identical_copies_as_duplicates_and_nothing_new_as_no_change() -> None:
    previous = {"a.html": "h1"}
    copy = article("b.html", ["同一篇"], "h1")
    diff = diff_pages(
        previous, [result("a.html", "unchanged", content_hash="h1"), result("b.html", "ok", copy)]
    )
    assert diff.fresh == () and diff.skipped[0].reason == "duplicate of a.html"
    assert not diff.changes_index
    empty = diff_pages({}, [result("c.html", "ok", article("c.html", ["   "], "h9"))])
    assert empty.fresh == () and empty.skipped[0].doc == "c.html"


def sample_manifest(**changes: object) -> Manifest:
    """Return a manifest with plausible values."""
    values: dict[str, object] = {
        "schema": SCHEMA_VERSION,
        "model": "/models/e5",
        "dimension": 384,
        "prompts": {"query": "query: ", "passage": "passage: "},
        "articles": 1,
        "passages": 2,
        "created": "2026-01-01T00:00:00Z",
        "package_version": "0.1.0",
        "corpus_dir": "/corpus",
        "corpus_fingerprint": "f",
        "dense_kind": "flat",
        "pages": {"a.html": PageRecord("h", (2**62 + 1, 7))},
        "generation": "gen-1",
    }
    values.update(changes)
    return Manifest(**values)  # type: ignore[arg-type]


def test_manifest_round_trips_through_json_and_rejects_garbage() -> None:
    manifest = sample_manifest()
    assert manifest_from_json(manifest_to_json(manifest)) == manifest
    with pytest.raises(KeyError):
        manifest_from_json(json.dumps({"schema": 1}))
    with pytest.raises(ValueError):
        manifest_from_json("{not json")


def test_mismatch_names_what_differs() -> None:
    m = sample_manifest()
    assert mismatch(m, "/models/e5", 384, {"query": "query: ", "passage": "passage: "}) == ""
    assert "schema version 0" in mismatch(sample_manifest(schema=0), "/models/e5", None, None)
    assert "/models/other" in mismatch(m, "/models/other", None, None)
    assert "768-d" in mismatch(m, "/models/e5", 768, None)
    assert "prompts" in mismatch(m, "/models/e5", 384, {"query": "", "passage": ""})


def test_embedding_cache_keeps_chunks_of_the_same_model_only(tmp_path: Path) -> None:
    prompts = {"query": "query: ", "passage": "passage: "}
    cache = EmbeddingCache(tmp_path / ".partial", "/models/e5", 3, prompts)
    cache.save(np.array([11, 12], dtype=np.int64), np.eye(3, dtype=np.float32)[:2])
    (tmp_path / ".partial" / "chunk-000009.npz").write_bytes(b"cut short by kill -9")
    again = EmbeddingCache(tmp_path / ".partial", "/models/e5", 3, prompts)
    cached = again.load()
    assert sorted(cached) == [11, 12] and cached[12].tolist() == [0.0, 1.0, 0.0]
    again.save(np.array([13], dtype=np.int64), np.ones((1, 3), dtype=np.float32))
    assert (tmp_path / ".partial" / "chunk-000010.npz").exists()  # never overwrites a chunk
    assert EmbeddingCache(tmp_path / ".partial", "/models/other", 3, prompts).load() == {}
    assert EmbeddingCache(tmp_path / ".partial", "/models/other", 3, prompts).count == 0


@pytest.mark.parametrize("cut", [0, 40, -30])
def test_embedding_cache_ignores_an_empty_or_truncated_chunk(tmp_path: Path, cut: int) -> None:
    cache = EmbeddingCache(tmp_path / ".partial", "/models/e5", 3, {})
    cache.save(np.array([11, 12], dtype=np.int64), np.eye(3, dtype=np.float32)[:2])
    cache.save(np.array([13], dtype=np.int64), np.ones((1, 3), dtype=np.float32))
    # What a power cut can leave of a chunk renamed before its bytes reached the disk.
    second = tmp_path / ".partial" / "chunk-000002.npz"
    second.write_bytes(second.read_bytes()[:cut])
    assert sorted(EmbeddingCache(tmp_path / ".partial", "/models/e5", 3, {}).load()) == [11, 12]


# ---------------------------------------------------------------- real model, real FAISS


def test_full_build_writes_a_self_describing_generation(built: tuple[Path, Path]) -> None:
    corpus, index_dir = built
    manifest = read_manifest(index_dir)
    link = os.readlink(index_dir / CURRENT)
    assert link == manifest.generation and link.startswith("gen-") and not Path(link).is_absolute()
    assert manifest.schema == SCHEMA_VERSION
    built_by = HashingEncoder()  # tests/test_encoder.py checks the same for the real model's index
    assert manifest.model == built_by.model_id
    assert manifest.dimension == built_by.dimension
    assert manifest.prompts == built_by.prompts
    assert manifest.articles == 5 and sorted(manifest.pages) == sorted([*PAGES, "seed.html"])
    expected = sum(len(p[3]) for p in PAGES.values())
    seed_passages = len(manifest.pages["seed.html"].passage_ids)
    assert manifest.passages == expected + seed_passages and seed_passages >= 9
    assert manifest.package_version == "0.1.0"
    assert manifest.dense_kind == "flat"
    assert manifest.corpus_dir == str(corpus.resolve())
    data = (corpus / "tw/metro.html").read_bytes()
    record = manifest.pages["tw/metro.html"]
    assert record.content_hash == hashlib.sha256(data).hexdigest()
    assert record.passage_ids[0] == passage_id("tw/metro.html", 0, PAGES["tw/metro.html"][3][0])
    raw = json.loads((index_dir / CURRENT / "manifest.json").read_text(encoding="utf-8"))
    assert {
        "schema",
        "model",
        "dimension",
        "prompts",
        "created",
        "package_version",
        "corpus_fingerprint",
    } <= set(raw)


def test_the_built_index_answers_with_verbatim_quotes(built: tuple[Path, Path]) -> None:
    _, index_dir = built
    searcher = open_searcher(index_dir, HashingEncoder())
    answer = searcher.search("台风在哪里登陆？")
    assert answer.hits and answer.hits[0].doc == "news/typhoon.html"
    assert answer.hits[0].text in PAGES["news/typhoon.html"][3]
    trad = searcher.search("台北捷运票价涨多少？")  # simplified question, traditional page
    assert trad.hits[0].doc == "tw/metro.html"
    assert searcher.stats.passages == read_manifest(index_dir).passages


def test_captions_are_indexed_with_their_kind(built: tuple[Path, Path]) -> None:
    _, index_dir = built
    rows = [asdict(p) for p in load_passages(index_dir / CURRENT)]
    captions = {r["text"] for r in rows if r["kind"] == "caption"}
    assert "台风过境后福州街头大量树木倒伏。（图／新华社）" in captions
    assert any(r["doc"] == "seed.html" and r["kind"] == "body" for r in rows)


def test_incremental_reindex_embeds_only_what_changed(
    tmp_path: Path, hashing: CountingHashingEncoder
) -> None:
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    first = build_index(corpus, index_dir, hashing)
    total = sum(len(p[3]) for p in PAGES.values())
    assert (first.added, first.passages, len(hashing.embedded)) == (4, total, total)
    old_generation = os.readlink(index_dir / CURRENT)

    hashing.embedded.clear()
    nothing = build_index(corpus, index_dir, hashing)
    assert (nothing.unchanged, nothing.added, nothing.updated, nothing.removed) == (4, 0, 0, 0)
    assert hashing.embedded == [] and os.readlink(index_dir / CURRENT) == old_generation

    title, outlet, date, paras = PAGES["news/plane.html"]
    # A new lead shifts every paragraph down one place: moved paragraphs keep their vectors.
    lead, more = "新华社北京电 国产客机再获大单。", "中国商飞公司表示，C919的订单已经超过一千二百架。"
    edited = [lead, *paras[:2], more]
    write_page(corpus, "news/plane.html", title, outlet, date, edited)
    write_page(
        corpus, "news/quake.html", "四川发生地震", "新华社", "2024-08-01", ["四川泸定县发生六点八级地震。"]
    )
    (corpus / "news/volleyball.html").unlink()
    report = build_index(corpus, index_dir, hashing)
    assert (report.added, report.updated, report.removed, report.unchanged) == (1, 1, 1, 2)
    assert sorted(hashing.embedded) == sorted([lead, more, "四川泸定县发生六点八级地震。"])
    assert os.readlink(index_dir / PREVIOUS) == old_generation

    searcher = open_searcher(index_dir, hashing)
    assert searcher.search("四川哪里发生了地震？").hits[0].doc == "news/quake.html"
    texts = {
        searcher.passage(pid).text for pid in read_manifest(index_dir).pages["news/plane.html"].passage_ids
    }  # type: ignore[union-attr]
    assert texts == set(edited)
    assert "news/volleyball.html" not in read_manifest(index_dir).pages

    # The reused vectors are exactly what a full rebuild computes.
    full_dir = tmp_path / "full"
    build_index(corpus, full_dir, hashing, full=True)

    def vectors(d: Path) -> dict[int, np.ndarray]:
        rows = [p.id for p in load_passages(d / CURRENT)]
        return dict(zip(rows, load_vectors(d / CURRENT, read_manifest(d)), strict=True))

    incremental, rebuilt = vectors(index_dir), vectors(full_dir)
    assert incremental.keys() == rebuilt.keys()
    for pid, vector in rebuilt.items():
        np.testing.assert_allclose(incremental[pid], vector, atol=1e-5)


def test_an_index_from_another_quotebot_version_is_reparsed_but_not_re_embedded(
    built: tuple[Path, Path], tmp_path: Path, hashing: CountingHashingEncoder
) -> None:
    corpus, _ = built
    index_dir = copy_index(built, tmp_path)
    manifest_path = index_dir / CURRENT / "manifest.json"
    data = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest_path.write_text(json.dumps(data | {"package_version": "0.0.1"}), encoding="utf-8")
    seen: list[ReindexProgress] = []
    # Named pages or not: a run on an older version's index parses every page.
    report = build_index(corpus, index_dir, hashing, progress=seen.append, only=["news/typhoon.html"])
    assert seen[-1].pages_scanned == seen[-1].pages_total == 5
    assert (report.added, report.updated, report.removed, report.unchanged) == (0, 0, 0, 5)
    assert hashing.embedded == []
    assert read_manifest(index_dir).package_version == "0.1.0"
    assert build_index(corpus, index_dir, hashing).unchanged == 5


def test_generations_swap_prune_and_roll_back(tmp_path: Path, hashing: CountingHashingEncoder) -> None:
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    build_index(corpus, index_dir, hashing)
    first = os.readlink(index_dir / CURRENT)
    names = []
    for n in range(3):
        write_page(
            corpus, f"extra/{n}.html", f"补充新闻{n}", "新华社", None, [f"第{n}条补充新闻的正文内容。"]
        )
        build_index(corpus, index_dir, hashing)
        names.append(os.readlink(index_dir / CURRENT))
    assert first not in generations(index_dir)
    assert generations(index_dir) == sorted(names[-2:])

    back = rollback(index_dir)
    assert back.generation == names[-2] == os.readlink(index_dir / CURRENT)
    assert "extra/2.html" not in read_manifest(index_dir).pages
    assert os.readlink(index_dir / PREVIOUS) == names[-1]
    assert rollback(index_dir).generation == names[-1]  # rolling back twice returns to the newer one


def test_rollback_without_a_previous_index_says_so(tmp_path: Path) -> None:
    with pytest.raises(IndexMissing, match="no previous index"):
        rollback(tmp_path / "none")


def test_a_second_reindex_fails_fast_while_the_lock_is_held(built: tuple[Path, Path], tmp_path: Path) -> None:
    corpus, _ = built
    index_dir = tmp_path / "i"
    with index_lock(index_dir), pytest.raises(IndexBusy, match=rf"another reindex .* \(pid {os.getpid()}\)"):
        build_index(corpus, index_dir, HashingEncoder())
    with pytest.raises(IndexBusy), index_lock(index_dir):
        rollback(index_dir)


def test_leftovers_of_a_killed_run_are_cleaned_and_the_next_run_completes(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    corpus, _ = built
    index_dir = tmp_path / "i"
    (index_dir / ".tmp-gen-20200101T000000000000Z-999").mkdir(parents=True)
    (index_dir / ".tmp-gen-20200101T000000000000Z-999" / "vectors.npy").write_bytes(b"half")
    os.symlink("gen-nowhere", index_dir / ".current-999.link")
    with pytest.raises(IndexMissing, match="quotebot index"):
        open_searcher(index_dir, HashingEncoder())
    (index_dir / f".{PAGE_STATS}.999.tmp").write_bytes(b"half")
    build_index(corpus, index_dir, HashingEncoder())
    assert sorted(p.name for p in index_dir.iterdir() if p.name != ".lock") == sorted(
        [PAGE_STATS, CURRENT, read_manifest(index_dir).generation]
    )
    assert open_searcher(index_dir, HashingEncoder()).search("女排决赛战胜了谁？").answered


def test_progress_reports_every_stage(tmp_path: Path, hashing: CountingHashingEncoder) -> None:
    corpus = write_corpus(tmp_path / "c", seed=False)
    seen: list[ReindexProgress] = []
    build_index(corpus, tmp_path / "i", hashing, progress=seen.append)
    stages = [p.stage for p in seen]
    assert stages[0] == "scan" and stages[-1] == "done" and "embed" in stages and "write" in stages
    scans = [p for p in seen if p.stage == "scan"]
    assert [p.pages_scanned for p in scans] == [1, 2, 3, 4] and scans[-1].pages_total == 4
    embeds = [p for p in seen if p.stage == "embed"]
    assert embeds[-1].passages_embedded == embeds[-1].passages_total == len(hashing.embedded)
    assert embeds[-1].eta_seconds == 0


def test_duplicate_pages_are_indexed_once_and_reported(
    tmp_path: Path, hashing: CountingHashingEncoder
) -> None:
    corpus = write_corpus(tmp_path / "c", seed=False)
    (corpus / "mirror").mkdir()
    (corpus / "mirror/typhoon-copy.html").write_bytes((corpus / "news/typhoon.html").read_bytes())
    report = build_index(corpus, tmp_path / "i", hashing)
    assert report.skipped == 1 and report.added == 4
    copies = {"news/typhoon.html", "mirror/typhoon-copy.html"}
    skipped = report.skipped_reasons[0]
    indexed = (copies - {skipped.doc}).pop()
    assert skipped.doc in copies and skipped.reason == f"duplicate of {indexed}"
    assert indexed in read_manifest(tmp_path / "i").pages
    assert len(hashing.embedded) == len(set(hashing.embedded)) == report.passages


def test_another_model_or_schema_refuses_incremental_runs_and_opening(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    corpus, _ = built
    index_dir = copy_index(built, tmp_path)
    manifest_path = index_dir / CURRENT / "manifest.json"
    data = json.loads(manifest_path.read_text(encoding="utf-8"))
    data["model"] = "intfloat/multilingual-e5-large"
    manifest_path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexMismatch, match=r"multilingual-e5-large.*quotebot index --full"):
        open_searcher(index_dir, HashingEncoder())
    with pytest.raises(IndexMismatch, match=r"quotebot index --full"):
        build_index(corpus, index_dir, HashingEncoder())
    data["model"], data["schema"] = HashingEncoder().model_id, SCHEMA_VERSION + 1
    manifest_path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexMismatch, match="schema version"):
        build_index(corpus, index_dir, HashingEncoder())
    report = build_index(corpus, index_dir, HashingEncoder(), full=True)
    assert report.full and open_searcher(index_dir, HashingEncoder()).stats.passages == report.passages


@pytest.mark.parametrize("damage", ["manifest", "passages", "dense", "lexical", "vectors-shape"])
def test_unreadable_files_raise_index_corrupt(built: tuple[Path, Path], tmp_path: Path, damage: str) -> None:
    corpus = write_corpus(tmp_path / "c")
    index_dir = copy_index(built, tmp_path)
    generation = index_dir / CURRENT
    if damage == "manifest":
        (generation / "manifest.json").write_text("{", encoding="utf-8")
    elif damage == "passages":
        for f in generation.glob("*.passages.jsonl"):
            f.write_text('{"id": 1}\n', encoding="utf-8")
    elif damage == "dense":
        (generation / "dense.faiss").write_bytes(b"garbage")
    elif damage == "lexical":
        for f in (generation / "lexical").iterdir():
            f.write_bytes(b"garbage")
    else:
        for f in generation.glob("*.vectors.npy"):
            np.save(f, np.zeros((1, 3), dtype=np.float32))
    if damage != "vectors-shape":
        with pytest.raises(IndexCorrupt, match="quotebot index --full"):
            open_searcher(index_dir, HashingEncoder())
    write_page(corpus, "news/new.html", "新", None, None, ["新的一段。"])
    if damage in ("dense", "lexical"):
        # Both are rebuilt from the passages and vectors, so an incremental run repairs them.
        build_index(corpus, index_dir, HashingEncoder())
        assert open_searcher(index_dir, HashingEncoder()).search("新的一段").answered in (True, False)
        return
    with pytest.raises(IndexCorrupt, match="quotebot index --full"):
        build_index(corpus, index_dir, HashingEncoder())
    assert build_index(corpus, index_dir, HashingEncoder(), full=True).passages > 0


def test_a_copy_with_other_bytes_stays_a_duplicate_in_incremental_runs(
    tmp_path: Path, hashing: CountingHashingEncoder
) -> None:
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    # The same article saved again: equal title and text, other bytes (a comment the browser added).
    saved = (corpus / "news/typhoon.html").read_bytes() + b"<!-- saved from url=(0042) -->"
    (corpus / "news/typhoon-saved.html").write_bytes(saved)
    first = build_index(corpus, index_dir, hashing)
    assert (first.added, first.skipped) == (4, 1)
    pages = read_manifest(index_dir).pages.keys()

    again = build_index(corpus, index_dir, hashing)
    assert (again.added, again.updated, again.unchanged, again.skipped) == (0, 0, 4, 1)
    assert again.skipped_reasons == first.skipped_reasons
    assert first.skipped_reasons[0].reason.startswith("duplicate of news/typhoon")
    assert read_manifest(index_dir).pages.keys() == pages


def test_progress_counts_only_what_was_embedded_not_vectors_reused_by_text(
    tmp_path: Path, hashing: CountingHashingEncoder
) -> None:
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    build_index(corpus, index_dir, hashing)
    hashing.embedded.clear()
    # A moved page: every passage id is new (ids hash the path), every text is known.
    (corpus / "archive").mkdir()
    (corpus / "news/plane.html").rename(corpus / "archive/plane.html")
    seen: list[ReindexProgress] = []
    report = build_index(corpus, index_dir, hashing, progress=seen.append)
    moved = len(PAGES["news/plane.html"][3])
    assert (report.added, report.removed, hashing.embedded) == (1, 1, [])
    assert all(p.passages_embedded <= p.passages_total for p in seen), seen
    assert (seen[-1].stage, seen[-1].passages_embedded, seen[-1].passages_reused) == ("done", 0, moved)


def test_a_bug_in_the_dense_update_fails_loudly_and_the_old_index_serves(
    tmp_path: Path, hashing: CountingHashingEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embeddings.local.dense import DenseIndex

    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    build_index(corpus, index_dir, hashing)
    old = os.readlink(index_dir / CURRENT)
    rebuilt: list[int] = []
    create = DenseIndex.create

    def bug(self: DenseIndex, ids: object) -> int:
        raise AttributeError("'DenseIndex' object has no attribute 'tombstones'")

    def counting_create(dim: int, expected_size: int = 0, **kwargs: int) -> DenseIndex:
        rebuilt.append(expected_size)
        return create(dim, expected_size, **kwargs)

    monkeypatch.setattr(DenseIndex, "remove", bug)
    monkeypatch.setattr(DenseIndex, "create", staticmethod(counting_create))
    (corpus / "news/volleyball.html").unlink()
    with pytest.raises(AttributeError, match="tombstones"):
        build_index(corpus, index_dir, hashing)
    assert rebuilt == [] and os.readlink(index_dir / CURRENT) == old
    answer = open_searcher(index_dir, hashing).search("中国女排在世界杯决赛中战胜了谁？")
    assert (answer.hits or answer.nearest)[0].doc == "news/volleyball.html"

"""The Qdrant backend against Qdrant's in-process mode (same client API as a server; no server needed)."""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient  # the [qdrant] extra; `make setup` installs it

from corpus.load import CorpusPages
from embeddings import calibration
from embeddings.errors import IndexMissing
from embeddings.local.lexical import LexicalIndex
from embeddings.qdrant import generations
from embeddings.qdrant.generations import Layout
from embeddings.qdrant.generations import metadata as collection_metadata
from embeddings.qdrant.index import QdrantIndex
from embeddings.qdrant.points import token_index
from embeddings.reindex import reindex
from embeddings.search import open_searcher
from embeddings.tokens import content_query, tokenize
from tests.qdrant_support import RecordingClient
from tests.qdrant_support import RecordingEncoder as HashingEncoder
from tests.qdrant_support import store as qdrant_store

REPO = Path(__file__).resolve().parents[1]


def sync(client, layout, corpus, encoder, lock_dir, *, full=False, only=None):
    """Run the reindex into Qdrant over the pages of a corpus directory (only those named, when only)."""
    store = qdrant_store(client, layout, lock_dir)
    return reindex(store, encoder, CorpusPages(Path(corpus)), full=full, only=only)


def searcher_of(client, encoder, **options):
    """Return the Searcher over the live Qdrant generation (searching takes no lock)."""
    return open_searcher(qdrant_store(client, LAYOUT, Path("/nonexistent")), encoder, **options)


LAYOUT = Layout("qbtest")
CAL = calibration.for_model(HashingEncoder().model_id)  # what the test encoder's model gets
QUESTIONS = (
    "马其顿总统选举的结果如何？",
    "铜锣湾电车厂在哪里",
    "挪威何时通过同性婚姻法律",
    "堰塞湖是怎样形成的",
)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Return a private copy of three sample subsets' pages (36 pages)."""
    target = tmp_path / "corpus"
    for subset in ("cmrc2018", "drcd", "xquad"):
        shutil.copytree(REPO / "sample_corpus" / subset, target / subset)
    return target


@pytest.fixture
def client() -> RecordingClient:
    """Return an in-memory Qdrant wrapped so that writes are recorded."""
    return RecordingClient(QdrantClient(":memory:"))


def all_passages(client: RecordingClient) -> dict[int, object]:
    """Return every passage in the live generation, by id."""
    index = QdrantIndex(client, LAYOUT.live)
    return {pid: p for doc in index.page_records() for p in index.page(doc) for pid in [p.id]}


def hand_coverage(passages: list, question: str, avgdl: float) -> np.ndarray:
    """Return BM25 (lucene, k1 1.5, b 0.75) / the sum of the question terms' idf, by the textbook formula."""
    docs = [tokenize(p.text) for p in passages]
    terms = set(tokenize(question))
    n = len(docs)
    idf = {t: math.log(1 + (n - df + 0.5) / (df + 0.5)) for t in terms for df in [sum(t in d for d in docs)]}
    scores = np.zeros(n)
    for row, doc in enumerate(docs):
        norm = 1.5 * (1 - 0.75 + 0.75 * len(doc) / avgdl)
        scores[row] = sum(idf[t] * doc.count(t) / (doc.count(t) + norm) for t in terms if t in doc)
    return scores / sum(idf.values())


def hand_scores(client: RecordingClient, encoder: HashingEncoder, question: str, avgdl: float | None) -> dict:
    """Return cosine + 0.3 * BM25 coverage - caption penalty for every passage, computed locally.

    avgdl None: coverage from bm25s (the local backend) over the passages; else the textbook formula.
    """
    passages = list(all_passages(client).values())
    words = content_query(question)  # the lexical side sees the question without its interrogatives
    if avgdl is None:
        bm25 = LexicalIndex.build([p.id for p in passages], [p.text for p in passages])
        coverage = bm25.scores(words) / bm25.query_weight(words)
    else:
        coverage = hand_coverage(passages, words, avgdl)
    query = encoder.encode_queries([question])[0]
    cosines = encoder.encode_passages([p.text for p in passages]) @ query
    return {
        p.id: float(cos)
        + CAL.lexical_weight * float(cov)
        - (CAL.caption_penalty if p.kind == "caption" else 0.0)
        for p, cos, cov in zip(passages, cosines, coverage, strict=True)
    }


def assert_fused_is_weighted_sum(
    client: RecordingClient, encoder: HashingEncoder, avgdl: float | None
) -> None:
    """Check every candidate's server-fused score against the hand-computed weighted sum."""
    searcher = searcher_of(client, encoder)
    for question in QUESTIONS:
        expected = hand_scores(client, encoder, question, avgdl)
        candidates = searcher.candidates(question, encoder.encode_queries([question])[0])
        assert len(candidates) >= 10
        for c in candidates:
            assert c.relevance == pytest.approx(expected[c.passage_id], abs=2e-5), question
        assert candidates[0].relevance == pytest.approx(max(expected.values()), abs=2e-5)


def test_fused_score_equals_the_weighted_sum_of_cosine_and_bm25_coverage(corpus, client, tmp_path):
    encoder = HashingEncoder()
    sync(client, LAYOUT, corpus, encoder, tmp_path / "lock")
    assert_fused_is_weighted_sum(client, encoder, None)


def test_lexical_scores_follow_deletes(corpus, client, tmp_path):
    """IDF regression: after pages leave, the engine's idf and the fused scores match the smaller corpus.

    Term weights keep the average length of the build (only changed pages are rewritten), so the
    expectation is the textbook BM25 with that avgdl and the idf of the passages that remain.
    """
    encoder = HashingEncoder()
    sync(client, LAYOUT, corpus, encoder, tmp_path / "lock")
    avgdl = collection_metadata(client, generations.live_collection(client, LAYOUT))["avgdl"]
    before = len(all_passages(client))
    token = "选举"  # only the election pages hold it
    idf_before = QdrantIndex(client, LAYOUT.live).idf([token_index(token)])[token_index(token)]
    for page in sorted((corpus / "cmrc2018").glob("*.html"))[:6]:
        page.unlink()
    report = sync(client, LAYOUT, corpus, encoder, tmp_path / "lock")
    passages = list(all_passages(client).values())
    assert report.removed == 6 and len(passages) == report.passages < before
    df = sum(token in tokenize(p.text) for p in passages)
    idf_after = QdrantIndex(client, LAYOUT.live).idf([token_index(token)])[token_index(token)]
    assert idf_after == pytest.approx(math.log(1 + (len(passages) - df + 0.5) / (df + 0.5)), rel=1e-5)
    assert abs(idf_after - idf_before) > 0.05
    assert_fused_is_weighted_sum(client, encoder, avgdl)


def edit_one_page(corpus: Path) -> tuple[str, str]:
    """Change one paragraph of one page; return the page path and the new text."""
    page = corpus / "cmrc2018" / "cmrc2018-00028.html"
    html = page.read_text(encoding="utf-8")
    assert "阿尔巴尼亚族候选人" in html
    page.write_text(html.replace("阿尔巴尼亚族候选人", "科索沃阿族候选人", 1), encoding="utf-8")
    return "cmrc2018/cmrc2018-00028.html", "科索沃阿族候选人"


@pytest.mark.parametrize("named", [False, True], ids=["scan", "named"])
def test_incremental_reindex_writes_and_deletes_only_the_edited_pages_passages(
    corpus, client, tmp_path, named
):
    encoder = HashingEncoder()
    sync(client, LAYOUT, corpus, encoder, tmp_path / "lock")
    live = generations.live_collection(client, LAYOUT)
    old = {p.id for p in QdrantIndex(client, live).page("cmrc2018/cmrc2018-00028.html")}
    client.upserted.clear(), client.deleted.clear()
    encoder.encoded.clear()
    doc, text = edit_one_page(corpus)
    report = sync(client, LAYOUT, corpus, encoder, tmp_path / "lock", only=[doc] if named else None)
    assert (report.updated, report.added, report.removed) == (1, 0, 0)
    new = {p.id for p in QdrantIndex(client, live).page(doc)}
    written = [i for name, ids in client.upserted if name == live for i in ids]
    deleted = [i for name, ids in client.deleted if name == live for i in ids]
    assert sorted(written) == sorted(new - old) and len(written) == 1
    assert sorted(deleted) == sorted(old - new) and len(deleted) == 1
    assert [name for name, _ in client.upserted] == [live, live + "-pages"]
    assert len(encoder.encoded) == 1 and text in encoder.encoded[0]
    assert generations.live_collection(client, LAYOUT) == live  # updated in place, no new generation


def test_full_rebuild_switches_the_alias_and_rollback_returns(corpus, client, tmp_path):
    encoder = HashingEncoder()
    sync(client, LAYOUT, corpus, encoder, tmp_path / "lock")
    first = generations.live_collection(client, LAYOUT)
    searcher = searcher_of(client, encoder)
    with pytest.raises(IndexMissing):
        generations.rollback(client, LAYOUT)
    doc, text = edit_one_page(corpus)
    sync(client, LAYOUT, corpus, encoder, tmp_path / "lock", full=True)
    second = generations.live_collection(client, LAYOUT)
    assert second != first
    assert generations.aliases(client, LAYOUT) == {
        "qbtest": second,
        "qbtest-pages": second + "-pages",
        "qbtest-previous": first,
        "qbtest-previous-pages": first + "-pages",
    }
    # A searcher opened before the switch follows the alias: it sees the edit at once.
    assert any(text in p.text for p in searcher.index.page(doc))
    assert generations.rollback(client, LAYOUT) == first
    assert generations.live_collection(client, LAYOUT) == first
    assert not any(text in p.text for p in searcher.index.page(doc))
    assert generations.aliases(client, LAYOUT)["qbtest-previous"] == second


def test_a_collection_left_by_a_killed_build_is_deleted_by_the_next_run(corpus, client, tmp_path):
    encoder = HashingEncoder()
    sync(client, LAYOUT, corpus, encoder, tmp_path / "lock")
    live = generations.live_collection(client, LAYOUT)
    stray = LAYOUT.new_name()
    generations.create(client, LAYOUT, stray, encoder.dimension, {"state": "building"})
    other = Layout("someone-else")
    foreign = other.new_name()
    generations.create(client, other, foreign, encoder.dimension, {"state": "building"})
    sync(client, LAYOUT, corpus, encoder, tmp_path / "lock")
    names = {c.name for c in client.get_collections().collections}
    assert names == {live, live + "-pages", foreign, foreign + "-pages"}


def test_a_restarted_replica_answers_a_button_press_from_the_engine_alone(corpus, tmp_path):
    encoder = HashingEncoder()
    store = tmp_path / "qdrant"
    first = QdrantClient(path=str(store))
    sync(first, LAYOUT, corpus, encoder, tmp_path / "lock")
    answer = searcher_of(first, encoder, min_score=0.0).search(QUESTIONS[0])
    assert answer.answered
    first.close()
    restarted = searcher_of(QdrantClient(path=str(store)), encoder)
    hit = answer.hits[0]
    assert restarted.passage(hit.passage_id).text == hit.text
    context = restarted.context(hit.passage_id)
    assert hit.passage_id in {p.id for p in context} and 1 <= len(context) <= 3
    assert [p.ordinal for p in context] == sorted(p.ordinal for p in context)


KILLED_RUN = """
import os, signal, sys
from pathlib import Path
from qdrant_client import QdrantClient
from corpus.load import CorpusPages
from embeddings.qdrant import index
from embeddings.qdrant.generations import Layout
from embeddings.reindex import reindex
from tests.qdrant_support import RecordingClient, RecordingEncoder, store

path, corpus, lock, full, where = sys.argv[1:6]

class Dying(RecordingEncoder):
    calls = 0
    def encode_passages(self, texts):
        Dying.calls += 1
        if Dying.calls == 2 and where == "embed":
            os.kill(os.getpid(), signal.SIGKILL)
        return super().encode_passages(texts)

class DyingClient(RecordingClient):
    def upsert(self, collection_name, points, **options):
        if len(self.upserted) == 1 and where == "write":
            os.kill(os.getpid(), signal.SIGKILL)
        return super().upsert(collection_name, points, **options)

index.UPSERT_BATCH = 8
client = DyingClient(QdrantClient(path=path))
pages = CorpusPages(Path(corpus))
reindex(store(client, Layout("qbtest"), Path(lock)), Dying(batch_size=2), pages, full=full == "full")
"""


def point_set(client: QdrantClient) -> set[tuple[int, str, str, int]]:
    """Return (id, doc, text, ordinal) of every live passage."""
    index = QdrantIndex(client, LAYOUT.live)
    return {(p.id, p.doc, p.text, p.ordinal) for doc in index.page_records() for p in index.page(doc)}


@pytest.mark.parametrize("where", ["embed", "write"])
@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_kill_9_mid_reindex_then_a_normal_run_equals_a_fresh_full_build(corpus, tmp_path, mode, where):
    store, encoder = tmp_path / "qdrant", HashingEncoder()
    if mode == "incremental":
        first = QdrantClient(path=str(store))
        sync(first, LAYOUT, corpus, encoder, tmp_path / "lock")
        first.close()
        edit_one_page(corpus)
        for page in sorted((corpus / "drcd").glob("*.html"))[:5]:
            page.write_text(page.read_text(encoding="utf-8").replace("的", "之"), encoding="utf-8")
        (corpus / "xquad" / "xquad-00038.html").unlink()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    args = [str(store), str(corpus), str(tmp_path / "lock"), mode, where]
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, *args], env=env, capture_output=True, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()[-2000:]
    after = QdrantClient(path=str(store))
    sync(after, LAYOUT, corpus, encoder, tmp_path / "lock")
    fresh = QdrantClient(":memory:")
    sync(fresh, LAYOUT, corpus, HashingEncoder(), tmp_path / "lock-fresh", full=True)
    assert point_set(after) == point_set(fresh)
    assert QdrantIndex(after, LAYOUT.live).count() == len(point_set(fresh))
    names = {c.name for c in after.get_collections().collections}
    assert names == set(generations.aliases(after, LAYOUT).values())  # no stray collection
    assert {collection_metadata(after, n)["state"] for n in names if not n.endswith("-pages")} == {"ready"}


def test_a_button_remembered_on_one_replica_is_recalled_on_another(tmp_path):
    from bot.shared_state import SharedState

    engine = QdrantClient(":memory:")
    first = SharedState(tmp_path / "replica-1.sqlite", engine, "qbtest")
    second = SharedState(tmp_path / "replica-2.sqlite", engine, "qbtest")
    key = first.remember("马其顿总统选举的结果如何？", offset=3)
    ref = second.recall(key)
    assert ref is not None and (ref.question, ref.offset) == ("马其顿总统选举的结果如何？", 3)
    assert second.recall(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    first.count("answered")
    assert (first.counter("answered"), second.counter("answered")) == (1, 0)  # counters are per replica
    assert second.prune() == 0 and second.recall(key) is not None


def test_rollback_refuses_a_previous_collection_of_another_model_and_keeps_the_live_one(
    corpus, client, tmp_path
):
    from embeddings.errors import IndexMismatch
    from embeddings.reindex import rollback

    sync(client, LAYOUT, corpus, HashingEncoder(), tmp_path / "lock")
    wider = HashingEncoder(128)  # another model id and dimension
    sync(client, LAYOUT, corpus, wider, tmp_path / "lock", full=True)
    live = generations.live_collection(client, LAYOUT)
    with pytest.raises(IndexMismatch, match="refusing to roll back"):
        rollback(qdrant_store(client, LAYOUT, tmp_path / "lock"), wider)
    assert generations.live_collection(client, LAYOUT) == live
    back = rollback(qdrant_store(client, LAYOUT, tmp_path / "lock"), HashingEncoder())
    assert back.generation == generations.live_collection(client, LAYOUT) != live


def test_the_live_searcher_loads_a_new_collection_in_the_background(corpus, client, tmp_path):
    from embeddings.live import LiveSearcher

    encoder = HashingEncoder()
    sync(client, LAYOUT, corpus, encoder, tmp_path / "lock")
    live = LiveSearcher(qdrant_store(client, LAYOUT, tmp_path / "lock"), encoder, check_interval=0.0)
    first, old = live.current, live.generation
    doc, text = edit_one_page(corpus)
    sync(client, LAYOUT, corpus, encoder, tmp_path / "lock", full=True)
    live.current  # noqa: B018 - notices the new collection and starts loading it in a thread
    assert live.settle(60) and live.current is not first and live.generation != old
    assert live.generation == generations.live_collection(client, LAYOUT)
    assert any(text in p.text for p in live.current.index.page(doc))


def test_a_collection_stores_its_calibration_record_and_a_reindex_replaces_it_in_place(
    corpus, client, tmp_path, monkeypatch
):
    import json

    from embeddings.live import LiveSearcher

    packaged = tmp_path / "packaged"
    shutil.copytree(calibration.PACKAGED, packaged)
    monkeypatch.setattr(calibration, "PACKAGED", packaged)
    encoder = HashingEncoder()
    sync(client, LAYOUT, corpus, encoder, tmp_path / "lock")
    store = qdrant_store(client, LAYOUT, tmp_path / "lock")
    shipped = calibration.as_dict(calibration.for_encoder(encoder.model_id))
    assert store.manifest().calibration == shipped and shipped["lexical_weight"] == 0.5
    live = LiveSearcher(store, encoder, check_interval=3600)
    assert calibration.as_dict(live.current.calibration) == shipped
    assert live.reload() is False  # nothing changed: nothing reopened

    path = packaged / calibration.record_name(encoder.model_id)
    path.write_text(json.dumps(json.loads(path.read_text()) | {"quote_margin": 0.01, "measured": "new"}))
    encoder.encoded.clear()
    collection = generations.live_collection(client, LAYOUT)
    sync(client, LAYOUT, corpus, encoder, tmp_path / "lock")  # no page changed, only the record
    assert encoder.encoded == [] and generations.live_collection(client, LAYOUT) == collection
    assert store.manifest().calibration == calibration.as_dict(calibration.read_record(path))
    assert live.reload() is True and live.current.calibration.quote_margin == 0.01
    assert searcher_of(client, encoder).calibration.measured == "new"

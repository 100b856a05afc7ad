"""The local backend through the retrieval contract (embeddings.backend), with the test encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corpus.load import CorpusPages
from embeddings.errors import IndexBusy
from embeddings.hashing import HashingEncoder
from embeddings.local import LocalIndex
from embeddings.manifest import Encoding
from embeddings.reindex import reindex
from embeddings.search import open_searcher
from tests.test_store import write_corpus


@pytest.fixture()
def store(tmp_path: Path) -> LocalIndex:
    """Return a local index of the handwritten pages, built with the hashing encoder."""
    index = LocalIndex(tmp_path / "index")
    reindex(index, HashingEncoder(), CorpusPages(write_corpus(tmp_path / "corpus", seed=False)))
    return index


def test_dense_candidates_are_cosines_best_first_and_cosines_are_exact(store: LocalIndex) -> None:
    reader, encoder = store.open(), HashingEncoder()
    texts = [p.text for p in reader.passages]
    queries = encoder.encode_queries([texts[0], texts[3]])
    first, second = reader.dense(queries, 4)
    assert first.ids[0] == reader.passages[0].id and first.scores[0] == pytest.approx(1.0, abs=1e-6)
    assert second.ids[0] == reader.passages[3].id and list(first.scores) == sorted(first.scores, reverse=True)
    wanted = [reader.passages[5].id, 12345, reader.passages[1].id]  # 12345 is not indexed
    exact = reader.cosines(queries[0], wanted)
    assert exact.ids.tolist() == [wanted[0], wanted[2]]
    expected = encoder.encode_passages([texts[5], texts[1]]) @ queries[0]
    np.testing.assert_allclose(exact.scores, expected, atol=1e-6)


def test_lexical_candidates_have_coverage_in_0_1_and_scores_for_given_ids_agree(store: LocalIndex) -> None:
    reader = store.open()
    found = reader.lexical("台风登陆福建", 3)
    assert 0 < len(found) <= 3 and all(0 < s <= 1 for s in found.scores)
    assert list(found.scores) == sorted(found.scores, reverse=True)
    unrelated = next(p.id for p in reader.passages if "女排" in p.text)
    again = reader.lexical_scores("台风登陆福建", [unrelated, int(found.ids[0])])
    assert again.ids.tolist() == [unrelated, int(found.ids[0])]
    assert again.scores[0] == 0 and again.scores[1] == pytest.approx(found.scores[0])
    assert len(reader.lexical("xylophone quartet", 5)) == 0


def test_a_generation_left_without_commit_changes_nothing(store: LocalIndex) -> None:
    live = store.live()
    with store.begin() as writer:
        assert writer.base is not None and writer.base.generation == live
        writer.delete([p.id for p in writer.base_passages()])
        with pytest.raises(IndexBusy), store.begin():
            pass
    assert store.live() == live and store.manifest().passages == len(store.open().passages) > 0


def test_commit_swaps_and_rollback_returns(store: LocalIndex) -> None:
    before = store.manifest()
    with store.begin() as writer:
        gone = [p.id for p in writer.base_passages() if p.doc == "news/plane.html"]
        writer.delete(gone)
        pages = {k: v for k, v in before.pages.items() if k != "news/plane.html"}
        encoding = Encoding(before.model, before.dimension, before.prompts)
        after = writer.commit(pages, encoding, before.corpus_dir)
    assert store.live() == after.generation != before.generation
    assert after.passages == before.passages - len(gone)
    searcher = open_searcher(store, HashingEncoder())
    assert all(searcher.passage(pid) is None for pid in gone)
    assert store.rollback().generation == before.generation == store.live()

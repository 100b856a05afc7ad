"""BM25 over folded Chinese: folding, segmentation, scores against a reference formula, cross-script."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from embeddings import tokens
from embeddings.errors import IndexCorrupt
from embeddings.local.lexical import LexicalIndex
from embeddings.tokens import content_query, fold, tokenize

TEXTS = [
    "臺灣總統府今天宣布，新的國防預算將提高到國內生產毛額的百分之三。",
    "台风“海葵”周二在福建登陆，当地停课停工。",
    "The Federal Reserve kept interest rates unchanged on Wednesday.",
    "北京市政府发布新规，外卖平台须公开抽成比例。",
    "台灣的半導體出口在第三季創下新高，台積電貢獻最多。",
    "",
]
IDS = [11, 22, 33, 44, 55, 66]


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("臺灣總統府", "台湾总统府"),
        ("ＡＢＣ１２３，ｘ", "abc123,x"),
        ("Taiwan 台積電", "taiwan 台积电"),
        ("简体不变", "简体不变"),
    ],
)
def test_fold(text: str, folded: str) -> None:
    assert fold(text) == folded


def test_fold_remembers_a_bounded_number_of_short_texts_only() -> None:
    long = "臺灣" * tokens.FOLD_CACHED_CHARS
    assert fold(long) == "台湾" * tokens.FOLD_CACHED_CHARS
    for n in range(tokens.FOLD_CACHE + 500):
        assert fold(f"臺灣第{n}號") == f"台湾第{n}号"
    held = tokens._fold_short.cache_info().currsize
    assert held == tokens.FOLD_CACHE  # full, and no larger
    assert fold(long) == "台湾" * tokens.FOLD_CACHED_CHARS
    assert tokens._fold_short.cache_info().currsize == held  # long texts are never kept


def test_unibigram_tokens_cover_characters_bigrams_and_words() -> None:
    assert tokenize("台灣GDP增長") == ["台", "湾", "台湾", "gdp", "增", "长", "增长"]
    assert tokenize("台灣GDP增長", "bigram") == ["台湾", "gdp", "增长"]
    assert tokenize("🙂！？") == []


@pytest.fixture(scope="module")
def index() -> LexicalIndex:
    return LexicalIndex.build(IDS, TEXTS)


def reference_bm25(query: str, texts: list[str], k1: float = 1.5, b: float = 0.75) -> np.ndarray:
    """Return Lucene BM25 scores computed by hand, the oracle for bm25s."""
    docs = [Counter(tokenize(t)) for t in texts]
    lengths = [sum(d.values()) for d in docs]
    avg = sum(lengths) / len(docs)
    scores = np.zeros(len(docs))
    for term in set(tokenize(query)):
        df = sum(term in d for d in docs)
        idf = math.log(1 + (len(docs) - df + 0.5) / (df + 0.5))
        for i, d in enumerate(docs):
            tf = d[term]
            scores[i] += idf * tf / (tf + k1 * (1 - b + b * lengths[i] / avg)) if tf else 0.0
    return scores


@pytest.mark.parametrize("query", ["台湾国防预算", "台風在哪裡登陸", "interest rates", "外卖抽成"])
def test_scores_match_the_reference_formula(index: LexicalIndex, query: str) -> None:
    np.testing.assert_allclose(index.scores(query), reference_bm25(query, TEXTS), rtol=1e-4, atol=1e-6)


def test_simplified_question_finds_traditional_passage(index: LexicalIndex) -> None:
    _, ids = index.search("台湾国防预算提高到多少", 3)
    assert ids[0] == 11


def test_traditional_question_finds_simplified_passage(index: LexicalIndex) -> None:
    _, ids = index.search("颱風在哪裡登陸？", 3)
    assert ids[0] == 22


def test_only_matching_passages_come_back_best_first(index: LexicalIndex) -> None:
    scores, ids = index.search("Federal Reserve", 5)
    assert ids.tolist() == [33] and scores[0] > 0
    assert index.search("烤面包", 5)[1].size == 0
    assert index.search("🙂", 5)[1].size == 0


def test_query_weight_bounds_every_score(index: LexicalIndex) -> None:
    for query in ["台湾半导体出口", "外卖平台", "rates"]:
        assert index.scores(query).max() <= index.query_weight(query) + 1e-6


def test_save_and_load_round_trip(tmp_path: Path, index: LexicalIndex) -> None:
    index.save(tmp_path / "lexical")
    loaded = LexicalIndex.load(tmp_path / "lexical")
    assert len(loaded) == 6 and loaded.segmenter == index.segmenter
    for query in ["台积电", "新规"]:
        np.testing.assert_array_equal(loaded.search(query, 3)[1], index.search(query, 3)[1])


def test_a_missing_directory_is_index_corrupt(tmp_path: Path) -> None:
    with pytest.raises(IndexCorrupt, match="lexical"):
        LexicalIndex.load(tmp_path / "nothing")


def test_mismatched_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="ids"):
        LexicalIndex.build([1, 2], ["one"])


@pytest.mark.parametrize(
    ("question", "query"),
    [
        ("袭击事件造成多少人受伤？", "袭击事件造成 人受伤?"),
        ("為什麼臺灣的人口是多少", " 台湾的人口是 "),
        ("什么？", "什么?"),  # nothing else to search for: keep the question
        ("Who won?", "who won?"),
    ],
)
def test_content_query_blanks_interrogatives_after_folding(question: str, query: str) -> None:
    assert content_query(question) == query

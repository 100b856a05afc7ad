"""Pure ranking: question checks, fusion, caps, duplicate folding, highlight spans, abstention."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from embeddings import rank
from embeddings.errors import BadQuestion
from embeddings.models import Passage
from embeddings.tokens import tokenize


def passage(pid: int, doc: str, text: str, ordinal: int = 0) -> Passage:
    return Passage(
        pid, doc, ordinal, text, "body", f"title {doc}", "outlet", f"https://x/{doc}", "2024-01-01"
    )


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("台" * 10_000, "10,000 characters"),
        ("谁赢了\x00比赛", "control characters"),
        ("\x1b[31m红色", r"U\+001B"),
        ("🙂🙂🔥", "no words"),
        ("？！……", "no words"),
    ],
)
def test_bad_questions_say_what_is_wrong(question: str, message: str) -> None:
    with pytest.raises(BadQuestion, match=message):
        rank.check_question(question)


@pytest.mark.parametrize(
    ("question", "checked"),
    [("  谁  赢了\n比赛？ ", "谁 赢了 比赛？"), ("Who won? 🙂", "Who won? 🙂"), ("2024", "2024")],
)
def test_good_questions_come_back_with_whitespace_collapsed(question: str, checked: str) -> None:
    assert rank.check_question(question) == checked


def test_weighted_fusion_adds_coverage_to_cosine_and_keeps_lexical_only_candidates() -> None:
    dense_ids, dense_scores = np.array([1, 2, -1]), np.array([0.9, 0.8, -np.inf])
    candidates = rank.fuse(dense_ids, dense_scores, np.array([3, 2]), {2: 0.6, 3: 0.9}, lexical_weight=0.5)
    assert [c.passage_id for c in candidates] == [3, 2, 1]
    by_id = {c.passage_id: c for c in candidates}
    assert by_id[2].relevance == pytest.approx(0.8 + 0.3)
    assert by_id[3].dense == pytest.approx(0.8)  # the weakest dense score stands in for a missing one
    assert by_id[1].lexical == 0.0


def test_rrf_rewards_agreement_between_the_lists() -> None:
    candidates = rank.fuse(np.array([1, 2]), np.array([0.9, 0.8]), np.array([2, 3]), {}, method="rrf")
    assert candidates[0].passage_id == 2
    assert candidates[0].rrf == pytest.approx(1 / 62 + 1 / 61)


def candidates_for(*ids: int) -> list[rank.Candidate]:
    return [rank.Candidate(pid, 0.9, 0.5, 0.0, 1.0 - i / 100) for i, pid in enumerate(ids)]


def test_at_most_max_per_article_hits_come_from_one_page() -> None:
    passages = {
        i: passage(i, "a.html" if i < 4 else "b.html", f"第{i}段内容各不相同，编号{i * 7919}。", i)
        for i in range(6)
    }
    hits = rank.select_hits(candidates_for(0, 1, 2, 4, 5), passages, top_k=3, max_per_article=2)
    assert [h.passage_id for h in hits] == [0, 1, 4]
    more = rank.select_hits(candidates_for(0, 1, 2, 4, 5), passages, top_k=3, offset=3, max_per_article=2)
    assert [h.passage_id for h in more] == [5]


def test_syndicated_copies_fold_into_one_hit_listing_the_other_sources() -> None:
    text = "国家统计局周一公布，十月份居民消费价格同比上涨百分之二点一，涨幅比上月扩大。"
    passages = {
        1: passage(1, "xinhua.html", text),
        2: passage(2, "other.html", "这是另一段完全不同的报道内容，谈的是体育比赛。"),
        3: passage(3, "copy.html", "  " + text.replace("。", "！") + " "),
        4: passage(4, "xinhua.html", text),  # the same page repeating its lead is not another source
    }
    hits = rank.select_hits(candidates_for(1, 2, 3, 4), passages, top_k=3)
    assert [h.passage_id for h in hits] == [1, 2]
    assert [s.doc for s in hits[0].also_in] == ["copy.html"]
    assert hits[0].text == text and hits[0].score == 1.0


def test_near_duplicate_threshold() -> None:
    a = rank.shingles("今天股市大涨，上证指数收于三千二百点，成交量放大。")
    assert rank.near_duplicate(a, rank.shingles("今天股市大涨，上证指数收于三千二百点，成交量放大！"))
    assert not rank.near_duplicate(a, rank.shingles("今天股市大跌，深证成指收于一万点，成交量萎缩。"))


def test_sentence_spans_split_chinese_and_western_sentences() -> None:
    text = " 他说：「我们会赢。」然后离开了！Is it true? 是的\n最后一句"
    assert [text[s:e] for s, e in rank.sentence_spans(text)] == [
        "他说：「我们会赢。」",
        "然后离开了！",
        "Is it true?",
        "是的",
        "最后一句",
    ]


def test_highlight_picks_the_sentence_that_answers() -> None:
    text = "会议在北京举行。外交部长王毅出席了会议并发表讲话。会议持续两天。"
    scorer = rank.token_overlap_scorer(tokenize("谁发表了讲话"), tokenize)
    spans = rank.highlight(text, scorer)
    assert [text[s:e] for s, e in spans] == ["外交部长王毅出席了会议并发表讲话。"]


def test_no_overlap_means_no_highlight() -> None:
    scorer = rank.token_overlap_scorer(tokenize("weather"), tokenize)
    assert rank.highlight("今天天气很好。", scorer) == ()


@given(st.text(alphabet=st.sampled_from(list("。！？!?；;\n 」”a台湾ab")), max_size=60), st.text(max_size=8))
def test_highlight_spans_are_exact_ordered_slices(text: str, question: str) -> None:
    spans = rank.highlight(
        text, rank.token_overlap_scorer(tokenize(question + "台湾a"), tokenize), keep=0.0, most=9
    )
    for start, end in spans:
        assert 0 <= start < end <= len(text)
        assert text[start:end] == text[start:end].strip()
    assert list(spans) == sorted(spans)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_abstention_and_nearest_headlines() -> None:
    passages = {i: passage(i, f"{i % 2}.html", f"text {i}") for i in range(4)}
    candidates = candidates_for(0, 1, 2, 3)
    assert rank.is_answerable(candidates, 0.99) and not rank.is_answerable(candidates, 1.01)
    assert not rank.is_answerable([], 0.0)
    assert [h.doc for h in rank.nearest_headlines(candidates, passages)] == ["0.html", "1.html"]


def test_cross_lingual_questions_are_judged_by_cosine_alone() -> None:
    candidates = [rank.Candidate(1, 0.75, 0.0, 0.0, 0.75)]
    assert rank.is_answerable(candidates, cross_lingual=True)
    assert not rank.is_answerable(candidates)
    assert not rank.is_answerable(candidates, rank.DEFAULT_MIN_RELEVANCE + 0.05, cross_lingual=True)
    assert not rank.has_han("Who won the match?") and rank.has_han("Who is 蔡英文?")


def test_captions_rank_below_a_close_body_paragraph_but_win_when_clearly_best() -> None:
    caption, body, other = 1, 2, 3
    close = [
        rank.Candidate(caption, 0.90, 0.5, 0.0, 1.05),
        rank.Candidate(body, 0.89, 0.5, 0.0, 1.03),
        rank.Candidate(other, 0.80, 0.0, 0.0, 0.80),
    ]
    demoted = rank.demote(close, frozenset({caption}), rank.CAPTION_PENALTY)
    assert [c.passage_id for c in demoted] == [body, caption, other]
    assert demoted[1].relevance == pytest.approx(1.05 - rank.CAPTION_PENALTY)
    far = [rank.Candidate(caption, 0.95, 0.9, 0.0, 1.22), rank.Candidate(body, 0.80, 0.1, 0.0, 0.83)]
    assert [c.passage_id for c in rank.demote(far, frozenset({caption}), rank.CAPTION_PENALTY)] == [
        caption,
        body,
    ]
    assert rank.demote(close, frozenset(), rank.CAPTION_PENALTY) == close


def test_only_quotes_near_the_best_are_quotable() -> None:
    best, close, far = (
        rank.Candidate(1, 0.90, 0.3, 0.0, 0.99),
        rank.Candidate(2, 0.88, 0.2, 0.0, 0.94),
        rank.Candidate(3, 0.86, 0.1, 0.0, 0.93),
    )
    # All three clear the threshold; the third is too far below the best to be quoted beside it.
    assert [c.passage_id for c in rank.quotable([best, close, far], 0.92, margin=0.055)] == [1, 2]
    assert [c.passage_id for c in rank.quotable([best, close, far], 0.92, margin=0.1)] == [1, 2, 3]
    assert rank.quotable([close, far], 0.95) == []
    english = [rank.Candidate(1, 0.80, 0.0, 0.0, 0.80), rank.Candidate(2, 0.70, 0.0, 0.0, 0.70)]
    assert [c.passage_id for c in rank.quotable(english, cross_lingual=True, margin=0.2)] == [1]

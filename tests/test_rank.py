"""Pure ranking: question checks, fusion, caps, duplicate folding, highlight spans, abstention."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from embeddings import rank
from embeddings.calibration import Calibration
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


def test_weighted_fusion_uses_the_real_cosine_of_lexical_only_candidates() -> None:
    dense_ids = np.array([1, 2, -1])
    cosines = {1: 0.9, 2: 0.8, 3: 0.7}
    candidates = rank.fuse(dense_ids, cosines, np.array([3, 2]), {2: 0.6, 3: 0.9}, lexical_weight=0.5)
    assert [c.passage_id for c in candidates] == [3, 2, 1]
    by_id = {c.passage_id: c for c in candidates}
    assert by_id[2].relevance == pytest.approx(0.8 + 0.3)
    assert by_id[3].dense == pytest.approx(0.7)  # its own cosine, not the weakest dense score
    assert by_id[3].relevance == pytest.approx(0.7 + 0.45)
    assert by_id[1].lexical == 0.0


@pytest.mark.parametrize(("page_weight", "order"), [(0.0, [1, 2]), (0.1, [1, 2]), (0.3, [2, 1])])
def test_the_page_signal_lifts_passages_of_the_article_that_matches(
    page_weight: float, order: list[int]
) -> None:
    # Passage 1 matches better alone; passage 2's article matches the question as a whole.
    candidates = rank.fuse(
        np.array([1, 2]),
        {1: 0.85, 2: 0.84},
        np.array([1, 2]),
        {1: 0.5, 2: 0.45},
        {1: 0.2, 2: 0.4},
        lexical_weight=0.5,
        page_weight=page_weight,
    )
    assert [c.passage_id for c in candidates] == order
    assert {c.passage_id: c.page for c in candidates} == {1: 0.2, 2: 0.4}


def test_a_candidate_without_its_cosine_is_an_error() -> None:
    with pytest.raises(KeyError):
        rank.fuse(np.array([1]), {1: 0.9}, np.array([5]), {5: 0.9}, lexical_weight=0.5)


def test_rrf_rewards_agreement_between_the_lists() -> None:
    cosines = {1: 0.9, 2: 0.8, 3: 0.1}
    candidates = rank.fuse(np.array([1, 2]), cosines, np.array([2, 3]), {}, lexical_weight=0.3, method="rrf")
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
    assert rank.quotable(candidates, 0.99, 0.1) and not rank.quotable(candidates, 1.01, 0.1)
    assert not rank.quotable([], 0.0, 0.1)
    assert [h.doc for h in rank.nearest_headlines(candidates, passages)] == ["0.html", "1.html"]


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who won the match?", "cross-lingual"),
        ("2024", "cross-lingual"),
        ("Who is 蔡英文?", "simplified"),
        ("台湾的人口是多少？", "simplified"),
        ("臺灣的人口是多少？", "traditional"),
        ("為什麼會發生", "traditional"),
        ("袭击事件造成多少人受伤？", "simplified"),
        ("ＡＢＣ公司在哪里", "simplified"),
    ],
)
def test_question_kinds(question: str, kind: str) -> None:
    assert rank.question_kind(question) == kind


def test_each_kind_has_its_own_threshold_and_min_score_shifts_them_all() -> None:
    cal = Calibration(min_relevance={"simplified": 1.0, "traditional": 0.9, "cross-lingual": 0.7})
    assert rank.threshold(cal, "traditional") == pytest.approx(0.9)
    assert rank.threshold(cal, "cross-lingual") == pytest.approx(0.7)
    assert rank.threshold(cal, "simplified", min_score=1.1) == pytest.approx(1.1)
    assert rank.threshold(cal, "cross-lingual", min_score=1.1) == pytest.approx(0.8)
    candidates = [rank.Candidate(1, 0.75, 0.0, 0.0, 0.95)]
    assert rank.quotable(candidates, rank.threshold(cal, "traditional"), 0.1)
    assert not rank.quotable(candidates, rank.threshold(cal, "simplified"), 0.1)


def test_captions_rank_below_a_close_body_paragraph_but_win_when_clearly_best() -> None:
    caption, body, other = 1, 2, 3
    penalty = 0.05
    close = [
        rank.Candidate(caption, 0.90, 0.5, 0.0, 1.05),
        rank.Candidate(body, 0.89, 0.5, 0.0, 1.03),
        rank.Candidate(other, 0.80, 0.0, 0.0, 0.80),
    ]
    demoted = rank.demote(close, frozenset({caption}), penalty)
    assert [c.passage_id for c in demoted] == [body, caption, other]
    assert demoted[1].relevance == pytest.approx(1.05 - penalty)
    far = [rank.Candidate(caption, 0.95, 0.9, 0.0, 1.22), rank.Candidate(body, 0.80, 0.1, 0.0, 0.83)]
    assert [c.passage_id for c in rank.demote(far, frozenset({caption}), penalty)] == [caption, body]
    assert rank.demote(close, frozenset(), penalty) == close


@pytest.mark.parametrize(
    ("threshold", "margin", "quoted"),
    [
        (0.92, 0.055, [1, 2]),
        (0.92, 0.1, [1, 2, 3]),
        (0.92, 0.0, [1]),
        (0.99, 0.3, [1, 2, 3]),  # the best clears the threshold: later quotes need only the margin
        (1.0, 0.3, []),  # the best does not: abstain
    ],
)
def test_quotes_near_the_best_are_shown_once_the_best_clears_the_threshold(
    threshold: float, margin: float, quoted: list[int]
) -> None:
    candidates = [
        rank.Candidate(1, 0.90, 0.3, 0.0, 0.99),
        rank.Candidate(2, 0.88, 0.2, 0.0, 0.94),
        rank.Candidate(3, 0.86, 0.1, 0.0, 0.93),
    ]
    assert [c.passage_id for c in rank.quotable(candidates, threshold, margin)] == quoted

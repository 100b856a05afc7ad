"""The Searcher on a small real corpus: real model, real FAISS and BM25, cross-script, abstention."""

from __future__ import annotations

import pytest

from embeddings.encoder import Encoder
from embeddings.errors import BadQuestion
from embeddings.local.dense import DenseIndex
from embeddings.local.lexical import LexicalIndex
from embeddings.local.reader import LocalReader
from embeddings.models import Answer, Passage
from embeddings.search import IndexStats, Searcher

# (doc, title, date, paragraphs); tw-* pages are in traditional script, the rest simplified.
PAGES = [
    (
        "tw/typhoon.html",
        "颱風海葵登陸台東 全台停班停課",
        "2023-09-03",
        [
            "中央氣象署表示，颱風海葵於週日下午在台東縣東河鄉登陸，中心氣壓955百帕。",
            "受颱風影響，全台22個縣市宣布停止上班上課，花蓮縣累積雨量超過600毫米。",
            "交通部表示，台鐵東部幹線停駛，國內航線共取消137個航班。",
        ],
    ),
    (
        "tw/chips.html",
        "台積電第三季營收創新高",
        "2024-10-17",
        [
            "台積電週四公布第三季財報，營收達新台幣7596億元，年增39%，創下單季新高。",
            "公司表示，人工智慧晶片需求強勁，先進製程產能供不應求。",
        ],
    ),
    (
        "cn/rates.html",
        "央行下调贷款市场报价利率",
        "2024-10-21",
        [
            "中国人民银行授权全国银行间同业拆借中心公布，一年期贷款市场报价利率为3.1%，较上月下降25个基点。",
            "五年期以上贷款市场报价利率为3.6%，同样下降25个基点，有利于降低居民房贷成本。",
            "分析人士认为，此次降息旨在提振内需，稳定房地产市场。",
        ],
    ),
    (
        "cn/space.html",
        "神舟十八号航天员返回地球",
        "2024-11-04",
        [
            "神舟十八号载人飞船返回舱于11月4日凌晨在东风着陆场成功着陆，三名航天员身体状况良好。",
            "三名航天员在中国空间站驻留192天，完成了多次出舱活动和数十项科学实验。",
        ],
    ),
    (
        "cn/football.html",
        "国足客场负于日本队",
        "2024-09-05",
        [
            "在世界杯亚洲区预选赛中，中国男足客场以0比7负于日本队，遭遇两连败。",
            "赛后主教练伊万科维奇表示，球队需要尽快调整状态，备战下一场比赛。",
            "这场比赛在埼玉体育场举行。日本队上半场打进两球。下半场中国队体能下降，又连丢五球。",
        ],
    ),
    (
        "wire/rates-copy.html",
        "转载：一年期LPR下调",
        "2024-10-22",
        ["中国人民银行授权全国银行间同业拆借中心公布，一年期贷款市场报价利率为3.1%，较上月下降25个基点。"],
    ),
]


def corpus() -> list[Passage]:
    """Return the passages of PAGES with simple unique ids."""
    return [
        Passage(
            100 * page + ordinal + 1, doc, ordinal, text, "body", title, "测试社", f"https://n/{doc}", date
        )
        for page, (doc, title, date, texts) in enumerate(PAGES)
        for ordinal, text in enumerate(texts)
    ]


@pytest.fixture(scope="module")
def searcher(model_path: str) -> Searcher:
    encoder = Encoder(model_path)
    passages = corpus()
    ids = [p.id for p in passages]
    dense = DenseIndex.create(encoder.dimension)
    import numpy as np

    dense.add(np.array(ids), encoder.encode_passages([p.text for p in passages]))
    lexical = LexicalIndex.build(ids, [p.text for p in passages])
    stats = IndexStats(len(PAGES), len(passages), "2023-09-03", "2024-11-04", encoder.model_id, "now", "flat")
    return Searcher(LocalReader(passages, dense, lexical), encoder, stats)


def top_docs(answer: Answer) -> list[str]:
    return [h.doc for h in answer.hits]


def test_simplified_question_finds_traditional_passage(searcher: Searcher) -> None:
    answer = searcher.search("台风海葵在哪里登陆？")
    assert answer.answered and answer.hits[0].doc == "tw/typhoon.html"
    assert "東河鄉登陸" in answer.hits[0].text  # quoted in the page's own (traditional) script


def test_traditional_question_finds_simplified_passage(searcher: Searcher) -> None:
    answer = searcher.search("三名航天員在空間站駐留了多少天？")
    assert answer.answered and answer.hits[0].text.startswith("三名航天员在中国空间站驻留192天")


def test_english_question_finds_chinese_passage(searcher: Searcher) -> None:
    answer = searcher.search("How much revenue did TSMC report for the third quarter?")
    assert answer.answered and answer.hits[0].doc == "tw/chips.html"
    assert answer.hits[0].ordinal == 0


def test_an_english_question_highlights_the_sentence_closest_in_meaning(searcher: Searcher) -> None:
    answer = searcher.search("In which stadium was the football match held?")
    hit = answer.hits[0]
    assert answer.answered and hit.doc == "cn/football.html" and hit.ordinal == 2
    assert [hit.text[s:e] for s, e in hit.highlight] == ["这场比赛在埼玉体育场举行。"]


def test_hits_quote_exactly_and_highlight_the_answering_sentence(searcher: Searcher) -> None:
    answer = searcher.search("五年期以上贷款市场报价利率是多少？")
    hit = answer.hits[0]
    texts = {p.id: p.text for p in corpus()}
    assert hit.text == texts[hit.passage_id]
    assert hit.highlight and all(hit.text[s:e] in hit.text and e > s for s, e in hit.highlight)
    assert "3.6%" in "".join(hit.text[s:e] for s, e in hit.highlight)
    assert hit.title == "央行下调贷款市场报价利率" and hit.url == "https://n/cn/rates.html"


def test_a_syndicated_copy_is_folded_into_one_hit(searcher: Searcher) -> None:
    answer = searcher.search("一年期贷款市场报价利率降到了多少？", top_k=5)
    lead = "中国人民银行授权全国银行间同业拆借中心公布"
    copies = [h for h in answer.hits if h.text.startswith(lead)]
    assert len(copies) == 1
    assert {copies[0].doc, *(s.doc for s in copies[0].also_in)} == {"cn/rates.html", "wire/rates-copy.html"}
    assert answer.hits.index(copies[0]) <= 1


def test_at_most_max_per_article_and_offset_pages_on(searcher: Searcher) -> None:
    answer = searcher.search("颱風造成哪些停班停課和交通影響？", top_k=5)
    assert top_docs(answer).count("tw/typhoon.html") <= 2
    more = searcher.search("颱風造成哪些停班停課和交通影響？", top_k=2, offset=2)
    assert [h.passage_id for h in more.hits] == [h.passage_id for h in answer.hits[2:4]]


def test_an_unrelated_question_abstains_with_nearest_headlines(searcher: Searcher) -> None:
    answer = searcher.search("法式可颂面包应该用哪种黄油烘焙？")
    assert not answer.answered and answer.hits == ()
    assert 1 <= len(answer.nearest) <= 3 and len({h.doc for h in answer.nearest}) == len(answer.nearest)


@pytest.mark.parametrize("question", ["", "   ", "问" * 10_000, "谁\x07赢了", "🙂🙂"])
def test_bad_questions_raise_bad_question(searcher: Searcher, question: str) -> None:
    with pytest.raises(BadQuestion):
        searcher.search(question)


def test_search_many_matches_search_and_isolates_bad_questions(searcher: Searcher) -> None:
    questions = ["台积电第三季营收多少？", "", "国足输给了谁？", "🙂"]
    answers = searcher.search_many(questions)
    assert isinstance(answers[1], BadQuestion) and isinstance(answers[3], BadQuestion)
    for i in (0, 2):
        single = searcher.search(questions[i])
        many = answers[i]
        assert isinstance(many, Answer)
        assert [h.passage_id for h in many.hits] == [h.passage_id for h in single.hits]
        assert [h.score for h in many.hits] == pytest.approx([h.score for h in single.hits], abs=1e-3)


def test_passage_context_and_headlines(searcher: Searcher) -> None:
    assert searcher.passage(2) is not None and searcher.passage(2).doc == "tw/typhoon.html"
    assert searcher.passage(999_999) is None
    assert [p.ordinal for p in searcher.context(2)] == [0, 1, 2]
    assert [p.ordinal for p in searcher.context(1, radius=1)] == [0, 1]
    assert searcher.context(999_999) == ()
    assert [h.doc for h in searcher.headlines(2)] == ["cn/space.html", "wire/rates-copy.html"]
    assert searcher.stats.passages == 14

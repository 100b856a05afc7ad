"""The answer verifier: its contract, the test double, its place in ranking and abstention, its record."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from bot.cli.index import make_reranker
from bot.config import Settings
from embeddings import calibration, rank
from embeddings.calibration import Calibration, Verification
from embeddings.errors import RerankerUnavailable
from embeddings.hashing import HashingEncoder
from embeddings.local.dense import DenseIndex
from embeddings.local.lexical import LexicalIndex
from embeddings.local.reader import LocalReader
from embeddings.models import Answer, Passage
from embeddings.reranker import SHIPPED, CrossEncoderReranker, HashingReranker, resolve
from embeddings.search import IndexStats, Searcher

PASSAGES = [
    # Same topic, one answers: the typhoon's landfall place is only in the second.
    (1, "a.html", "颱風海葵週日帶來強風豪雨，氣象署發布陸上颱風警報，各地嚴陣以待。"),
    (2, "b.html", "颱風海葵於週日下午在台東縣東河鄉登陸，中心氣壓955百帕。"),
    (3, "c.html", "台積電週四公布第三季財報，營收達新台幣7596億元，年增39%。"),
    (4, "d.html", "中国男足客场以0比7负于日本队，遭遇两连败。"),
]


def passages() -> list[Passage]:
    return [
        Passage(pid, doc, 0, text, "body", doc, "测试社", None, "2024-01-01") for pid, doc, text in PASSAGES
    ]


class Counting(HashingReranker):
    """The test double, counting its calls and pairs."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        self.calls.append(len(pairs))
        return super().score(pairs)


class Fixed:
    """A reranker that gives chosen logits by passage text (to steer order and abstention)."""

    model_id = "fixed"
    digest = "fixed-digest"

    def __init__(self, logits: dict[str, float]) -> None:
        self.logits = logits

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        return np.array([self.logits.get(p, -6.0) for _, p in pairs])


def searcher(reranker: object | None, verification: Verification | None, threshold: float = 0.0) -> Searcher:
    encoder = HashingEncoder()
    ps = passages()
    ids = [p.id for p in ps]
    dense = DenseIndex.create(encoder.dimension)
    dense.add(np.array(ids), encoder.encode_passages([p.text for p in ps]))
    lexical = LexicalIndex.build(ids, [p.text for p in ps])
    stats = IndexStats(4, 4, None, None, encoder.model_id, "now", "flat")
    record = Calibration(
        model="hashing",
        min_relevance=MappingProxyType(
            {k: threshold for k in ("simplified", "traditional", "cross-lingual")}
        ),
        verification=verification,
    )
    return Searcher(
        LocalReader(ps, dense, lexical),
        encoder,
        stats,
        top_k=3,
        calibration=record,
        reranker=reranker,  # type: ignore[arg-type]
    )


def verification(
    digest: str, *, on: str = "verifier", minimum: float = 0.5, weight: float = 5.0
) -> Verification:
    kinds = {"simplified": minimum, "traditional": minimum}
    return Verification(
        "test", digest, depth=4, weight=weight, quote_margin=0.5, abstain_on=on, min_score=kinds
    )


QUESTION = "颱風海葵在哪裡登陸？"
ANSWERS = PASSAGES[1][2]


def test_the_double_prefers_the_passage_sharing_the_question_bigrams() -> None:
    scores = HashingReranker().score([("营收多少", "台积电营收7596亿元"), ("营收多少", "男足负于日本队")])
    assert scores[0] > scores[1]
    assert HashingReranker().score([("营收多少", "台积电营收7596亿元")]).tolist() == scores[:1].tolist()


def test_verify_adds_the_weighted_probability_and_reorders() -> None:
    cands = [
        rank.Candidate(1, 0.9, 0.0, 0.0, 0.9),
        rank.Candidate(2, 0.8, 0.0, 0.0, 0.8),
        rank.Candidate(3, 0.7, 0, 0, 0.7),
    ]
    moved = rank.verify(cands, [-4.0, 4.0], 1.0)
    assert [c.passage_id for c in moved] == [2, 1, 3]
    assert moved[0].relevance == pytest.approx(0.8 + 1 / (1 + math.exp(-4.0)))
    assert moved[2].verified is None and moved[2].relevance == 0.7  # unread: unchanged


def test_reorder_only_keeps_the_scores_and_swaps_the_passages() -> None:
    cands = [rank.Candidate(1, 0.9, 0.0, 0.0, 0.9), rank.Candidate(2, 0.8, 0.0, 0.0, 0.8)]
    moved = rank.verify(cands, [-4.0, 4.0], 0.0, reorder_only=True)
    assert [(c.passage_id, c.relevance) for c in moved] == [(2, 0.9), (1, 0.8)]


def test_a_measured_verifier_puts_the_passage_it_trusts_first() -> None:
    plain = searcher(None, None).search(QUESTION)
    assert plain.hits[0].text == ANSWERS  # retrieval alone ranks the landfall passage first
    steer = Fixed({PASSAGES[0][2]: 4.0, ANSWERS: -4.0})
    verified = searcher(steer, verification(steer.digest)).search(QUESTION)
    assert verified.answered and verified.hits[0].text == PASSAGES[0][2]


def test_the_verifier_refuses_when_no_candidate_answers() -> None:
    steer = Fixed({})  # every passage -6: probability 0.0025 < 0.5
    answer = searcher(steer, verification(steer.digest)).search(QUESTION)
    assert not answer.answered and answer.nearest
    assert searcher(None, None).search(QUESTION).answered  # without it the same question is answered


def test_combined_abstention_adds_its_offset_to_the_relevance_threshold() -> None:
    steer = Fixed({ANSWERS: 4.0})
    assert searcher(steer, verification(steer.digest, on="combined", minimum=0.5)).search(QUESTION).answered
    assert (
        not searcher(steer, verification(steer.digest, on="combined", minimum=9.0)).search(QUESTION).answered
    )


def test_relevance_abstention_keeps_the_thresholds_of_retrieval_alone() -> None:
    doubting, trusting = Fixed({}), Fixed({PASSAGES[0][2]: 6.0})
    answered = searcher(doubting, verification(doubting.digest, on="relevance")).search(QUESTION)
    assert answered.answered  # the verifier doubts every passage; relevance clears its threshold
    refused = searcher(trusting, verification(trusting.digest, on="relevance"), threshold=5.0).search(
        QUESTION
    )
    assert not refused.answered  # it trusts a passage, but no relevance reaches 5
    combined = searcher(trusting, verification(trusting.digest, on="combined", minimum=0.0), threshold=5.0)
    assert combined.search(QUESTION).answered  # there its weighted trust (5 x 0.998) carries it past 5


def test_an_unmeasured_verifier_reorders_but_does_not_decide() -> None:
    steer = Fixed({PASSAGES[0][2]: 4.0})  # its digest differs from the record's: constants not its own
    answer = searcher(steer, verification("other-digest")).search(QUESTION)
    assert answer.answered and answer.hits[0].text == PASSAGES[0][2]
    assert searcher(Fixed({}), verification("other-digest")).search(QUESTION).answered  # no refusal


def test_the_shipped_verifier_without_its_constants_stays_out(tmp_path: Path) -> None:
    shipped = CrossEncoderReranker(str(SHIPPED), cache_dir=tmp_path)
    assert not shipped.orders_alone and CrossEncoderReranker(str(tmp_path), runtime="torch").orders_alone
    s = searcher(shipped, verification("other-digest"))
    assert s.verification(QUESTION) == (0, None)  # nothing loads, nothing is scored
    assert s.search(QUESTION).hits[0].text == ANSWERS


def test_english_questions_are_not_verified() -> None:
    double = Counting()
    s = searcher(double, verification(double.digest))
    s.search("Where did the typhoon make landfall?")
    assert double.calls == []


def test_a_kind_its_constants_leave_out_is_not_verified() -> None:
    double = Counting()  # another verifier, measured: it helped simplified questions only
    record = replace(verification(double.digest), min_score={"simplified": 0.5})
    s = searcher(double, record)
    assert s.verification(QUESTION) == (0, None)  # traditional: ranked as retrieval ranks it
    s.search(QUESTION)
    assert double.calls == []
    s.search("台风海葵在哪里登陆？")
    assert double.calls == [4]


def test_search_many_scores_every_question_in_one_call() -> None:
    double = Counting()
    s = searcher(double, verification(double.digest, minimum=0.0))
    questions = ["颱風海葵在哪裡登陸？", "台積電第三季營收多少？", "", "国足输给了谁？"]
    many = s.search_many(questions)
    assert len(double.calls) == 1 and double.calls[0] == 3 * 4
    for question, answer in zip(questions, many, strict=True):
        if question:
            assert isinstance(answer, Answer)
            single = s.search(question)
            assert [h.passage_id for h in answer.hits] == [h.passage_id for h in single.hits]


def test_the_record_round_trips_with_its_verification() -> None:
    record = replace(Calibration(model="m"), verification=verification("abc", on="combined"))
    again = calibration.from_json(calibration.to_json(record))
    assert again == record and again.verification is not None and again.verification.abstain_on == "combined"
    assert calibration.from_json(calibration.to_json(Calibration(model="m"))).verification is None


@pytest.mark.parametrize(
    "bad",
    [
        {"reranker": "x", "sha256": "y"},
        {"reranker": "x", "sha256": "y", "min_score": {}, "abstain_on": "vote"},
    ],
)
def test_a_malformed_verification_is_refused(bad: dict[str, object]) -> None:
    data = calibration.as_dict(Calibration(model="m")) | {"verification": bad}
    with pytest.raises(ValueError):
        calibration.from_dict(data)


def test_the_setting_names_the_verifier(tmp_path: object) -> None:
    assert make_reranker(Settings(reranker="none")) is None
    assert isinstance(make_reranker(Settings(reranker="hashing")), HashingReranker)
    shipped = make_reranker(Settings(reranker="shipped"))
    assert isinstance(shipped, CrossEncoderReranker) and shipped.model_id == str(SHIPPED.resolve())
    assert resolve("cross-encoder/some-hub-id") == "cross-encoder/some-hub-id"
    assert resolve("off") is None


# The shipped verifier itself: the model file trained by bench/train_reranker.py.
LANDFALL = [
    ("颱風海葵在哪裡登陸？", "颱風海葵於週日下午在台東縣東河鄉登陸，中心氣壓955百帕。"),
    ("颱風海葵在哪裡登陸？", "颱風海葵週日帶來強風豪雨，氣象署發布陸上颱風警報，各地嚴陣以待。"),
    ("颱風海葵在哪裡登陸？", "台積電週四公布第三季財報，營收達新台幣7596億元，年增39%。"),
    ("一年期贷款市场报价利率是多少？", "一年期贷款市场报价利率为3.1%，较上月下降25个基点。"),
]


@pytest.fixture(scope="module")
def shipped_scores(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    cache = tmp_path_factory.mktemp("rerankers")
    ov = CrossEncoderReranker(str(SHIPPED), runtime="openvino", cache_dir=cache)
    first = ov.score(LANDFALL)
    converted = sorted(p.name for p in cache.iterdir() if p.is_dir())
    again = CrossEncoderReranker(str(SHIPPED), runtime="openvino", cache_dir=cache).score(LANDFALL)
    assert sorted(p.name for p in cache.iterdir() if p.is_dir()) == converted  # converted once
    assert again.tolist() == first.tolist()
    return {"openvino": first, "torch": CrossEncoderReranker(str(SHIPPED), runtime="torch").score(LANDFALL)}


def test_pairs_scored_lately_are_not_read_by_the_model_again(tmp_path: Path) -> None:
    reranker = CrossEncoderReranker(str(SHIPPED), runtime="openvino", cache_dir=tmp_path)
    first = reranker.score(LANDFALL[:2])
    model = reranker._load()
    calls: list[int] = []
    real = model.score
    model.score = lambda pairs, threads: calls.append(len(pairs)) or real(pairs, threads)
    both = reranker.score(LANDFALL)  # a "More" page: two pairs read before, two new ones
    assert calls == [2] and both[:2].tolist() == first.tolist()
    assert np.allclose(
        both[2:], CrossEncoderReranker(str(SHIPPED), runtime="torch").score(LANDFALL[2:]), atol=1e-3
    )
    assert reranker.score([]).shape == (0,) and calls == [2]


def test_the_shipped_verifier_scores_alike_on_openvino_and_torch(
    shipped_scores: dict[str, np.ndarray],
) -> None:
    assert np.allclose(shipped_scores["openvino"], shipped_scores["torch"], atol=1e-3)


def test_the_shipped_verifier_prefers_the_answer_to_the_same_topic(
    shipped_scores: dict[str, np.ndarray],
) -> None:
    answer, topic, unrelated, rate = shipped_scores["openvino"].tolist()
    assert answer > topic and answer > unrelated and rate > topic


def test_the_shipped_records_carry_the_shipped_verifiers_constants(model_path: str) -> None:
    digest = calibration.weights_digest(str(SHIPPED))
    for family in ("float", "openvino-int8"):
        record = calibration.for_encoder(model_path, family)
        assert record.verification is not None and record.verification.sha256 == digest


def test_the_shipped_verifier_stays_within_its_size_budget() -> None:
    files = [p for p in SHIPPED.iterdir() if p.is_file()]
    assert {"config.json", "model.safetensors", "tokenizer.json", "README.md"} <= {p.name for p in files}
    assert sum(p.stat().st_size for p in files) <= 40 * 1024 * 1024


def test_a_missing_verifier_names_the_setting_that_fixes_it(tmp_path: Path) -> None:
    from bot.cli.wording import explain

    broken = CrossEncoderReranker(str(tmp_path / "no-such-model"), runtime="torch")
    with pytest.raises(RerankerUnavailable) as caught:
        broken.score([("问", "答")])
    assert "no-such-model" in str(caught.value) and "QUOTEBOT_RERANKER" in explain(caught.value)


def test_search_many_without_the_verifier_calls_it_not_and_ranks_as_retrieval() -> None:
    double = Counting()
    s = searcher(double, verification(double.digest, minimum=0.0))
    shed = s.search_many([QUESTION, "台積電第三季營收多少？"], verify=False)
    assert double.calls == []
    plain = searcher(None, None).search_many([QUESTION, "台積電第三季營收多少？"])
    for a, b in zip(shed, plain, strict=True):
        assert isinstance(a, Answer) and isinstance(b, Answer)
        assert [h.passage_id for h in a.hits] == [h.passage_id for h in b.hits]


async def test_the_queue_verifies_only_a_short_backlog() -> None:
    import asyncio

    from bot.telegram.search_queue import VERIFY_BACKLOG, SearchQueue

    seen: list[bool] = []

    class Live:
        class current:
            @staticmethod
            def search_many(questions: list[str], *, verify: bool = True) -> list[Answer]:
                seen.append(verify)
                return [Answer(q, False) for q in questions]

    queue = SearchQueue(Live(), workers=1)  # type: ignore[arg-type]
    await queue.ask("一个问题", user_id=1)
    await asyncio.gather(*(queue.ask(f"问题{i}", user_id=i) for i in range(VERIFY_BACKLOG * 4)))
    assert seen[0] is True and False in seen[1:]

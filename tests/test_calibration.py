"""The calibration record: parsing, and which record a generation's Searcher gets."""

from __future__ import annotations

import json

import pytest

from embeddings import calibration
from embeddings.calibration import Calibration

SHIPPED = "multilingual-e5-small-zh-en"


def record(**changes: object) -> str:
    data = {
        "lexical_weight": 0.4,
        "page_weight": 0.1,
        "quote_margin": 0.07,
        "min_relevance": {"simplified": 1.01, "traditional": 0.97, "cross-lingual": 0.7},
    }
    return json.dumps(data | changes)


def test_a_record_round_trips() -> None:
    parsed = calibration.from_json(record())
    assert (parsed.lexical_weight, parsed.page_weight, parsed.quote_margin) == (0.4, 0.1, 0.07)
    assert parsed.threshold("traditional") == 0.97
    assert calibration.from_json(calibration.to_json(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[]", "min_relevance object"),
        (record(min_relevance=0.9), "min_relevance object"),
        (record(min_relevance={"simplified": 1.0}), "traditional, cross-lingual"),
    ],
)
def test_a_malformed_record_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        calibration.from_json(text)


def test_a_model_gets_its_shipped_record_else_the_defaults() -> None:
    model = f"/somewhere/{SHIPPED}"
    assert calibration.for_model(model) == calibration.packaged(model)
    assert calibration.for_model(model).model == model
    assert calibration.for_model("/elsewhere/other-model") == Calibration(model="/elsewhere/other-model")


def test_a_quantised_family_gets_its_own_record_else_the_float_one(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(calibration, "PACKAGED", tmp_path)
    (tmp_path / "m.json").write_text(record(lexical_weight=0.3), encoding="utf-8")
    (tmp_path / "m.openvino-int8.json").write_text(record(lexical_weight=0.7), encoding="utf-8")
    assert calibration.for_model("/x/m").lexical_weight == 0.3
    assert calibration.for_model("/x/m", "openvino-int8").lexical_weight == 0.7
    assert calibration.for_model("/x/m", "onnx-int8").lexical_weight == 0.3  # no record: the float one


def test_the_shipped_record_covers_every_question_kind() -> None:
    shipped = calibration.packaged(SHIPPED)
    assert shipped is not None
    assert all(shipped.threshold(kind) > 0 for kind in calibration.KINDS)
    assert shipped.lexical_weight > 0 and shipped.quote_margin > 0

"""The encoder: the real local model, its prompts, normalised float32 vectors, clear load errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from bot.cli.wording import explain
from embeddings.encoder import E5_PROMPTS, Encoder, model_identity, resolve_prompts
from embeddings.errors import ModelUnavailable
from tests.conftest import REPO


@pytest.fixture(scope="session")
def encoder(model_path: str) -> Encoder:
    """Return one encoder over the local model for the whole session."""
    return Encoder(model_path)


def test_vectors_are_normalised_float32(encoder: Encoder) -> None:
    vectors = encoder.encode_passages(["台湾今年的经济增长率预计为百分之三。", "The match ended 2-1."])
    assert vectors.dtype == np.float32
    assert vectors.shape == (2, encoder.dimension) == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_the_model_prompts_come_from_its_config(encoder: Encoder) -> None:
    assert encoder.prompts == {"query": "query: ", "passage": "passage: "}


def test_query_and_passage_prompts_give_different_vectors(encoder: Encoder) -> None:
    text = ["央行宣布降息"]
    assert not np.allclose(encoder.encode_queries(text), encoder.encode_passages(text))


def test_a_question_is_closest_to_the_passage_that_answers_it(encoder: Encoder) -> None:
    passages = encoder.encode_passages(
        ["中央银行周四宣布将基准利率下调0.25个百分点。", "台北今天下午出现大雷雨，气象局发布豪雨特报。"]
    )
    question = encoder.encode_queries(["央行把利率降了多少？"])[0]
    similarity = passages @ question
    assert similarity[0] > similarity[1]


def test_no_texts_give_an_empty_matrix(encoder: Encoder) -> None:
    assert encoder.encode_queries([]).shape == (0, 384)


def test_a_missing_directory_is_model_unavailable_naming_the_setting(tmp_path) -> None:
    with pytest.raises(ModelUnavailable, match="no-model") as caught:
        Encoder(str(tmp_path / "no-model")).encode_queries(["x"])
    assert "QUOTEBOT_" not in str(caught.value)  # the library names no setting; the CLI does
    assert "QUOTEBOT_MODEL" in explain(caught.value) and "local" in explain(caught.value)


def test_an_uncached_hub_id_offline_is_model_unavailable() -> None:
    with pytest.raises(ModelUnavailable) as caught:
        _ = Encoder("quotebot-tests/no-such-model-anywhere").dimension
    assert "QUOTEBOT_MODEL" in explain(caught.value)


def test_constructing_an_encoder_loads_nothing_heavy() -> None:
    code = (
        "import sys\nfrom embeddings.encoder import Encoder\nEncoder('x')\n"
        "print([m for m in ('torch', 'sentence_transformers') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("model", "configured", "overrides", "expected"),
    [
        ("m", {"query": "q: ", "document": "d: "}, (None, None), {"query": "q: ", "passage": "d: "}),
        ("m", {"query": "q: ", "passage": "p: "}, ("Q", "P"), {"query": "q: ", "passage": "p: "}),
        ("m", {}, ("Q: ", "P: "), {"query": "Q: ", "passage": "P: "}),
        ("intfloat/multilingual-e5-small", {}, (None, None), E5_PROMPTS),
        ("BAAI/bge-m3", {}, (None, None), {"query": "", "passage": ""}),
    ],
)
def test_prompts_prefer_the_model_then_overrides_then_known_defaults(
    model: str, configured: dict[str, str], overrides: tuple[str | None, str | None], expected: dict[str, str]
) -> None:
    assert resolve_prompts(model, configured, *overrides) == expected


def test_a_directory_model_is_identified_by_its_absolute_path(model_path: str) -> None:
    assert model_identity(model_path).startswith("/")
    assert model_identity("intfloat/multilingual-e5-small") == "intfloat/multilingual-e5-small"

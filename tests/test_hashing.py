"""The shipped test encoder: deterministic, normalised, the encoder contract, selectable from the CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from embeddings.hashing import HashingEncoder
from embeddings.local.generations import read_manifest

REPO = Path(__file__).resolve().parents[1]


def test_vectors_are_unit_float32_rows_and_equal_in_another_process() -> None:
    texts = ["台风海燕登陆福建", "The typhoon made landfall.", "C919"]
    vectors = HashingEncoder().encode_passages(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 256)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-6)
    code = (
        "import json, sys\nfrom embeddings.hashing import HashingEncoder\n"
        "print(json.dumps(HashingEncoder().encode_passages(json.loads(sys.argv[1])).tolist()))"
    )
    env = os.environ | {"PYTHONPATH": str(REPO), "PYTHONHASHSEED": "123"}
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(texts)], capture_output=True, text=True, check=True, env=env
    )
    np.testing.assert_array_equal(np.array(json.loads(out.stdout), dtype=np.float32), vectors)


def test_shared_ngrams_score_higher_than_unrelated_text_and_scripts_fold() -> None:
    encoder = HashingEncoder()
    passages = encoder.encode_passages(["台北捷運明年調漲票價", "中国女排夺得世界杯冠军"])
    question = encoder.encode_queries(["台北捷运票价"])[0]
    assert passages[0] @ question > passages[1] @ question + 0.2
    simplified, traditional = encoder.encode_queries(["台湾电价", "臺灣電價"])
    assert simplified @ traditional == pytest.approx(1.0)


def test_it_meets_the_encoder_contract_with_empty_inputs() -> None:
    encoder = HashingEncoder(64, batch_size=4)
    assert (encoder.dimension, encoder.batch_size, encoder.prompts) == (64, 4, {"query": "", "passage": ""})
    assert encoder.encode_queries([]).shape == (0, 64)
    assert not encoder.encode_passages(["   "]).any()  # nothing to hash: a zero row, not NaN
    assert encoder.model_id != HashingEncoder(128).model_id
    with pytest.raises(ValueError, match="at least 2"):
        HashingEncoder(1)


def test_quotebot_encoder_hashing_indexes_without_the_model(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.html").write_text(
        "<h2>标题</h2><div class='entry'><p>第一段正文内容。</p></div>", encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTEBOT_")}
    env |= {"PYTHONPATH": str(REPO), "QUOTEBOT_ENCODER": "hashing", "QUOTEBOT_MODEL": str(tmp_path / "none")}
    code = (
        "import sys\nfrom bot.cli import main\nrc = main(sys.argv[1:])\n"
        "print('torch' in sys.modules)\nsys.exit(rc)"
    )
    args = ["--index-dir", str(tmp_path / "index"), "index", str(corpus)]
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("False")  # no model was loaded
    assert read_manifest(tmp_path / "index").model == HashingEncoder().model_id

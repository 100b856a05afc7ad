"""The encoder: the real local model, its prompts, normalised float32 vectors, clear load errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import embeddings.encoder as encoder_module
import embeddings.openvino_encoder as openvino_encoder_module
from bot.cli.wording import explain
from bot.indexing import build_index, index_store, open_searcher
from embeddings.encoder import (
    E5_PROMPTS,
    THREADS,
    Encoder,
    model_identity,
    parse_encoder,
    resolve_prompts,
    serving_passage_threads,
    token_batches,
)
from embeddings.encoder_choice import Choice
from embeddings.errors import IndexMismatch, ModelUnavailable
from embeddings.manifest import manifest_from_json, mismatch, vector_family
from embeddings.onnx_encoder import exported_model
from embeddings.openvino_encoder import converted_model, runs_at_name
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


# ---------------------------------------------------------------- backends

PASSAGES = [
    "中央银行周四宣布将基准利率下调0.25个百分点，这是今年第二次降息。",
    "台北今天下午出现大雷雨，气象局发布豪雨特报。",
    "1998年1月由時任臺北市市長陳水扁主持動土儀式。",
    "The Tokyo Stock Exchange was founded in 1878.",
]


@pytest.fixture(scope="session")
def model_copy(model_path: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a copy of the model in tmp (conversion must never write into the shared model)."""
    copy = tmp_path_factory.mktemp("model") / "multilingual-e5-small-zh-en"
    shutil.copytree(model_path, copy)
    return copy


@pytest.fixture(scope="session")
def encoder_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the session's cache directory of converted models."""
    return tmp_path_factory.mktemp("encoders")


@pytest.fixture(scope="session")
def openvino_encoder(model_copy: Path, encoder_cache: Path) -> Encoder:
    """Return the OpenVINO encoder at the CPU's best float precision, converted once per session."""
    encoder = Encoder(str(model_copy), encoder="openvino", cache_dir=encoder_cache)
    assert encoder.dimension == 384
    return encoder


@pytest.fixture(scope="session")
def int8_encoder(model_copy: Path, encoder_cache: Path) -> Iterator[Encoder]:
    """Return the static int8 OpenVINO encoder, quantised once per session on 24 calibration texts."""
    saved = openvino_encoder_module.CALIBRATION_LIMIT
    openvino_encoder_module.CALIBRATION_LIMIT = 24  # the shipped 300 take minutes on 2 busy cores
    try:
        encoder = Encoder(str(model_copy), encoder="openvino-int8", cache_dir=encoder_cache)
        assert encoder.dimension == 384
    finally:
        openvino_encoder_module.CALIBRATION_LIMIT = saved
    yield encoder


def test_a_conversion_writes_nothing_on_stdout(
    model_copy: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openvino_encoder_module, "CALIBRATION_LIMIT", 4)  # progress bars all the same
    converted_model(str(model_copy), "stdout-check", "int8", tmp_path)
    out, err = capfd.readouterr()
    assert out == ""  # stdout carries --json/--jsonl answers
    assert "Statistics collection" in err  # nncf's progress still shows, on stderr


def test_openvino_vectors_match_torch(encoder: Encoder, openvino_encoder: Encoder) -> None:
    torch_vectors = encoder.encode_passages(PASSAGES)
    vectors = openvino_encoder.encode_passages(PASSAGES)
    assert vectors.dtype == np.float32 and vectors.shape == (4, 384)
    assert (vectors * torch_vectors).sum(axis=1).min() >= 0.999
    question = ["央行把利率降了多少？"]
    assert float(openvino_encoder.encode_queries(question)[0] @ encoder.encode_queries(question)[0]) >= 0.999
    assert openvino_encoder.precision in ("bf16", "fp32")
    assert openvino_encoder.prompts == encoder.prompts


def test_forced_fp32_runs_and_says_so(encoder: Encoder, model_copy: Path, encoder_cache: Path) -> None:
    fp32 = Encoder(str(model_copy), encoder="openvino-fp32", cache_dir=encoder_cache)
    assert fp32.precision == "fp32" and fp32.family == "float"  # what a CPU without bf16 runs at
    assert (fp32.encode_passages(PASSAGES) * encoder.encode_passages(PASSAGES)).sum(axis=1).min() >= 0.9999
    compiled = fp32._load()._compiled[THREADS["passage"], True]  # type: ignore[attr-defined]
    assert runs_at_name(str(compiled.get_property("INFERENCE_PRECISION_HINT"))) == "fp32"


def test_int8_vectors_stay_close_and_rank_alike(encoder: Encoder, int8_encoder: Encoder) -> None:
    vectors = int8_encoder.encode_passages(PASSAGES)
    assert int8_encoder.precision == "int8" and int8_encoder.family == "openvino-int8"
    # 24 Chinese calibration texts only (the shipped 300 give ~0.998); English moves most.
    assert (vectors * encoder.encode_passages(PASSAGES)).sum(axis=1).min() >= 0.98
    question = int8_encoder.encode_queries(["央行把利率降了多少？"])[0]
    assert int((vectors @ question).argmax()) == 0


def test_conversion_is_cached_and_never_writes_into_the_model(
    model_copy: Path, encoder_cache: Path, openvino_encoder: Encoder
) -> None:
    before = sorted((p.relative_to(model_copy), p.stat().st_mtime_ns) for p in model_copy.rglob("*"))
    directory = converted_model(str(model_copy), model_identity(str(model_copy)), "float", encoder_cache)
    meta = directory / "quotebot-encoder.json"
    stamp = meta.stat().st_mtime_ns
    again = Encoder(str(model_copy), encoder="openvino", cache_dir=encoder_cache)
    assert again.encode_queries(["x"]).shape == (1, 384)
    assert meta.stat().st_mtime_ns == stamp  # loaded from the cache, not converted again
    assert directory.parent == encoder_cache and "openvino-float" in directory.name
    assert sorted((p.relative_to(model_copy), p.stat().st_mtime_ns) for p in model_copy.rglob("*")) == before


def test_each_use_has_its_own_thread_budget(encoder: Encoder, openvino_encoder: Encoder) -> None:
    import torch

    mine = torch.get_num_threads()
    encoder.encode_queries(["一个问题"])
    encoder.encode_passages(PASSAGES)
    assert torch.get_num_threads() == mine  # the caller's torch setting is never touched
    loaded: Any = encoder._load()
    seen = {n: loaded._worker(n).submit(torch.get_num_threads).result() for n in (1, THREADS["passage"])}
    assert seen == {1: 1, THREADS["passage"]: THREADS["passage"]}
    openvino_encoder.encode_queries(["一个问题"])
    openvino_encoder.encode_passages(PASSAGES)
    compiled = openvino_encoder._load()._compiled  # type: ignore[attr-defined]
    assert {key: int(c.get_property("INFERENCE_NUM_THREADS")) for key, c in compiled.items()} == {
        (1, False): 1,
        (THREADS["passage"], True): THREADS["passage"],
    }


def test_a_serving_process_embeds_passages_on_a_core_of_their_own(
    model_copy: Path, encoder_cache: Path
) -> None:
    serving = Encoder(str(model_copy), encoder="openvino", cache_dir=encoder_cache, passage_threads=1)
    questions = serving.encode_queries(["一个问题"])
    passages = serving.encode_passages(PASSAGES)
    compiled = serving._load()._compiled  # type: ignore[attr-defined]
    # Questions and passages never share a stream, even both at one thread.
    assert {key: str(c.get_property("PERFORMANCE_HINT")) for key, c in compiled.items()} == {
        (1, False): "LATENCY",
        (1, True): "THROUGHPUT",
    }
    assert int(compiled[1, True].get_property("INFERENCE_NUM_THREADS")) == 1
    plain = Encoder(str(model_copy), encoder="openvino", cache_dir=encoder_cache)
    assert np.allclose(passages, plain.encode_passages(PASSAGES), atol=1e-3)
    assert np.allclose(questions, plain.encode_queries(["一个问题"]), atol=1e-3)
    assert serving_passage_threads() == max(1, THREADS["passage"] - 1)


def test_openvino_streams_return_each_vector_in_its_texts_row(
    openvino_encoder: Encoder, model_copy: Path, encoder_cache: Path
) -> None:
    texts = [f"{'央行宣布降低利率。' * (i % 7 + 1)}第{i}段。" for i in range(23)]
    streamed = Encoder(str(model_copy), encoder="openvino", cache_dir=encoder_cache, batch_size=4)
    vectors = streamed.encode_passages(texts)  # 12 batches of 2 shared by the streams, longest first
    compiled = streamed._load()._compiled[THREADS["passage"], True]  # type: ignore[attr-defined]
    assert int(compiled.get_property("NUM_STREAMS")) == THREADS["passage"]
    one_by_one = np.vstack([openvino_encoder.encode_sentences([t]) for t in texts])
    assert (vectors * one_by_one).sum(axis=1).min() >= 0.9999


def test_the_model_loads_once_when_questions_arrive_together(model_path: str) -> None:
    opened: list[int] = []

    class Counting(Encoder):
        def _open(self) -> Any:
            opened.append(1)
            return super()._open()

    fresh = Counting(model_path)
    with ThreadPoolExecutor(6) as pool:
        shapes = list(
            pool.map(lambda q: fresh.encode_queries([q]).shape, ["问题一", "问题二", "三", "四", "五", "六"])
        )
    assert opened == [1] and shapes == [(1, 384)] * 6


def test_an_unknown_encoder_names_the_choices() -> None:
    with pytest.raises(ValueError, match="openvino-int8"):
        Encoder("m", encoder="cuda")
    assert parse_encoder("OpenVINO-INT8") == ("openvino", "int8")


@pytest.mark.parametrize(
    ("built", "configured", "compatible"),
    [
        (("torch", "fp32"), ("openvino", "bf16"), True),
        (("openvino", "bf16"), ("openvino", "fp32"), True),
        (("torch", "fp32"), ("openvino", "int8"), False),
        (("openvino", "int8"), ("openvino", "bf16"), False),
        (("openvino", "int8"), ("openvino", "int8"), True),
    ],
)
def test_only_float_precisions_share_an_index(
    built: tuple[str, str], configured: tuple[str, str], compatible: bool
) -> None:
    assert (vector_family(*built) == vector_family(*configured)) is compatible


def test_a_changed_encoder_precision_is_detected_like_a_changed_model(
    model_path: str, encoder: Encoder, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    for rel in ("drcd/drcd-00145.html", "drcd/drcd-00114.html"):
        (corpus / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / "sample_corpus" / rel, corpus / rel)
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, encoder)
    manifest = index_store(index_dir).manifest()
    assert (manifest.encoder, manifest.precision) == ("torch", "fp32")
    # The generation describes the model's vectors (tests/test_store.py checks the layout on hashing).
    assert manifest.model == str(Path(model_path).resolve()) and manifest.dimension == 384
    assert manifest.prompts == {"query": "query: ", "passage": "passage: "}
    # Never converted: the check must refuse before any model is loaded.
    int8 = Encoder(model_path, encoder="openvino-int8", cache_dir=tmp_path / "never")
    with pytest.raises(IndexMismatch, match=r"torch fp32 encoder.*quotebot index --full") as refused:
        open_searcher(index_dir, int8)
    assert "QUOTEBOT_ENCODER=torch" in explain(refused.value)  # the CLI names the setting
    (corpus / "drcd" / "drcd-00114.html").unlink()
    with pytest.raises(IndexMismatch, match=r"incremental reindex would mix them.*--full"):
        build_index(corpus, index_dir, int8)
    assert not (tmp_path / "never").exists()
    assert build_index(corpus, index_dir, encoder).removed == 1  # the same family goes on incrementally


def test_an_old_manifest_without_encoder_fields_reads_as_torch_fp32() -> None:
    data = {
        "schema": 1,
        "model": "/m",
        "dimension": 384,
        "prompts": {},
        "articles": 0,
        "passages": 0,
        "created": "",
        "package_version": "0.1.0",
        "corpus_dir": "/c",
        "corpus_fingerprint": "",
        "dense_kind": "flat",
        "pages": {},
    }
    manifest = manifest_from_json(json.dumps(data))
    assert (manifest.encoder, manifest.precision) == ("torch", "fp32")
    assert "openvino int8" in mismatch(
        replace(manifest, encoder="openvino", precision="int8"), "/m", None, None, "float"
    )


# ---------------------------------------------------------------- token budget


@given(st.lists(st.integers(1, 600), max_size=60), st.integers(16, 5000), st.integers(1, 40))
def test_token_batches_stay_within_the_budget_and_hold_every_text_once(
    lengths: list[int], budget: int, most: int
) -> None:
    batches = token_batches(lengths, budget, most)
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    for batch in batches:
        sizes = [lengths[i] for i in batch]
        assert sizes == sorted(sizes, reverse=True)  # longest first: the first sets the padding
        assert len(batch) <= most
        assert len(batch) == 1 or len(batch) * sizes[0] <= budget  # only a text alone may exceed it


def test_a_token_budget_batches_passages_yet_keeps_their_order_and_vectors(
    encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [f"{'央行宣布降低利率。' * (i % 7 + 1)}第{i}段。" for i in range(13)]
    one_by_one = np.vstack([encoder.encode_passages([t]) for t in texts])
    loaded = encoder._load()
    padded: list[int] = []
    embed = loaded.embed

    def recording(batch: Any, threads: int, batch_size: int, *, bulk: bool) -> np.ndarray:
        padded.append(len(batch) * max(loaded.token_counts(batch)))
        return embed(batch, threads, batch_size, bulk=bulk)

    monkeypatch.setattr(loaded, "embed", recording)
    monkeypatch.setattr(encoder, "token_budget", 96)
    vectors = encoder.encode_passages(texts)
    assert len(padded) > 1 and max(padded) <= 96  # 13 texts of 12 to 66 tokens: several batches
    assert (vectors * one_by_one).sum(axis=1).min() >= 0.9999  # each row is its own text's vector


# ---------------------------------------------------------------- ONNX Runtime


@pytest.fixture(scope="session")
def onnx_int8_encoder(model_copy: Path, encoder_cache: Path) -> Encoder:
    """Return the dynamic int8 ONNX Runtime encoder, exported once per session."""
    encoder = Encoder(str(model_copy), encoder="onnx-int8", cache_dir=encoder_cache)
    assert encoder.dimension == 384
    return encoder


def test_onnx_int8_vectors_match_torch(encoder: Encoder, onnx_int8_encoder: Encoder) -> None:
    vectors = onnx_int8_encoder.encode_passages(PASSAGES)
    assert onnx_int8_encoder.precision == "int8" and onnx_int8_encoder.family == "onnx-int8"
    assert vectors.dtype == np.float32 and vectors.shape == (4, 384)
    assert (vectors * encoder.encode_passages(PASSAGES)).sum(axis=1).min() > 0.99
    question = onnx_int8_encoder.encode_queries(["央行把利率降了多少？"])
    assert float(question[0] @ encoder.encode_queries(["央行把利率降了多少？"])[0]) > 0.99
    assert int((vectors @ question[0]).argmax()) == 0
    assert onnx_int8_encoder.prompts == encoder.prompts


def test_the_onnx_export_is_cached_and_never_writes_into_the_model(
    model_copy: Path, encoder_cache: Path, onnx_int8_encoder: Encoder
) -> None:
    before = sorted((p.relative_to(model_copy), p.stat().st_mtime_ns) for p in model_copy.rglob("*"))
    directory = exported_model(str(model_copy), model_identity(str(model_copy)), "int8", encoder_cache)
    stamp = (directory / "quotebot-encoder.json").stat().st_mtime_ns
    again = Encoder(str(model_copy), encoder="onnx-int8", cache_dir=encoder_cache)
    assert again.encode_queries(["x"]).shape == (1, 384)
    assert (directory / "quotebot-encoder.json").stat().st_mtime_ns == stamp  # not exported again
    assert directory.parent == encoder_cache and "-onnx-int8-" in directory.name
    assert sorted(p.name for p in directory.iterdir()) == ["model.onnx", "quotebot-encoder.json", "tokenizer"]
    assert sorted((p.relative_to(model_copy), p.stat().st_mtime_ns) for p in model_copy.rglob("*")) == before


# ---------------------------------------------------------------- auto


def test_auto_serves_and_updates_an_index_built_with_another_encoder(
    model_path: str, encoder: Encoder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    for rel in ("drcd/drcd-00145.html", "drcd/drcd-00114.html"):
        (corpus / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REPO / "sample_corpus" / rel, corpus / rel)
    index_dir = tmp_path / "index"
    build_index(corpus, index_dir, encoder)  # torch: what another CPU chose
    # This CPU would build a new index with ONNX int8, whose vectors do not join torch's.
    monkeypatch.setattr(encoder_module, "cpu_choice", lambda: Choice("onnx-int8", "test"))
    auto = Encoder(model_path, encoder="auto", cache_dir=tmp_path / "never")
    searcher = open_searcher(index_dir, auto, min_score=-1e9)
    assert searcher.search("动土仪式由谁主持？").hits  # served without a rebuild
    (corpus / "drcd" / "drcd-00114.html").unlink()
    assert build_index(corpus, index_dir, auto).removed == 1  # updated in the index's own family
    assert index_store(index_dir).manifest().encoder == "torch"
    assert not (tmp_path / "never").exists()  # nothing exported: the CPU's choice was never needed

"""The calibration record: parsing, which record a build stores, and which one a generation ranks with."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import TEST_ENCODER
from bot.indexing import build_index, open_searcher, rollback_index
from embeddings import calibration
from embeddings.errors import BadCalibration
from embeddings.hashing import HashingEncoder
from embeddings.local.generations import CURRENT, MANIFEST, read_manifest
from embeddings.manifest import manifest_from_json, manifest_to_json
from tests.bot_support import QUESTION, QUESTION_DOC, copy_pages
from tests.qdrant_support import RecordingEncoder
from tests.test_render import sent

SHIPPED = "multilingual-e5-small-zh-en"
HASHING = HashingEncoder().model_id
HASHING_RECORD = calibration.record_name(HASHING)


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
    assert calibration.for_model("/elsewhere/other-model") == calibration.defaults("/elsewhere/other-model")


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


def test_the_shipped_records_name_the_weights_they_were_measured_with() -> None:
    for name in (calibration.record_name(SHIPPED), calibration.record_name(SHIPPED, "openvino-int8")):
        shipped = calibration.read_record(calibration.PACKAGED / name)
        assert len(shipped.model_sha256) == 64 and shipped.model == SHIPPED


# ---------------------------------------------------------------- stored with each generation


@pytest.fixture
def packaged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Return a private copy of the packaged records, the one calibration.PACKAGED then names."""
    target = tmp_path / "packaged"
    shutil.copytree(calibration.PACKAGED, target)
    monkeypatch.setattr(calibration, "PACKAGED", target)
    return target


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Return a corpus of a few sample pages; the hashing encoder answers QUESTION from it."""
    return copy_pages(tmp_path / "corpus")


def rewrite(path: Path, **changes: object) -> None:
    """Change fields of the record in a JSON file."""
    path.write_text(json.dumps(json.loads(path.read_text(encoding="utf-8")) | changes), encoding="utf-8")


UNREACHABLE = {"simplified": 9.0, "traditional": 9.0, "cross-lingual": 9.0}


def test_a_build_stores_the_record_it_ranks_with(packaged: Path, corpus: Path, tmp_path: Path) -> None:
    build_index(corpus, tmp_path / "index", HashingEncoder())
    stored = read_manifest(tmp_path / "index").calibration
    assert stored == calibration.as_dict(calibration.read_record(packaged / HASHING_RECORD))
    assert stored is not None and stored["lexical_weight"] == 0.5
    assert open_searcher(tmp_path / "index", HashingEncoder()).calibration.threshold("traditional") == 0.35


def test_a_model_without_a_record_stores_the_defaults(packaged: Path, corpus: Path, tmp_path: Path) -> None:
    wider = HashingEncoder(128)  # another model id: no record of its own
    build_index(corpus, tmp_path / "index", wider)
    stored = read_manifest(tmp_path / "index").calibration
    assert stored == calibration.as_dict(calibration.defaults(wider.model_id))
    assert stored is not None and stored["measured"] == calibration.DEFAULTS
    assert open_searcher(tmp_path / "index", wider).stats.calibrated is False


def test_a_new_record_ranks_an_index_only_once_a_reindex_stores_it(
    packaged: Path, corpus: Path, tmp_path: Path
) -> None:
    index, encoder = tmp_path / "index", RecordingEncoder()
    build_index(corpus, index, encoder)
    first = os.readlink(index / CURRENT)
    assert open_searcher(index, encoder).search(QUESTION).hits[0].doc == QUESTION_DOC

    rewrite(packaged / HASHING_RECORD, min_relevance=UNREACHABLE, measured="refuses everything")
    opened = open_searcher(index, encoder)
    assert opened.search(QUESTION).answered and opened.calibration.threshold("simplified") == 0.35

    encoder.encoded.clear()
    report = build_index(corpus, index, encoder)  # no page changed, only the record
    assert (report.added, report.updated, report.removed) == (0, 0, 0) and encoder.encoded == []
    assert report.recalibrated == calibration.read_record(packaged / HASHING_RECORD).model
    assert os.readlink(index / CURRENT) != first
    after = open_searcher(index, encoder)
    assert not after.search(QUESTION).answered and after.calibration.measured == "refuses everything"
    assert after.stats.passages == opened.stats.passages

    second = os.readlink(index / CURRENT)
    assert build_index(corpus, index, encoder).recalibrated == ""  # the same record: nothing to commit
    assert os.readlink(index / CURRENT) == second

    rollback_index(index, encoder)  # the previous generation ranks with its own record
    assert os.readlink(index / CURRENT) == first
    assert open_searcher(index, encoder).search(QUESTION).answered


def test_an_index_built_before_records_were_stored_ranks_with_its_models_record(
    packaged: Path, corpus: Path, tmp_path: Path
) -> None:
    build_index(corpus, tmp_path / "index", HashingEncoder())
    path = tmp_path / "index" / CURRENT / MANIFEST
    data = json.loads(path.read_text(encoding="utf-8"))
    del data["calibration"]
    path.write_text(json.dumps(data), encoding="utf-8")
    assert read_manifest(tmp_path / "index").calibration is None

    searcher = open_searcher(tmp_path / "index", HashingEncoder())
    assert searcher.calibration == calibration.for_model(HASHING) and searcher.search(QUESTION).answered
    rewrite(packaged / HASHING_RECORD, min_relevance=UNREACHABLE)  # today's lookup: the packaged one
    assert not open_searcher(tmp_path / "index", HashingEncoder()).search(QUESTION).answered


def test_a_stored_record_survives_the_manifests_json(packaged: Path, corpus: Path, tmp_path: Path) -> None:
    build_index(corpus, tmp_path / "index", HashingEncoder())
    manifest = read_manifest(tmp_path / "index")
    again = manifest_from_json(manifest_to_json(manifest))
    assert again.calibration == manifest.calibration and again.calibration is not None
    broken = json.loads(manifest_to_json(manifest)) | {"calibration": [0.5]}
    with pytest.raises(TypeError, match="not an object"):
        manifest_from_json(json.dumps(broken))


# ---------------------------------------------------------------- QUOTEBOT_CALIBRATION


def cli_index(capsys: pytest.CaptureFixture[str], corpus: Path, index: Path) -> tuple[int, str]:
    """Run `quotebot index` on the hashing encoder in this process; return (exit code, stderr)."""
    code = main(["--corpus-dir", str(corpus), "--index-dir", str(index), "index"])
    return code, capsys.readouterr().err


def test_the_configured_record_is_stored_instead_of_the_packaged_one(
    packaged: Path, corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.setenv("QUOTEBOT_ENCODER", TEST_ENCODER)
    own = tmp_path / "own.json"
    own.write_text(record(model="tuned-by-hand", measured="by hand for this deployment"), encoding="utf-8")
    monkeypatch.setenv("QUOTEBOT_CALIBRATION", str(own))
    index_args = ["--corpus-dir", str(corpus), "--index-dir", str(tmp_path / "index"), "index"]
    assert main(index_args) == 0
    assert "added 4," in (first := capsys.readouterr().out)
    assert "ranking constants changed" not in first  # a new index replaces no record
    stored = read_manifest(tmp_path / "index").calibration
    assert stored == calibration.as_dict(calibration.read_record(own))
    assert open_searcher(tmp_path / "index", HashingEncoder()).calibration.lexical_weight == 0.4

    monkeypatch.delenv("QUOTEBOT_CALIBRATION")  # back to the packaged record, at the next reindex
    assert main(index_args) == 0
    packaged_record = calibration.for_encoder(HASHING)
    assert read_manifest(tmp_path / "index").calibration == calibration.as_dict(packaged_record)
    out = capsys.readouterr().out
    assert f"  ranking constants changed: now those recorded for {packaged_record.model}" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is malformed"),
        ('{"min_relevance": {}}', "no threshold for simplified"),
        (None, "cannot read"),
    ],
)
def test_a_bad_configured_record_is_refused_before_any_work(
    corpus: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    message: str,
) -> None:
    monkeypatch.setenv("QUOTEBOT_ENCODER", TEST_ENCODER)
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content, encoding="utf-8")
    monkeypatch.setenv("QUOTEBOT_CALIBRATION", str(bad))
    code, err = cli_index(capsys, corpus, tmp_path / "index")
    assert code == 2 and "QUOTEBOT_CALIBRATION" in err and message in err and str(bad) in err
    assert not (tmp_path / "index").exists()
    with pytest.raises(BadCalibration, match=message):
        calibration.for_encoder(HASHING, override=bad)


# ---------------------------------------------------------------- found by the weights' digest


def fake_model(directory: Path, weights: bytes, name: str = "model.safetensors") -> str:
    """Write a model directory whose weights file holds these bytes; return its path."""
    directory.mkdir(parents=True)
    (directory / name).write_bytes(weights)
    (directory / "config.json").write_text("{}", encoding="utf-8")
    return str(directory)


def test_a_copy_of_a_model_under_another_name_finds_its_record_by_its_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calibration, "PACKAGED", tmp_path / "packaged")
    calibration.PACKAGED.mkdir()
    weights = os.urandom(4096)
    digest = hashlib.sha256(weights).hexdigest()
    for name, weight in (("tiny-model.json", 0.6), ("tiny-model.openvino-int8.json", 0.65)):
        text = record(model="tiny-model", lexical_weight=weight, model_sha256=digest)
        (calibration.PACKAGED / name).write_text(text, encoding="utf-8")
    copy = fake_model(tmp_path / "opt" / "quotebot" / "model", weights)
    assert calibration.for_encoder(copy).lexical_weight == 0.6
    assert calibration.for_encoder(copy).model == "tiny-model"
    assert calibration.for_encoder(copy, "openvino-int8").lexical_weight == 0.65
    assert calibration.for_model(copy) == calibration.defaults(copy)  # by name, as before: not found
    bin_copy = fake_model(tmp_path / "other", weights, "pytorch_model.bin")
    assert calibration.for_encoder(bin_copy).lexical_weight == 0.6
    # Other weights under the record's name are not what it was measured with.
    retrained = fake_model(tmp_path / "tiny-model", weights + b"x")
    assert calibration.for_encoder(retrained) == calibration.defaults(retrained)


def test_the_weights_digest_is_computed_once_per_file_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = fake_model(tmp_path / "m", b"first weights")
    calls = []
    real = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda f, d: calls.append(1) or real(f, d))
    first = calibration.weights_digest(model)
    assert calibration.weights_digest(model) == first == hashlib.sha256(b"first weights").hexdigest()
    assert len(calls) == 1
    (tmp_path / "m" / "model.safetensors").write_bytes(b"other weights, longer")
    assert calibration.weights_digest(model) == hashlib.sha256(b"other weights, longer").hexdigest()
    assert len(calls) == 2
    assert calibration.weights_digest(str(tmp_path / "no-such-model")) is None


def test_status_says_which_record_ranks_the_index(packaged: Path, corpus: Path, tmp_path: Path) -> None:
    from bot.render.admin import render_status
    from bot.status import Status

    build_index(corpus, tmp_path / "index", HashingEncoder())
    lines = sent(render_status(Status(stats=open_searcher(tmp_path / "index", HashingEncoder()).stats), "en"))
    assert f"Ranking constants: measured for {HASHING}" in lines.splitlines()
    build_index(corpus, tmp_path / "wider", HashingEncoder(128))
    wider = open_searcher(tmp_path / "wider", HashingEncoder(128)).stats
    shown = sent(render_status(Status(stats=wider), "zh-hans")).splitlines()
    assert "排序常数：默认值（hashing-char-ngrams-1-2-3-d128 没有测定记录）" in shown

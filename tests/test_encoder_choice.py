"""The encoder a new index is built with: the fastest measured within 0.3 point of torch, per ISA class."""

from __future__ import annotations

from typing import Any

import pytest

from embeddings import encoder as encoder_module
from embeddings.cpu import Cpu
from embeddings.encoder import ENCODERS, Encoder, check_setting, cpu_choice
from embeddings.encoder_choice import FALLBACK, choose, eligible, shipped_table

TABLE: dict[str, Any] = {
    "rows": {
        "avx2": {
            "cpu": "AMD EPYC (Zen 3)",
            "variants": {
                "torch": {"speed": 1.0, "eval": 0.0, "eval_news": 0.0},
                "onnx-int8": {"speed": 2.4, "eval": -0.2, "eval_news": 0.1},
                "openvino-int8": {"speed": 3.0, "eval": -0.1, "eval_news": -0.5},  # too far on news
                "onnx": {"speed": 1.3, "eval": 0.0, "eval_news": 0.0},
                "fast-unjudged": {"speed": 9.0},  # no quality figure: never chosen
            },
        }
    }
}


def test_the_fastest_variant_within_the_quality_bound_is_chosen() -> None:
    assert set(eligible(TABLE["rows"]["avx2"]["variants"])) == {"torch", "onnx-int8", "onnx"}
    choice = choose("avx2", TABLE)
    assert choice.setting == "onnx-int8"
    assert "2.40x torch" in choice.reason and "avx2" in choice.reason


def test_a_class_without_a_row_takes_its_fallback_or_the_row_below_it() -> None:
    assert choose("avx512-vnni", TABLE).setting == FALLBACK["avx512-vnni"][0]
    assert "no measurement shipped for avx512-vnni" in choose("avx512-vnni", TABLE).reason
    below = choose("avx512", TABLE)  # an AVX-512 CPU without VNNI runs what AVX2 CPUs measured
    assert below.setting == "onnx-int8" and "none shipped for avx512" in below.reason
    assert choose("baseline", TABLE).setting == "torch"


def test_no_eligible_variant_means_torch() -> None:
    table = {"rows": {"avx2": {"variants": {"onnx-int8": {"speed": 2.0, "eval": -1.0, "eval_news": 0.0}}}}}
    assert choose("avx2", table).setting == "torch"


def test_the_shipped_table_names_only_known_encoders_and_says_how_each_row_was_measured() -> None:
    table = shipped_table()
    assert table["rows"], "at least the class measured for this release"
    for isa, row in table["rows"].items():
        assert row["cpu"] and row["speed_command"] and row["quality_command"], isa
        assert set(row["variants"]) <= set(ENCODERS), isa
        assert choose(isa, table).setting in ENCODERS


@pytest.mark.parametrize("isa", ["amx", "avx512-vnni", "avx512", "avx2", "baseline"])
def test_every_cpu_gets_a_concrete_encoder(isa: str, monkeypatch: pytest.MonkeyPatch) -> None:
    flags = {
        "amx": {"amx_tile", "amx_int8", "avx512f", "avx512_vnni"},
        "avx512-vnni": {"avx512f", "avx512_vnni"},
    }
    flags |= {"avx512": {"avx512f"}, "avx2": {"avx2"}, "baseline": set()}
    monkeypatch.setattr(encoder_module, "this_cpu", lambda: Cpu("test", frozenset(flags[isa])))
    assert cpu_choice().setting in ENCODERS
    assert Encoder("m", encoder="auto").concrete == cpu_choice().setting


def test_auto_is_a_setting_but_not_an_encoder_of_its_own() -> None:
    assert check_setting(" AUTO ") == "auto"
    with pytest.raises(ValueError, match="auto, torch"):
        check_setting("fastest")


def choosing(monkeypatch: pytest.MonkeyPatch, setting: str) -> None:
    """Make this machine's CPU choose setting for a new index."""
    monkeypatch.setattr(encoder_module, "cpu_choice", lambda: encoder_module.Choice(setting, "test"))


def test_auto_builds_a_new_index_with_the_cpu_choice_and_logs_it(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    choosing(monkeypatch, "onnx-int8")
    auto = Encoder("m", encoder="auto")
    with caplog.at_level("INFO", logger="embeddings.encoder"):
        built = auto.for_new_index()
    assert built.concrete == "onnx-int8" and built.family == "onnx-int8"
    assert [r.getMessage() for r in caplog.records] == ["encoder onnx-int8 for the new index: test"]


def test_auto_serves_an_index_with_the_index_own_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    choosing(monkeypatch, "torch")
    auto = Encoder("m", encoder="auto")
    serving = auto.for_index("openvino-int8")  # built on another CPU: no rebuild, its family
    assert serving.concrete == "openvino-int8" and serving.family == "openvino-int8"
    assert auto.for_index("openvino-int8") is serving  # made once, its model loaded once
    assert auto.for_index("torch") is auto
    assert auto.for_index("an-encoder-of-a-later-release") is auto  # the mismatch check then explains


def test_auto_queries_a_float_index_with_its_own_float_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    choosing(monkeypatch, "openvino-fp32")
    auto = Encoder("m", encoder="auto")
    assert auto.concrete == "openvino-fp32" and auto.family == "float"
    # torch, OpenVINO and ONNX float vectors share an index: no second model is loaded for it.
    assert auto.for_index("torch") is auto and auto.for_index("openvino") is auto
    assert auto.for_new_index() is auto


def test_a_configured_encoder_overrides_the_cpu_and_the_index(monkeypatch: pytest.MonkeyPatch) -> None:
    choosing(monkeypatch, "onnx-int8")
    fixed = Encoder("m", encoder="torch")
    assert fixed.for_new_index() is fixed and fixed.for_index("openvino-int8") is fixed

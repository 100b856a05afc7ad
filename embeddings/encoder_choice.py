"""Which encoder a new index is built with on this CPU: the fastest measured within 0.3 point of torch."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from embeddings.cpu import CLASSES

AUTO = "auto"
REFERENCE = "torch"
# The rule of issue 8 and 20: no more than 0.3 point of ans@1 below torch on either eval set.
MAX_LOSS = 0.3
# Measurements shipped with the package: ISA class -> speed and quality of each variant measured there.
SPEEDS = "encoder_speeds.json"
# Classes with no shipped row whose best variant is known from earlier releases: issue 8 chose
# openvino-int8 on an AVX-512-VNNI CPU (3.3x torch, ans@1 0.871 vs 0.872), and AMX runs the same int8
# kernels faster. Other classes without a row take the row of the nearest class below them.
FALLBACK = {
    "amx": (
        "openvino-int8",
        "issue 8's choice on AVX-512-VNNI (3.3x torch there), whose int8 kernels AMX has",
    ),
    "avx512-vnni": ("openvino-int8", "issue 8's choice measured on an AVX-512-VNNI CPU (3.3x torch)"),
}


@dataclass(frozen=True)
class Choice:
    """The encoder setting chosen for a new index and why, in words for the log."""

    setting: str
    reason: str


def shipped_table() -> dict[str, Any]:
    """Return the measurements shipped with the package (encoder_speeds.json)."""
    text = resources.files("embeddings").joinpath(SPEEDS).read_text(encoding="utf-8")
    table: dict[str, Any] = json.loads(text)
    return table


def eligible(variants: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """Return the speed (x torch) of each variant within MAX_LOSS of torch's ans@1 on both eval sets."""
    return {
        name: float(row["speed"])
        for name, row in variants.items()
        if row.get("eval") is not None
        and row.get("eval_news") is not None
        and min(float(row["eval"]), float(row["eval_news"])) >= -MAX_LOSS
    }


def choose(isa: str, table: Mapping[str, Any]) -> Choice:
    """Return the encoder for a new index on a CPU of this ISA class, from the table's rows."""
    rows: Mapping[str, Any] = table.get("rows", {})
    if isa in rows:
        return _from_row(isa, rows[isa], f"{isa} CPUs")
    if isa in FALLBACK:
        setting, why = FALLBACK[isa]
        return Choice(setting, f"no measurement shipped for {isa} CPUs; {why}")
    names = [name for name, _ in CLASSES]
    below = names[names.index(isa) + 1 :] if isa in names else []
    for lower in below:
        if lower in rows:
            return _from_row(
                lower, rows[lower], f"{lower} CPUs (none shipped for {isa}, whose instructions it has)"
            )
    return Choice(REFERENCE, f"no measurement shipped for {isa} CPUs: the reference encoder")


def _from_row(isa: str, row: Mapping[str, Any], where: str) -> Choice:
    """Return the fastest eligible variant of one measured row, with its figures as the reason."""
    speeds = eligible(row["variants"])
    if not speeds:
        return Choice(REFERENCE, f"no variant measured on {where} stays within {MAX_LOSS} point of torch")
    best = max(speeds, key=lambda name: speeds[name])
    figures = row["variants"][best]
    loss = f"{float(figures['eval']):+.1f} / {float(figures['eval_news']):+.1f}"
    return Choice(
        best,
        f"fastest within {MAX_LOSS} point of torch measured on {where} ({row.get('cpu', isa)}): "
        f"{figures['speed']:.2f}x torch, ans@1 {loss} points on eval / eval-news",
    )

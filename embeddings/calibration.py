"""Ranking constants measured for one model's vectors (bench/quality.py --calibrate), shipped per model."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

log = logging.getLogger(__name__)

# Records shipped with the package, one per model directory name and quantised vector family:
# <name>.json (float vectors), <name>.<family>.json (e.g. openvino-int8, whose scores sit higher).
PACKAGED = Path(__file__).with_name("calibration")
KINDS = ("simplified", "traditional", "cross-lingual")


@dataclass(frozen=True)
class Calibration:
    """Fusion weights, quote margin and per-kind abstention thresholds for one model's scores."""

    model: str = ""
    lexical_weight: float = 0.3  # relevance = cosine + lexical_weight * BM25 coverage + ...
    page_weight: float = 0.0  # ... + page_weight * BM25 coverage of the passage's whole article
    caption_penalty: float = 0.05
    quote_margin: float = 0.08  # later quotes within this of the best one are shown
    # Below this best relevance the question is refused, per question kind (see rank.question_kind).
    min_relevance: Any = field(
        default_factory=lambda: MappingProxyType(
            {"simplified": 0.92, "traditional": 0.92, "cross-lingual": 0.74}
        )
    )
    measured: str = ""  # how and on what the record was measured

    def threshold(self, kind: str) -> float:
        """Return the abstention threshold for a question kind."""
        return float(self.min_relevance[kind])


def from_json(text: str) -> Calibration:
    """Parse a record; raises ValueError when it is malformed or lacks a question kind."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("min_relevance"), dict):
        raise ValueError("a calibration record is an object with a min_relevance object")
    missing = [k for k in KINDS if k not in data["min_relevance"]]
    if missing:
        raise ValueError(f"the calibration record has no threshold for {', '.join(missing)}")
    known = {k: v for k, v in data.items() if k in Calibration.__dataclass_fields__}
    known["min_relevance"] = MappingProxyType({k: float(v) for k, v in data["min_relevance"].items()})
    return Calibration(**known)


def as_dict(calibration: Calibration) -> dict[str, Any]:
    """Return the record's fields as plain data."""
    data = {f.name: getattr(calibration, f.name) for f in fields(calibration)}
    return data | {"min_relevance": dict(calibration.min_relevance)}


def to_json(calibration: Calibration) -> str:
    """Serialise a record."""
    return json.dumps(as_dict(calibration), ensure_ascii=False, indent=1) + "\n"


def record_name(model: str, family: str = "float") -> str:
    """Return the file name of a model's record: <name>.json for float vectors, else <name>.<family>.json."""
    name = Path(model).name
    return f"{name}.json" if family == "float" else f"{name}.{family}.json"


def packaged(model: str, family: str = "float") -> Calibration | None:
    """Return the record shipped for a model's vectors (a quantised family falls back to the float one)."""
    for name in dict.fromkeys((record_name(model, family), record_name(model))):
        path = PACKAGED / name
        if path.is_file():
            return replace_model(from_json(path.read_text(encoding="utf-8")), model)
    return None


def replace_model(calibration: Calibration, model: str) -> Calibration:
    """Return the record marked as belonging to model."""
    return replace(calibration, model=model)


def for_model(model: str, family: str = "float") -> Calibration:
    """Return the record shipped for model and vector family (embeddings.manifest), else the defaults."""
    record = packaged(model, family)
    if record is None:
        log.warning("no calibration for model %s: default ranking constants", model)
        return Calibration(model=model)
    return record

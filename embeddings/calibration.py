"""Ranking constants measured for one model's vectors (bench/quality.py --calibrate), stored with each index.

A build resolves the record once (for_encoder) and stores it in the generation's manifest: an index
ranks with the record it was built with until a reindex stores another one.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from embeddings.errors import BadCalibration

log = logging.getLogger(__name__)

# Records shipped with the package, one per model and quantised vector family: <name>.json (float
# vectors), <name>.<family>.json (e.g. openvino-int8, whose scores sit higher).
PACKAGED = Path(__file__).with_name("calibration")
KINDS = ("simplified", "traditional", "cross-lingual")
# The file whose sha256 identifies a model directory's weights: the first of these it has.
WEIGHTS = ("model.safetensors", "pytorch_model.bin")
DEFAULTS = "defaults: no calibration record for this model"
ABSTAIN_ON = ("verifier", "combined", "relevance")
_NUMBERS = ("lexical_weight", "page_weight", "caption_penalty", "quote_margin")


@dataclass(frozen=True)
class Verification:
    """How the answer verifier's score enters ranking and abstention, measured for one reranker."""

    reranker: str  # the reranker's directory name
    sha256: str  # sha256 of its weights: another reranker does not use these constants
    depth: int = 10  # the first candidates (by relevance) it reads
    weight: float = 1.0  # their score becomes relevance + weight * sigmoid(logit)
    quote_margin: float = 0.08  # later quotes within this of the best (combined) score are shown
    # What refuses a question, per kind it verifies: with abstain_on "verifier", the best probability
    # the verifier gives any candidate below min_score; with "combined", the best combined score below
    # the vector family's relevance threshold plus min_score (so one record serves every family); with
    # "relevance", the best relevance below its threshold, as without a verifier (min_score unused).
    abstain_on: str = "verifier"
    min_score: Any = field(default_factory=lambda: MappingProxyType({}))
    measured: str = ""


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
    model_sha256: str = ""  # sha256 of the weights file (WEIGHTS) it was measured with; "": match by name
    verification: Verification | None = None  # the shipped reranker's constants (None: no verifier)

    def threshold(self, kind: str) -> float:
        """Return the abstention threshold for a question kind."""
        return float(self.min_relevance[kind])

    @property
    def is_default(self) -> bool:
        """Return whether these are the default constants, measured on nothing."""
        return not self.measured or self.measured.startswith("defaults")


def from_dict(data: Any) -> Calibration:
    """Return the record in plain data; raises ValueError or TypeError when it is malformed."""
    if not isinstance(data, Mapping) or not isinstance(data.get("min_relevance"), Mapping):
        raise ValueError("a calibration record is an object with a min_relevance object")
    missing = [k for k in KINDS if k not in data["min_relevance"]]
    if missing:
        raise ValueError(f"the calibration record has no threshold for {', '.join(missing)}")
    known = {k: v for k, v in data.items() if k in Calibration.__dataclass_fields__}
    known |= {k: float(known[k]) for k in _NUMBERS if k in known}
    known |= {k: str(known[k]) for k in ("model", "measured", "model_sha256") if k in known}
    known["min_relevance"] = MappingProxyType({k: float(v) for k, v in data["min_relevance"].items()})
    known["verification"] = _verification(data.get("verification"))
    return Calibration(**known)


def _verification(data: Any) -> Verification | None:
    """Return the verifier's constants in plain data (None when absent); ValueError when malformed."""
    if data is None:
        return None
    if not isinstance(data, Mapping) or not isinstance(data.get("min_score"), Mapping):
        raise ValueError("a verification record is an object with a min_score object")
    if data.get("abstain_on", "verifier") not in ABSTAIN_ON:
        raise ValueError(f"verification abstain_on must be one of {', '.join(ABSTAIN_ON)}")
    # Fields the record leaves out take Verification's defaults; those it has are converted.
    casts = {"reranker": str, "sha256": str, "depth": int, "weight": float, "quote_margin": float}
    casts |= {"abstain_on": str, "measured": str}
    given = {k: cast(data[k]) for k, cast in casts.items() if k in data}
    min_score = MappingProxyType({str(k): float(v) for k, v in data["min_score"].items()})
    return Verification(**given, min_score=min_score)


def from_json(text: str) -> Calibration:
    """Parse a record; raises ValueError when it is malformed or lacks a question kind."""
    return from_dict(json.loads(text))


def read_record(path: Path) -> Calibration:
    """Return the record in a JSON file; raises BadCalibration naming the file and what is wrong."""
    try:
        return from_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise BadCalibration(f"cannot read the calibration record {path}: {exc.strerror or exc}") from exc
    except (TypeError, ValueError) as exc:
        raise BadCalibration(f"the calibration record {path} is malformed: {exc}") from exc


def as_dict(calibration: Calibration) -> dict[str, Any]:
    """Return the record's fields as plain data."""
    data = {f.name: getattr(calibration, f.name) for f in fields(calibration)}
    verification = calibration.verification
    return data | {
        "min_relevance": dict(calibration.min_relevance),
        "verification": None
        if verification is None
        else {f.name: getattr(verification, f.name) for f in fields(verification)}
        | {"min_score": dict(verification.min_score)},
    }


def to_json(calibration: Calibration) -> str:
    """Serialise a record."""
    return json.dumps(as_dict(calibration), ensure_ascii=False, indent=1) + "\n"


def defaults(model: str) -> Calibration:
    """Return the default constants, marked as belonging to model and as measured on nothing."""
    return Calibration(model=model, measured=DEFAULTS)


def record_name(model: str, family: str = "float") -> str:
    """Return the file name of a model's record: <name>.json for float vectors, else <name>.<family>.json."""
    name = Path(model).name
    return f"{name}.json" if family == "float" else f"{name}.{family}.json"


def weights_digest(model: str) -> str | None:
    """Return the sha256 of a model directory's weights file, or None (a hub id, no weights file)."""
    for name in WEIGHTS:
        path = Path(model) / name
        if path.is_file():
            stat = path.stat()
            return _file_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    return None


@functools.cache
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    """Return a file's sha256, computed once per process for each path, size and modification time."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def _records() -> Iterator[tuple[str, Calibration]]:
    """Yield each packaged record with its file name."""
    for path in sorted(PACKAGED.glob("*.json")):
        yield path.name, read_record(path)


def _by_digest(digest: str, family: str) -> Calibration | None:
    """Return the packaged record measured with these weights, for family (else the float one)."""
    matches = {name: record for name, record in _records() if record.model_sha256 == digest}
    for name, record in matches.items():
        stem = record.model or name.split(".")[0]
        for wanted in dict.fromkeys((record_name(stem, family), record_name(stem))):
            if wanted in matches:
                return matches[wanted]
    return None


def _by_name(model: str, family: str) -> tuple[str, Calibration] | None:
    """Return the packaged record named after the model's directory, and its file name."""
    for name in dict.fromkeys((record_name(model, family), record_name(model))):
        path = PACKAGED / name
        if path.is_file():
            return name, read_record(path)
    return None


def for_encoder(model: str, family: str = "float", override: Path | None = None) -> Calibration:
    """Return the record to store: the override, else the packaged one by weights, by name, or defaults."""
    if override is not None:
        return _owned(read_record(override), model)
    digest = weights_digest(model)
    record = (_by_digest(digest, family) if digest else None) or _named(model, family, digest)
    if record is None:
        log.warning("no calibration for model %s: default ranking constants", model)
        return defaults(model)
    return _owned(record, model)


def _named(model: str, family: str, digest: str | None) -> Calibration | None:
    """Return the packaged record named after the model's directory, unless measured on other weights."""
    found = _by_name(model, family)
    if found is None:
        return None
    name, record = found
    if digest and record.model_sha256 not in ("", digest):
        log.warning("the calibration record %s was measured on other weights than %s's", name, model)
        return None
    return record


def _owned(record: Calibration, model: str) -> Calibration:
    """Return the record, named after the model's directory when it names no model itself."""
    return record if record.model else replace(record, model=Path(model).name)


def packaged(model: str, family: str = "float") -> Calibration | None:
    """Return the record shipped under a model's name (a quantised family falls back to the float one)."""
    named = _by_name(model, family)
    return None if named is None else replace(named[1], model=model)


def for_model(model: str, family: str = "float") -> Calibration:
    """Return the record named after model (an index built before records were stored), else the defaults."""
    record = packaged(model, family)
    if record is None:
        log.warning("no calibration for model %s: default ranking constants", model)
        return defaults(model)
    return record

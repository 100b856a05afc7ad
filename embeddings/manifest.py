"""The manifest: what a generation holds and how its vectors were made, and its JSON form."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from embeddings.page_table import PageRecord, PageTable

SCHEMA_VERSION = 1


# Vectors of float precisions agree to cosine >= 0.99999 across backends (torch fp32, OpenVINO
# fp32/bf16): they may share an index. A quantised model makes other vectors (cosine ~0.998, another
# top-1 for 3% of questions): changing to or from one needs a full rebuild.
QUANTISED = frozenset({"int8"})


def vector_family(backend: str, precision: str) -> str:
    """Return which vectors may share an index: all float precisions alike, each quantised model alone."""
    return f"{backend}-{precision}" if precision in QUANTISED else "float"


def encoder_setting(backend: str, precision: str) -> str:
    """Return the encoder setting that makes vectors of this backend and precision."""
    return f"{backend}-{precision}" if precision in QUANTISED else backend


@dataclass(frozen=True)
class Encoding:
    """How vectors were made: the model, its dimension, its prompts, the encoder backend and precision."""

    model: str
    dimension: int
    prompts: Mapping[str, str]
    backend: str = "torch"
    precision: str = "fp32"

    @property
    def family(self) -> str:
        """Return which vectors may join these (see vector_family)."""
        return vector_family(self.backend, self.precision)


@dataclass(frozen=True)
class Manifest:
    """What a generation holds and how its vectors were made."""

    schema: int
    model: str
    dimension: int
    prompts: Mapping[str, str]
    articles: int
    passages: int
    created: str
    package_version: str
    corpus_dir: str
    corpus_fingerprint: str
    dense_kind: str
    pages: Mapping[str, PageRecord] = field(default_factory=dict)
    generation: str = ""
    encoder: str = "torch"  # the backend that embedded the passages (torch before it was recorded)
    precision: str = "fp32"
    # The ranking constants the generation was built with (calibration.as_dict); None: an older build.
    calibration: Mapping[str, Any] | None = None

    @property
    def content_hashes(self) -> dict[str, str]:
        """Return each indexed page's content hash by path."""
        return PageTable.of(self.pages).content_hashes()


def mismatch(
    manifest: Manifest,
    model: str,
    dimension: int | None,
    prompts: Mapping[str, str] | None,
    family: str | None = None,
) -> str:
    """Return why vectors of this encoder cannot join or query the index, or "" when they can."""
    if manifest.schema != SCHEMA_VERSION:
        return f"index schema version {manifest.schema}, this quotebot reads version {SCHEMA_VERSION}"
    if manifest.model != model:
        return f"built with model {manifest.model}, but the configured model is {model}"
    if family is not None and vector_family(manifest.encoder, manifest.precision) != family:
        return (
            f"built with the {manifest.encoder} {manifest.precision} encoder, whose vectors differ from "
            f"the configured encoder's ({'a float precision' if family == 'float' else family})"
        )
    if dimension is not None and manifest.dimension != dimension:
        return f"built with {manifest.dimension}-d vectors, but the configured model makes {dimension}-d"
    if prompts is not None and dict(manifest.prompts) != dict(prompts):
        return f"built with prompts {dict(manifest.prompts)!r}, but the configured ones are {dict(prompts)!r}"
    return ""


def new_manifest(
    pages: Mapping[str, PageRecord],
    passages: int,
    encoding: Encoding,
    source: str,
    dense_kind: str,
    name: str,
    calibration: Mapping[str, Any] | None = None,
) -> Manifest:
    """Return the manifest of a generation being committed now: its pages, vectors and where it came from."""
    table = PageTable.of(pages)
    return Manifest(
        schema=SCHEMA_VERSION,
        model=encoding.model,
        dimension=encoding.dimension,
        prompts=dict(encoding.prompts),
        encoder=encoding.backend,
        precision=encoding.precision,
        articles=len(pages),
        passages=passages,
        created=datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        package_version=package_version(),
        corpus_dir=source,
        corpus_fingerprint=table.fingerprint(),
        dense_kind=dense_kind,
        pages=table,
        generation=name,
        calibration=None if calibration is None else json.loads(json.dumps(calibration)),
    )


def manifest_to_json(manifest: Manifest, *, pages_file: str = "") -> str:
    """Serialise a manifest: its fields indented, then its pages, one object per page (the JSON form
    earlier versions wrote), or the name of the file the caller stores them in (PageTable.save)."""
    head = {f.name: getattr(manifest, f.name) for f in fields(manifest) if f.name != "pages"}
    head["prompts"] = dict(manifest.prompts)
    # The pages are most of a large manifest: json's C encoder writes them on one line (indent would
    # use the pure-Python encoder), and only what precedes them is indented.
    text = json.dumps(head, ensure_ascii=False, indent=1)
    pages: Any = pages_file or {
        path: {"content_hash": rec.content_hash, "passage_ids": list(rec.passage_ids)}
        for path, rec in manifest.pages.items()
    }
    listed = json.dumps(pages, ensure_ascii=False)
    return text[: text.rindex("}")].rstrip() + ',\n "pages": ' + listed + "\n}\n"


def manifest_from_json(text: str, pages: PageTable | None = None) -> Manifest:
    """Parse a manifest (pages: its pages, when it names the file they are stored in); raises
    ValueError, KeyError or TypeError when it is malformed."""
    data: dict[str, Any] = json.loads(text)
    return Manifest(
        schema=int(data["schema"]),
        model=str(data["model"]),
        dimension=int(data["dimension"]),
        prompts={str(k): str(v) for k, v in data["prompts"].items()},
        articles=int(data["articles"]),
        passages=int(data["passages"]),
        created=str(data["created"]),
        package_version=str(data["package_version"]),
        corpus_dir=str(data["corpus_dir"]),
        corpus_fingerprint=str(data["corpus_fingerprint"]),
        dense_kind=str(data["dense_kind"]),
        pages=_pages(data["pages"], pages),
        generation=str(data.get("generation", "")),
        encoder=str(data.get("encoder", "torch")),
        precision=str(data.get("precision", "fp32")),
        calibration=_calibration(data.get("calibration")),
    )


def _pages(data: Any, table: PageTable | None) -> PageTable:
    """Return the manifest's pages: the table stored apart (data names its file), or one record per
    path (manifest_to_json without a file, and every version before page tables)."""
    if isinstance(data, str):
        if table is None:
            raise ValueError(f"the manifest's pages are stored in {data}, which was not read")
        return table
    return PageTable.of(
        {
            str(path): PageRecord(str(rec["content_hash"]), tuple(map(int, rec["passage_ids"])))
            for path, rec in data.items()
        }
    )


def _calibration(data: Any) -> dict[str, Any] | None:
    """Return a stored calibration record (None when absent); raises TypeError when it is no object."""
    if data is not None and not isinstance(data, dict):
        raise TypeError(f"the stored calibration record is {type(data).__name__}, not an object")
    return data


def package_version() -> str:
    """Return the installed quotebot version, or "unknown" when running from a bare checkout."""
    try:
        return metadata.version("quotebot")
    except metadata.PackageNotFoundError:
        return "unknown"

"""The manifest's page table: columns in, columns out, and generations written before it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from bot.indexing import build_index, open_searcher
from embeddings.errors import IndexCorrupt
from embeddings.hashing import HashingEncoder
from embeddings.local import segments as seg
from embeddings.local.generations import CURRENT, FINGERPRINTS, PAGES, read_manifest
from embeddings.manifest import Encoding, manifest_from_json, manifest_to_json, new_manifest
from embeddings.page_diff import page_fingerprints
from embeddings.page_table import PageRecord, PageTable
from tests.test_store import PAGES as PAGE_TEXTS
from tests.test_store import CountingHashingEncoder, write_corpus, write_page

RECORDS = {
    "b/两.html": PageRecord("h2", (5, 6, -7)),
    "a.html": PageRecord("h1", (2**62,)),
    "c.html": PageRecord("h3", ()),
}


def test_a_table_answers_like_the_records_it_was_made_of() -> None:
    table = PageTable.of(RECORDS)
    assert list(table) == ["a.html", "b/两.html", "c.html"] and table.passages == 4
    assert dict(table.items()) == RECORDS and table == RECORDS
    assert "a.html" in table and "d.html" not in table and 3 not in table
    with pytest.raises(KeyError):
        table["d.html"]
    manifest = new_manifest(table, 4, Encoding("m", 3, {}), "corpus", "flat", "gen-x")
    assert manifest_from_json(manifest_to_json(manifest)).pages == RECORDS


def test_replacing_pages_keeps_every_other_pages_ids_in_path_order() -> None:
    table = PageTable.of(RECORDS).replaced(
        ["c.html"], {"0.html": PageRecord("h0", (9, 8)), "b/两.html": PageRecord("h2b", (1,))}
    )
    assert dict(table.items()) == {
        "0.html": PageRecord("h0", (9, 8)),
        "a.html": PageRecord("h1", (2**62,)),
        "b/两.html": PageRecord("h2b", (1,)),
    }
    assert table.ids.tolist() == [9, 8, 2**62, 1]


def test_the_saved_table_holds_fingerprints_and_refuses_damage(tmp_path: Path) -> None:
    table = PageTable.of(RECORDS).with_prints({"a.html": "fa", "c.html": "fc"})
    buffer = io.BytesIO()
    table.save(buffer)
    (tmp_path / PAGES).write_bytes(buffer.getvalue())
    again = PageTable.load(tmp_path / PAGES)
    assert again == RECORDS and again.fingerprints() == {"a.html": "fa", "c.html": "fc"}
    assert PageTable.of(RECORDS).fingerprints() is None
    (tmp_path / PAGES).write_bytes(buffer.getvalue()[:100])
    with pytest.raises(ValueError, match="damaged"):
        PageTable.load(tmp_path / PAGES)
    manifest = new_manifest(table, 4, Encoding("m", 3, {}), "corpus", "flat", "gen-x")
    assert manifest_from_json(manifest_to_json(manifest, pages_file=PAGES), again) == manifest
    with pytest.raises(ValueError, match="not read"):
        manifest_from_json(manifest_to_json(manifest, pages_file=PAGES))
    with pytest.raises(ValueError, match="counts"):
        PageTable(["a"], ["h"], np.array([2]), np.array([1]))


def test_a_damaged_page_table_makes_the_index_refuse_with_the_fix(tmp_path: Path) -> None:
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    build_index(corpus, index_dir, HashingEncoder())
    file = (index_dir / CURRENT / PAGES).resolve()
    data = file.read_bytes()
    file.unlink()  # a new file, as a damaged disk would leave it: no generation shares it
    file.write_bytes(data[: len(data) // 2])
    with pytest.raises(IndexCorrupt, match="index --full"):
        open_searcher(index_dir, HashingEncoder())


def test_a_generation_from_before_page_tables_is_read_and_updated(tmp_path: Path) -> None:
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    build_index(corpus, index_dir, HashingEncoder())
    generation = (index_dir / CURRENT).resolve()
    manifest = read_manifest(index_dir)
    old = manifest_to_json(manifest)  # without a pages file: one object per page, as before page tables
    prints = page_fingerprints(seg.load_passages(generation))
    for name in (PAGES, "manifest.json"):
        (generation / name).unlink()
    (generation / "manifest.json").write_text(old, encoding="utf-8")
    (generation / FINGERPRINTS).write_text(json.dumps(prints, ensure_ascii=False), encoding="utf-8")
    assert read_manifest(index_dir).pages == manifest.pages
    # The fingerprints of the old file still find a copy's text (another title, the same paragraphs).
    title, outlet, date, paras = PAGE_TEXTS["news/typhoon.html"]
    write_page(corpus, "news/copy.html", title, "中新社", date, paras)
    counting = CountingHashingEncoder()
    report = build_index(corpus, index_dir, counting, only=["news/copy.html"])
    assert [f.reason for f in report.skipped_reasons] == ["duplicate of news/typhoon.html"]
    write_page(
        corpus, "news/quake.html", "四川发生地震", outlet, "2024-08-01", ["四川泸定县发生六点八级地震。"]
    )
    assert build_index(corpus, index_dir, counting, only=["news/quake.html"]).added == 1
    assert (index_dir / CURRENT / PAGES).exists() and not (index_dir / CURRENT / FINGERPRINTS).exists()
    stored = PageTable.of(read_manifest(index_dir).pages).fingerprints()
    assert stored == page_fingerprints(seg.load_passages(index_dir / CURRENT))

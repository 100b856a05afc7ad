"""Walking a corpus directory: every file gets a result with a reason, and no bad page stops a batch."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

from corpus.errors import CorpusError
from corpus.load import FileResult, list_pages, read_one, scan_corpus
from tests.conftest import FIXTURES

PAGES = FIXTURES / "pages"


@pytest.fixture()
def corpus_dir(tmp_path: Path, seed_bytes: bytes) -> Path:
    """Build a corpus with good pages and every kind of bad file."""
    root = tmp_path / "corpus"
    (root / "news" / "2022").mkdir(parents=True)
    (root / "news" / "2022" / "seed.html").write_bytes(seed_bytes)
    shutil.copy(PAGES / "entry-gb18030.html", root / "news" / "gb.htm")
    shutil.copy(PAGES / "generic-xinhua.html", root / "news" / "XINHUA.HTML")
    (root / "copies").mkdir()
    (root / "copies" / "seed-copy.html").write_bytes(seed_bytes)  # same bytes, later path
    (root / "a-empty.html").write_bytes(b"")
    (root / "binary.html").write_bytes(bytes(range(256)) * 40)
    (root / "notes.html").write_text("这是一份纯文本备忘录，没有任何标签。\n", encoding="utf-8")
    (root / "nav-only.html").write_bytes(b"<html><body><div id='nav'>home</div></body></html>")
    (root / "huge.html").write_bytes(b"<p>" + "很长".encode() * 3000 + b"</p>")
    (root / "folder.html").mkdir()  # a directory named like a page cannot be read as one
    (root / "dangling.html").symlink_to(root / "no-such-target.html")
    os.mkfifo(root / "pipe.html")  # reading a FIFO would block the whole batch
    (root / "readme.txt").write_text("not a page", encoding="utf-8")
    (root / ".git").mkdir()
    (root / ".git" / "hidden.html").write_bytes(seed_bytes)
    return root


def by_path(results: list[FileResult]) -> dict[str, FileResult]:
    return {result.path: result for result in results}


def test_list_pages_is_sorted_relative_posix_and_recursive(corpus_dir: Path) -> None:
    assert list_pages(corpus_dir) == [
        "a-empty.html",
        "binary.html",
        "copies/seed-copy.html",
        "dangling.html",
        "folder.html",
        "huge.html",
        "nav-only.html",
        "news/2022/seed.html",
        "news/XINHUA.HTML",
        "news/gb.htm",
        "notes.html",
        "pipe.html",
    ]


def test_list_pages_of_a_missing_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="not a directory"):
        list_pages(tmp_path / "nowhere")


def test_scan_reports_every_file_with_a_reason(corpus_dir: Path) -> None:
    results = list(scan_corpus(corpus_dir, max_bytes=12_000))
    assert [r.path for r in results] == list_pages(corpus_dir)
    found = by_path(results)
    ok = {path for path, r in found.items() if r.status == "ok"}
    assert ok == {"copies/seed-copy.html", "news/XINHUA.HTML", "news/gb.htm"}
    assert found["news/2022/seed.html"].status == "duplicate"
    seed = found["copies/seed-copy.html"].article
    assert seed is not None and seed.title == "金正恩4年前亲笔信被曝光：想直接见川普"
    assert seed.path == "copies/seed-copy.html"
    assert found["news/gb.htm"].article is not None
    assert found["news/gb.htm"].article.title == "朱镕基旧照引发网民怀念"

    expected = {
        "a-empty.html": ("skipped", "empty file"),
        "binary.html": ("skipped", "binary file"),
        "notes.html": ("skipped", "not HTML"),
        "huge.html": ("skipped", "too large: 18,007 bytes > limit 12,000"),
        "nav-only.html": ("failed", "no paragraphs"),
        "folder.html": ("failed", "unreadable: is a directory"),
        "dangling.html": ("failed", "dangling symbolic link"),
        "pipe.html": ("failed", "unreadable: not a regular file"),
    }
    for path, (status, reason) in expected.items():
        assert found[path].status == status, path
        assert found[path].reason is not None and reason in found[path].reason, (path, found[path].reason)
        assert found[path].article is None


def test_the_second_copy_of_a_page_is_a_duplicate_of_the_first_in_sorted_order(corpus_dir: Path) -> None:
    found = by_path(list(scan_corpus(corpus_dir)))
    copy = found["copies/seed-copy.html"]
    assert copy.status == "ok"  # "copies/" sorts before "news/": the copy is the first one seen
    original = found["news/2022/seed.html"]
    assert original.status == "duplicate"
    assert original.duplicate_of == "copies/seed-copy.html"
    assert original.reason == "duplicate of copies/seed-copy.html"


def test_the_same_article_saved_as_full_document_and_fragment_is_one_article(tmp_path: Path) -> None:
    # Different bytes, same title and text: a page saved twice from two views of the site.
    full = (PAGES / "entry-gb18030.html").read_bytes()
    fragment = (PAGES / "entry-utf8-bom.html").read_bytes()
    (tmp_path / "b.html").write_bytes(full)
    (tmp_path / "a.html").write_bytes(fragment)
    (tmp_path / "c.html").write_bytes((PAGES / "entry-full.html").read_bytes())
    results = list(scan_corpus(tmp_path))
    assert [(r.path, r.status, r.duplicate_of) for r in results] == [
        ("a.html", "ok", None),
        ("b.html", "duplicate", "a.html"),
        ("c.html", "ok", None),
    ]


def test_known_pages_with_the_same_bytes_are_unchanged_and_not_parsed(
    tmp_path: Path, seed_bytes: bytes
) -> None:
    (tmp_path / "seed.html").write_bytes(seed_bytes)
    (tmp_path / "gb.html").write_bytes((PAGES / "entry-gb18030.html").read_bytes())
    known = {"seed.html": hashlib.sha256(seed_bytes).hexdigest(), "gb.html": "0" * 64}
    found = by_path(list(scan_corpus(tmp_path, known=known)))
    assert found["seed.html"].status == "unchanged"
    assert found["seed.html"].article is None
    assert found["seed.html"].content_hash == known["seed.html"]
    assert found["gb.html"].status == "ok"  # its hash changed
    assert (
        found["gb.html"].content_hash
        == hashlib.sha256((PAGES / "entry-gb18030.html").read_bytes()).hexdigest()
    )


def test_unchanged_pages_are_really_not_parsed(tmp_path: Path) -> None:
    # Bytes that could never parse: "unchanged" proves the parser was not called.
    (tmp_path / "x.html").write_bytes(b"")
    result = read_one(tmp_path, "x.html", 100, known_hash=hashlib.sha256(b"").hexdigest())
    assert result.status == "unchanged"


def test_a_copy_of_an_unchanged_page_is_still_a_duplicate(tmp_path: Path, seed_bytes: bytes) -> None:
    (tmp_path / "a.html").write_bytes(seed_bytes)
    (tmp_path / "b.html").write_bytes(seed_bytes)
    known = {"a.html": hashlib.sha256(seed_bytes).hexdigest()}
    statuses = [(r.path, r.status, r.duplicate_of) for r in scan_corpus(tmp_path, known=known)]
    assert statuses == [("a.html", "unchanged", None), ("b.html", "duplicate", "a.html")]


def test_truncated_page_is_ok_with_a_note(tmp_path: Path) -> None:
    full = (PAGES / "entry-full.html").read_bytes()
    (tmp_path / "cut.html").write_bytes(full[: full.index("上海市防汛指挥部".encode())])
    (result,) = scan_corpus(tmp_path)
    assert result.status == "ok"
    assert result.reason is not None and "truncated" in result.reason
    assert result.article is not None and len(result.article.body) == 2


def test_workers_give_the_same_results_in_the_same_order(corpus_dir: Path) -> None:
    one = list(scan_corpus(corpus_dir, max_bytes=12_000, workers=1))
    two = list(scan_corpus(corpus_dir, max_bytes=12_000, workers=2))
    assert one == two


def test_size_limit_is_inclusive_of_the_limit(tmp_path: Path, seed_bytes: bytes) -> None:
    (tmp_path / "seed.html").write_bytes(seed_bytes)
    assert next(scan_corpus(tmp_path, max_bytes=len(seed_bytes))).status == "ok"
    assert next(scan_corpus(tmp_path, max_bytes=len(seed_bytes) - 1)).status == "skipped"


def test_a_file_name_that_is_not_utf8_fails_with_a_printable_path_and_a_fix(
    tmp_path: Path, seed_bytes: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    # Zips made on Chinese Windows carry GBK file names; Linux keeps their bytes (新闻.html here).
    (tmp_path / "seed.html").write_bytes(seed_bytes)
    (tmp_path / os.fsdecode("新闻.html".encode("gbk"))).write_bytes(seed_bytes.replace(b"</p>", b" </p>"))
    results = {r.path: r for r in scan_corpus(tmp_path)}
    bad = results["\\xd0\\xc2\\xce\\xc5.html"]
    assert bad.status == "failed" and bad.reason is not None
    assert "not UTF-8" in bad.reason and "rename" in bad.reason
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert results["seed.html"].status == "ok"

"""`quotebot parse` and `quotebot corpus` through the real CLI entry point."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.corpus import PROGRESS_MIN_PAGES
from tests.conftest import FIXTURES, REPO, SEED_PAGE

PAGES = FIXTURES / "pages"


def test_parse_prints_the_article_as_utf8_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(SEED_PAGE)]) == 0
    out = capsys.readouterr().out
    assert "金正恩4年前亲笔信被曝光" in out and "\\u" not in out  # ensure_ascii=False
    article = json.loads(out)
    assert article["title"] == "金正恩4年前亲笔信被曝光：想直接见川普"
    assert article["outlet"] == "ettoday"
    assert len([p for p in article["paragraphs"] if p["kind"] == "body"]) == 9
    assert article["paragraphs"][1] == {
        "ordinal": 1,
        "text": "金正恩多次向川普传递亲笔书信。（示意图／路透社）",
        "kind": "caption",
    }


def test_parse_several_files_compact_goes_on_after_a_bad_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.html"
    empty.write_bytes(b"")
    files = [
        str(PAGES / "entry-big5.html"),
        str(empty),
        str(tmp_path / "missing.html"),
        str(PAGES / "generic-gov.html"),
    ]
    assert main(["parse", "--compact", *files]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert [json.loads(line)["title"] for line in lines] == [
        "颱風軒嵐諾逼近 台灣東部發布海上警報",
        "市应急管理局部署国庆假期安全防范工作",
    ]
    assert f"quotebot: {empty}: empty file" in captured.err
    assert f"quotebot: {tmp_path / 'missing.html'}: unreadable: No such file or directory" in captured.err


def test_corpus_json_counts(tmp_path: Path, seed_bytes: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a.html").write_bytes(seed_bytes)
    (tmp_path / "b.html").write_bytes(seed_bytes)
    shutil.copy(PAGES / "entry-traditional.html", tmp_path / "tw.html")
    (tmp_path / "empty.html").write_bytes(b"")
    (tmp_path / "nav.html").write_bytes(b"<html><body><div id='nav'>home</div></body></html>")
    code = main(["corpus", str(tmp_path), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1  # one page failed
    assert report["pages"] == 5
    assert report["articles"] == 2
    assert report["paragraphs"] == 13 + 4
    assert report["body"] == 9 + 3
    assert report["captions"] == 4 + 1
    assert report["duplicates"] == {"b.html": "a.html"}
    assert report["skipped"] == {"empty.html": "empty file"}
    assert list(report["failed"]) == ["nav.html"]
    assert report["statuses"] == {"ok": 2, "duplicate": 1, "skipped": 1, "failed": 1}


def test_corpus_text_report_lists_reasons(
    tmp_path: Path, seed_bytes: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.html").write_bytes(seed_bytes)
    (tmp_path / "copy.html").write_bytes(seed_bytes)
    (tmp_path / "big.html").write_bytes(seed_bytes * 2)
    assert main(["corpus", str(tmp_path), "--max-bytes", str(len(seed_bytes))]) == 0
    out = capsys.readouterr().out
    assert "3 pages" in out
    assert "paragraphs  13 (9 body, 4 captions)" in out
    assert f"skipped: big.html: too large: {2 * len(seed_bytes):,} bytes > limit {len(seed_bytes):,}" in out
    assert "duplicate: copy.html: same article as a.html" in out


def test_corpus_defaults_to_the_configured_directory(
    tmp_path: Path, seed_bytes: bytes, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a.html").write_bytes(seed_bytes)
    monkeypatch.setenv("QUOTEBOT_CORPUS_DIR", str(tmp_path))
    assert main(["corpus", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["articles"] == 1


def test_corpus_of_a_missing_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["corpus", str(tmp_path / "nowhere")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_corpus_over_the_eval_set_is_clean() -> None:
    # A real process, as an admin runs it (its speed is measured by bench/parse_speed.py, not here).
    done = subprocess.run(
        [sys.executable, "-m", "bot", "corpus", str(REPO.parent / "shared" / "eval" / "articles"), "--json"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["pages"] == report["articles"] == 1279
    assert not report["failed"] and not report["skipped"] and not report["duplicates"]


class _Terminal(io.StringIO):
    """A stderr that says it is a terminal, so the progress bar turns on."""

    def isatty(self) -> bool:
        return True


def test_corpus_shows_a_progress_bar_on_a_terminal_for_large_trees(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(PROGRESS_MIN_PAGES):
        (tmp_path / f"{i:03}.html").write_text(
            f"<h2>第{i}篇</h2><div class='entry'><p>第{i}篇的正文。</p></div>"
        )
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["corpus", str(tmp_path), "--json"]) == 0
    assert f"/{PROGRESS_MIN_PAGES} [" in terminal.getvalue() and "page/s" in terminal.getvalue()
    assert json.loads(capsys.readouterr().out)["articles"] == PROGRESS_MIN_PAGES


def test_corpus_shows_no_progress_bar_when_not_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for i in range(PROGRESS_MIN_PAGES):
        (tmp_path / f"{i:03}.html").write_text(
            f"<h2>第{i}篇</h2><div class='entry'><p>第{i}篇的正文。</p></div>"
        )
    piped = io.StringIO()
    monkeypatch.setattr(sys, "stderr", piped)
    assert main(["corpus", str(tmp_path), "--workers", "2"]) == 0
    assert piped.getvalue() == ""
    assert f"{PROGRESS_MIN_PAGES} pages" in capsys.readouterr().out

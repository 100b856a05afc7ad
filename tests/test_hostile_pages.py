"""Hostile pages: each one finishes, is bounded, and is reported; none stops the batch or runs away."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corpus.limits import PARAGRAPHS_PER_PAGE, PASSAGE_MAX_CHARS, split_long
from corpus.load import read_one, scan_corpus
from corpus.parse import read_page
from embeddings.page_diff import diff_pages

REPO = Path(__file__).resolve().parents[1]
NEWS = "<p>记者今天报道，台风在周三晚间登陆沿海地区，造成大范围停电。</p>"
MEMORY_LIMIT = 3 * 2**30  # the whole `quotebot corpus` process, parser included


def page(body: str) -> bytes:
    return f"<html><head><title>测试</title></head><body>{body}</body></html>".encode()


def long_paragraph(chars: int) -> str:
    """Return one paragraph of distinct numbered sentences, about chars characters long."""
    sentences, total, n = [], 0, 0
    while total < chars:
        sentence = f"第{n}句说明台风登陆后的情况。"
        sentences.append(sentence)
        total += len(sentence)
        n += 1
    return "".join(sentences)


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def scan_in_subprocess(corpus: Path) -> dict[str, object]:
    """Run `quotebot corpus --json` under a memory cap and a generous timeout; return its report."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "bot", "corpus", "--json", str(corpus)],
        capture_output=True,
        text=True,
        timeout=600,  # a hang fails the test instead of blocking the suite
        env=env,
        preexec_fn=_limit_memory,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr[-2000:]  # 1: some page failed, as here
    report: dict[str, object] = json.loads(done.stdout)
    return report


def test_hostile_pages_finish_under_a_memory_cap_and_each_is_reported(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    deep = 300_000
    (corpus / "deep.html").write_bytes(page(NEWS + "<div>" * deep + "<p>深处的文字</p>" + "</div>" * deep))
    (corpus / "deep-only.html").write_bytes(page("<div>" * deep + NEWS + "</div>" * deep))
    (corpus / "giant.html").write_bytes(page(f"<p>{long_paragraph(1_400_000)}</p>"))
    (corpus / "many.html").write_bytes(
        page("".join(f"<p>第{i}段：记者报道台风的消息。</p>" for i in range(30_000)))
    )
    (corpus / "attribute.html").write_bytes(page(f'<p title="{"x" * 4_000_000}">属性很长。</p>{NEWS}'))
    report = scan_in_subprocess(corpus)
    notes, failed = report["notes"], report["failed"]
    assert isinstance(notes, dict) and isinstance(failed, dict)
    assert "nested deeper than 256 levels" in notes["deep.html"]
    assert "no paragraphs" in failed["deep-only.html"] and "nested deeper" in failed["deep-only.html"]
    assert "too many paragraphs: indexed the first 1,000 of 30,000" in notes["many.html"]
    assert "cut into passages" in notes["giant.html"] and "too many paragraphs" in notes["giant.html"]
    assert "attribute.html" not in failed and report["articles"] == 4


def test_a_multi_megabyte_paragraph_is_cut_into_verbatim_passage_sized_pieces() -> None:
    text = long_paragraph(1_400_000)
    data = page(f"<p>{text}</p>")
    assert 3_000_000 < len(data) < 5_000_000  # multi-megabyte, under the default page size limit
    article, notes = read_page(data, "giant.html")
    pieces = [p.text for p in article.paragraphs]
    assert len(pieces) == PARAGRAPHS_PER_PAGE
    assert all(len(piece) <= PASSAGE_MAX_CHARS for piece in pieces)
    assert "".join(pieces) == text[: len("".join(pieces))]  # verbatim, in order, nothing dropped between
    assert all(piece.endswith("。") for piece in pieces)  # cut at sentence ends
    assert any("1,000 of 1," in note for note in notes)


def test_a_capped_page_is_indexed_in_part_with_its_reason_in_the_reindex_diff(tmp_path: Path) -> None:
    (tmp_path / "many.html").write_bytes(
        page("".join(f"<p>第{i}段：记者报道台风。</p>" for i in range(5000)))
    )
    diff = diff_pages({}, scan_corpus(tmp_path))
    assert [len(a.paragraphs) for a in diff.fresh] == [PARAGRAPHS_PER_PAGE]
    assert [(f.doc, f.reason) for f in diff.noted] == [
        ("many.html", "too many paragraphs: indexed the first 1,000 of 5,000 (at most 1,000 per page)")
    ]


def test_entity_expansion_in_a_doctype_is_not_performed() -> None:
    entities = '<!ENTITY a0 "lol">' + "".join(f'<!ENTITY a{i} "{f"&a{i - 1};" * 10}">' for i in range(1, 10))
    data = f"<!DOCTYPE html [{entities}]>".encode() + page(f"<p>&a9;&a9;</p>{NEWS}")
    article, _ = read_page(data, "lol.html")
    assert sum(len(p.text) for p in article.paragraphs) < 1000
    assert "lollol" not in " ".join(p.text for p in article.paragraphs)


def test_utf16_pages_with_a_byte_order_mark_are_read_in_either_byte_order() -> None:
    for codec in ("utf-16-le", "utf-16-be"):
        bom = "\ufeff".encode(codec)
        article, _ = read_page(bom + page(NEWS).decode().encode(codec), f"{codec}.html")
        assert article.paragraphs[0].text.startswith("记者今天报道"), codec


def test_nul_bytes_make_a_binary_skip_at_the_start_and_are_dropped_later(tmp_path: Path) -> None:
    (tmp_path / "nul-head.html").write_bytes(b"<html>\x00\x00" + page(NEWS))
    (tmp_path / "nul-late.html").write_bytes(page(NEWS * 400 + "<p>前\x00后的文字内容。</p>"))
    head = read_one(tmp_path, "nul-head.html", 5_000_000)
    late = read_one(tmp_path, "nul-late.html", 5_000_000)
    assert (head.status, head.reason) == ("skipped", "binary file, not a text page")
    assert late.status == "ok" and late.article is not None
    assert "前后的文字内容。" in [p.text for p in late.article.paragraphs]


def test_symlinks_are_read_only_inside_the_corpus_and_never_followed_into_directories(
    tmp_path: Path,
) -> None:
    outside = tmp_path / "secret.html"
    outside.write_bytes(page(NEWS))
    corpus = tmp_path / "corpus"
    (corpus / "news").mkdir(parents=True)
    (corpus / "news" / "real.html").write_bytes(page(NEWS.replace("台风", "暴雨")))
    (corpus / "alias.html").symlink_to("news/real.html")
    (corpus / "dangling.html").symlink_to("gone.html")
    (corpus / "outside.html").symlink_to(outside)
    (corpus / "news" / "up").symlink_to("../..")  # a directory above: would loop if followed
    (corpus / "up.html").symlink_to("..")
    (corpus / "loop.html").symlink_to("loop.html")
    found = {r.path: r for r in scan_corpus(corpus)}
    assert sorted(found) == [
        "alias.html",
        "dangling.html",
        "loop.html",
        "news/real.html",
        "outside.html",
        "up.html",
    ]
    assert found["alias.html"].status == "ok" and found["news/real.html"].status == "duplicate"
    assert found["dangling.html"].reason == "dangling symbolic link (to gone.html): fix or remove it"
    assert found["loop.html"].status == "failed" and "dangling symbolic link" in (
        found["loop.html"].reason or ""
    )
    outside_reason = "symbolic link to a file outside the corpus directory: not read"
    assert (found["outside.html"].status, found["outside.html"].reason) == ("failed", outside_reason)
    assert (found["up.html"].status, found["up.html"].reason) == ("failed", outside_reason)


def test_unprintable_file_names_are_reported_escaped_and_not_indexed(tmp_path: Path) -> None:
    for name in ("\x1b[2Jclear.html", "evil\u202elmth.html", "line\nbreak.html", "好的　名字.html"):
        (tmp_path / name).write_bytes(page(NEWS + f"<p>{name}这一页的独有内容。</p>"))
    found = {r.path: r for r in scan_corpus(tmp_path)}
    assert found["好的　名字.html"].status == "ok"  # an ideographic space is printable
    for shown in ("\\x1b[2Jclear.html", "evil\\u202elmth.html", "line\\nbreak.html"):
        assert found[shown].status == "failed", shown
        assert found[shown].reason == "file name has unprintable characters (controls, bidi marks): rename it"
        assert found[shown].article is None


@given(st.text(alphabet=st.sampled_from("台风。！？，, \u3000ab\n"), max_size=3000), st.integers(5, 300))
def test_split_long_gives_verbatim_pieces_within_the_limit(text: str, limit: int) -> None:
    pieces = split_long(text, limit)
    assert all(0 < len(piece) <= limit for piece in pieces)
    assert all(piece == piece.strip() for piece in pieces)
    squashed = "".join(text.split())
    assert "".join("".join(piece.split()) for piece in pieces) == squashed
    position = 0
    for piece in pieces:  # each piece is a slice of the text, in order
        position = text.index(piece, position) + len(piece)


def test_quotebot_index_indexes_a_capped_page_in_part_and_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from bot.cli import main

    monkeypatch.setenv("QUOTEBOT_ENCODER", "hashing")  # counts and notes, not answers
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "many.html").write_bytes(page("".join(f"<p>第{i}段：记者报道台风。</p>" for i in range(3000))))
    (corpus / "giant.html").write_bytes(page(f"<p>{long_paragraph(20_000)}</p>"))
    code = main(["--index-dir", str(tmp_path / "index"), "index", str(corpus)])
    out = capsys.readouterr().out
    assert code == 0, out
    pieces = len(split_long(long_paragraph(20_000)))
    assert pieces > 20 and f"now {PARAGRAPHS_PER_PAGE + pieces:,} passages from 2 articles" in out
    assert "  note    many.html: too many paragraphs: indexed the first 1,000 of 3,000" in out
    assert "  note    giant.html: 1 paragraph(s) longer than 1,000 characters cut into passages" in out

"""`quotebot index` and `quotebot search` with QUOTEBOT_BACKEND=qdrant (in-process Qdrant, real model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import bot.cli.index
from bot.cli import main
from tests.test_store import shared_encoder, write_corpus, write_page


@pytest.fixture(autouse=True)
def qdrant_backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Select the Qdrant backend in in-process mode under tmp_path, with the session's model."""
    monkeypatch.setenv("QUOTEBOT_BACKEND", "qdrant")
    monkeypatch.setenv("QUOTEBOT_QDRANT_PATH", str(tmp_path / "qdrant"))
    monkeypatch.setenv("QUOTEBOT_QDRANT_PREFIX", "clitest")
    monkeypatch.setattr(bot.cli.index, "make_encoder", lambda settings: shared_encoder())
    return tmp_path / "qdrant"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run quotebot in this process; return (exit code, stdout, stderr)."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_index_search_incremental_and_rollback_through_the_cli(capsys, tmp_path, qdrant_backend):
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), str(tmp_path / "i")
    code, out, err = run(capsys, "--index-dir", index_dir, "index", str(corpus))
    assert code == 0 and "added 4," in out and "(new index)" in out, err
    assert (qdrant_backend / "collection").is_dir()  # the index went to Qdrant, not to gen-* files
    assert not list(Path(index_dir).glob("gen-*"))

    code, out, err = run(capsys, "--index-dir", index_dir, "search", "台风在哪里登陆？", "--json")
    answer = json.loads(out)
    assert code == 0 and answer["answered"], err
    assert "登陆" in answer["hits"][0]["text"]

    write_page(corpus, "news/plane.html", "C919交付第一百架", "新华社", None, ["东航接收第一百架C919客机。"])
    code, out, _ = run(capsys, "--index-dir", index_dir, "index", str(corpus), "--json")
    report = json.loads(out)
    assert code == 0 and (report["full"], report["updated"], report["unchanged"]) == (False, 1, 3)
    live = report["generation"]

    code, out, _ = run(capsys, "--index-dir", index_dir, "index", str(corpus), "--full")
    assert code == 0 and "full rebuild" in out
    code, out, _ = run(capsys, "--index-dir", index_dir, "index", "--rollback")
    assert code == 0 and out.strip() == f"rolled back Qdrant alias clitest: now serving {live}"

"""`quotebot serve` and `quotebot chat` through the real CLI entry."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.bot_support import QUESTION, QUESTION_ANSWER, TOKEN, BuiltIndex
from tests.telegram_server import BotApiServer


def test_serve_without_a_token_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.delenv("QUOTEBOT_TELEGRAM_TOKEN", raising=False)
    assert main(["serve"]) == 2
    err = capsys.readouterr().err
    assert "QUOTEBOT_TELEGRAM_TOKEN" in err and "quotebot chat" in err


def test_serve_with_a_verifier_that_cannot_load_fails_before_polling(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    with BotApiServer(token=TOKEN) as server:
        monkeypatch.setenv("QUOTEBOT_TELEGRAM_TOKEN", TOKEN)
        monkeypatch.setenv("QUOTEBOT_TELEGRAM_API_URL", server.url)
        monkeypatch.setenv("QUOTEBOT_RERANKER", str(tmp_path / "no-such-verifier"))
        code = main(["--index-dir", str(tmp_path / "no-index"), "serve"])
        calls = server.calls()
    err = capsys.readouterr().err
    assert code == 2
    assert "no-such-verifier" in err and "QUOTEBOT_RERANKER" in err
    assert calls == []  # not on every question: before the bot ever asks Telegram for one


@pytest.mark.slow
def test_chat_answers_from_the_index(
    built: BuiltIndex, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(QUESTION + "\n"))
    monkeypatch.setenv("QUOTEBOT_ENCODER", built.encoder)  # the encoder the index was built with
    code = main(["--index-dir", str(built.index_dir), "chat", "--lang", "en"])
    assert code == 0
    out = capsys.readouterr().out
    assert QUESTION_ANSWER in out and "台北101" in out


def test_serve_with_a_rejected_token_does_not_print_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "999999:wrong-token-AAAA"
    monkeypatch.chdir(tmp_path)
    with BotApiServer(token=TOKEN) as server:
        monkeypatch.setenv("QUOTEBOT_TELEGRAM_TOKEN", wrong)
        monkeypatch.setenv("QUOTEBOT_TELEGRAM_API_URL", server.url)
        code = main(["--index-dir", str(tmp_path / "no-index"), "serve"])
    err = capsys.readouterr().err
    assert code == 2
    assert "rejected QUOTEBOT_TELEGRAM_TOKEN" in err
    assert wrong not in err and "wrong-token" not in err

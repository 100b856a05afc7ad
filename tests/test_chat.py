"""The terminal chat over a real small index (the hashing test encoder, real FAISS, real pages on disk)."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from bot.cli.chat import PROMPT, run_chat
from bot.i18n import Lang, text
from bot.indexing import build_index, index_store
from bot.render.terminal import ANSI_BOLD
from embeddings.hashing import HashingEncoder
from embeddings.live import LiveSearcher
from tests.conftest import REPO

PAGES = ("seed-article.html", "drcd/drcd-00145.html", "xquad/xquad-00000.html")
# Worded close to its answer: the hashing encoder matches words, not meaning.
SEED_QUESTION = "金正恩在2018年9月21日的亲笔信里说希望与谁直接见面谈论去核化？"
SEED_TITLE = "金正恩4年前亲笔信被曝光：想直接见川普"


class Terminal(io.StringIO):
    """A text stream that says whether it is a terminal."""

    def __init__(self, value: str = "", *, tty: bool) -> None:
        super().__init__(value)
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> LiveSearcher:
    root = tmp_path_factory.mktemp("chat")
    corpus = root / "corpus"
    for page in PAGES:
        target = corpus / page
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "sample_corpus" / page, target)
    encoder = HashingEncoder()  # the chat's flow, not which passage answers
    report = build_index(corpus, root / "index", encoder)
    assert report.added == len(PAGES)
    return LiveSearcher(index_store(root / "index"), encoder)


def chat(
    live: LiveSearcher, *lines: str, lang: Lang = "zh-hans", tty_in: bool = False, tty_out: bool = False
) -> str:
    """Run the chat over the given input lines and return what it printed (asserting exit 0)."""
    stdout = Terminal(tty=tty_out)
    code = run_chat(live, lang, Terminal("".join(line + "\n" for line in lines), tty=tty_in), stdout)
    assert code == 0
    return stdout.getvalue()


def test_a_piped_question_prints_quotes_with_sources_and_no_prompt(live: LiveSearcher) -> None:
    out = chat(live, SEED_QUESTION)
    assert not out.startswith(PROMPT) and "\n" + PROMPT not in out
    assert out.startswith(f"[1] {SEED_TITLE} · ettoday")
    assert "\x1b" not in out and "Traceback" not in out
    answer = live.current.search(SEED_QUESTION)
    assert answer.answered
    plain = out.replace("**", "")
    for hit in answer.hits:
        assert f"    {hit.text}\n" in plain  # the paragraph, word for word
    # The highlighted sentence is marked, and it is an exact slice of the quote.
    first = answer.hits[0]
    start, end = first.highlight[0]
    assert f"**{first.text[start:end]}**" in out
    assert "直接见面谈论去核化" in plain


def test_more_context_help_and_quit(live: LiveSearcher) -> None:
    out = chat(
        live, SEED_QUESTION, "/context 1", "/context 9", "/context x", "/more", "/help", "/quit", "台北101"
    )
    searcher = live.current
    first = searcher.search(SEED_QUESTION).hits[0]
    around = searcher.context(first.passage_id, radius=1)
    assert len(around) >= 2
    assert f"▶ {first.text}\n" in out
    for neighbour in around:
        if neighbour.id != first.passage_id:
            assert f"  {neighbour.text}\n" in out
    hits = len(searcher.search(SEED_QUESTION).hits)
    assert out.count(text("zh-hans", "usage_context", n=hits)) == 2
    more = searcher.search(SEED_QUESTION, offset=hits)
    if more.answered and more.hits:
        assert f"    {more.hits[0].text}".replace("**", "") in out.replace("**", "")
    else:
        assert text("zh-hans", "more_none") in out
    assert text("zh-hans", "chat_help") in out
    assert "台北101是位於" not in out  # nothing after /quit is read


def test_bad_questions_print_the_usage_line_and_the_chat_goes_on(live: LiveSearcher) -> None:
    out = chat(
        live, "？？？", "😀😀😀", "a\x07b", "/ask", "/bogus", "台北101的動土儀式是誰主持的？", lang="en"
    )
    assert "Traceback" not in out
    assert out.count(text("en", "usage_question")) == 3
    assert text("en", "usage_ask") in out
    assert text("en", "unknown_command", command="/bogus") in out
    assert "[1] 台北101" in out  # the good question after them is answered, in its original script


def test_follow_ups_before_any_question_explain_themselves(live: LiveSearcher) -> None:
    out = chat(live, "/more", "/context 1", lang="zh-hant")
    assert out.count(text("zh-hant", "chat_no_question")) == 2


def test_interactive_session_greets_prompts_and_exits_on_eof(live: LiveSearcher) -> None:
    out = chat(live, SEED_QUESTION, tty_in=True)
    assert out.startswith("你好！")
    assert "我目前收录 3 篇文章" in out
    assert text("zh-hans", "chat_help") in out
    assert out.count(PROMPT) == 2  # before the question and before the end of input
    assert out.endswith(PROMPT + "\n")


def test_a_terminal_gets_ansi_bold_highlights(live: LiveSearcher) -> None:
    out = chat(live, SEED_QUESTION, tty_out=True)
    assert ANSI_BOLD in out and "**" not in out


def test_a_missing_index_is_reported_without_a_traceback(tmp_path: Path, live: LiveSearcher) -> None:
    empty = LiveSearcher(index_store(tmp_path / "nothing"), live.encoder)
    out = chat(empty, SEED_QUESTION, SEED_QUESTION, tty_in=True)
    assert "Traceback" not in out
    assert out.count("quotebot: ") == 3  # the greeting and both questions

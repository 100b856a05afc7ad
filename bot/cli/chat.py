"""The terminal chat: the bot's answers for stdin/stdout, with /more, /context N, /help and /quit."""

from __future__ import annotations

import html
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from bot.cli.wording import explain
from bot.i18n import Lang, text
from bot.render.terminal import render_terminal, render_terminal_context
from bot.render.welcome import render_start
from embeddings.errors import BadQuestion, EmbeddingsError
from embeddings.models import Answer, Hit

if TYPE_CHECKING:
    from embeddings.live import LiveSearcher
    from embeddings.search import Searcher

log = logging.getLogger(__name__)

PROMPT = "? "
QUIT = ("/quit", "/exit", "/q")


@dataclass
class ChatState:
    """What the follow-up commands refer to: the last question, its offset and the hits shown."""

    question: str | None = None
    offset: int = 0
    hits: tuple[Hit, ...] = field(default_factory=tuple)


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _plain(html_text: str) -> str:
    """Return bot HTML without markup as terminal text (the greeting only carries escapes)."""
    return html.unescape(html_text)


def ask(searcher: Searcher, state: ChatState, question: str, lang: Lang, *, color: bool) -> str:
    """Answer a new question and remember it for /more and /context."""
    answer = searcher.search(question)
    state.question, state.offset, state.hits = question, 0, answer.hits if answer.answered else ()
    return render_terminal(answer, lang, color=color)


def more(searcher: Searcher, state: ChatState, lang: Lang, *, color: bool) -> str:
    """Show the next results of the last question."""
    if state.question is None:
        return text(lang, "chat_no_question")
    if not state.hits:
        return text(lang, "more_none")
    offset = state.offset + len(state.hits)
    answer = searcher.search(state.question, offset=offset)
    if not answer.answered or not answer.hits:
        return text(lang, "more_none")
    state.offset, state.hits = offset, answer.hits
    return render_terminal(Answer(answer.question, True, answer.hits), lang, color=color)


def context(searcher: Searcher, state: ChatState, argument: str, lang: Lang, *, color: bool) -> str:
    """Show the paragraphs around quote N of the last answer."""
    if not state.hits:
        return text(lang, "chat_no_question")
    try:
        number = int(argument)
    except ValueError:
        number = 0
    if not 1 <= number <= len(state.hits):
        return text(lang, "usage_context", n=len(state.hits))
    focus = state.hits[number - 1].passage_id
    return render_terminal_context(searcher.context(focus, radius=1), focus, lang, color=color)


def respond(searcher: Searcher, state: ChatState, line: str, lang: Lang, *, color: bool) -> str:
    """Return the terminal reply to one input line (a question or a command)."""
    if not line.startswith("/"):
        return ask(searcher, state, line, lang, color=color)
    command, _, argument = line.partition(" ")
    command = command.lower()
    if command == "/ask":
        return (
            ask(searcher, state, argument, lang, color=color) if argument.strip() else text(lang, "usage_ask")
        )
    if command == "/help":
        return text(lang, "chat_help")
    if command == "/more":
        return more(searcher, state, lang, color=color)
    if command == "/context":
        return context(searcher, state, argument.strip(), lang, color=color)
    return text(lang, "unknown_command", command=command) + "\n" + text(lang, "chat_help")


def run_chat(live: LiveSearcher, lang: Lang, stdin: TextIO, stdout: TextIO) -> int:
    """Read questions from stdin and print quoted answers until /quit or end of input; return 0."""
    interactive, color = _isatty(stdin), _isatty(stdout)
    state = ChatState()

    def say(message: str) -> None:
        stdout.write(message.rstrip("\n") + "\n\n")
        stdout.flush()

    if interactive:
        try:
            say(_plain(render_start(live.current.stats, (), lang)))
        except EmbeddingsError as exc:
            say(f"quotebot: {explain(exc)}")
        say(text(lang, "chat_help"))
    while True:
        if interactive:
            stdout.write(PROMPT)
            stdout.flush()
        line = stdin.readline()
        if not line:
            if interactive:
                stdout.write("\n")
            return 0
        line = line.strip()
        if not line:
            continue
        if line.lower() in QUIT:
            return 0
        try:
            say(respond(live.current, state, line, lang, color=color))
        except BadQuestion as exc:
            log.debug("bad question: %s", exc)
            say(text(lang, "usage_question"))
        except EmbeddingsError as exc:
            # No index, a model that cannot load: say what to fix and keep reading.
            say(f"quotebot: {explain(exc)}")

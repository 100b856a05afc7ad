"""What renderers hand to the Telegram edge: messages with buttons, and inline results."""

from __future__ import annotations

from dataclasses import dataclass

from bot.render.split import split_message


@dataclass(frozen=True)
class Button:
    """An inline keyboard button: callback data or a URL."""

    text: str
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Reply:
    """One Telegram message: HTML text and the inline keyboard under it."""

    html: str
    buttons: tuple[tuple[Button, ...], ...] = ()


@dataclass(frozen=True)
class InlineItem:
    """One inline-mode result: an id, what the picker shows, and the HTML message it inserts."""

    id: str
    title: str
    description: str
    html: str


def replies(html_text: str, buttons: tuple[tuple[Button, ...], ...] = ()) -> list[Reply]:
    """Split HTML into replies, the buttons under the last one."""
    chunks = split_message(html_text)
    return [Reply(chunk, buttons if i == len(chunks) - 1 else ()) for i, chunk in enumerate(chunks)]


def fit(html_text: str) -> str:
    """Return the first message's worth of HTML (for texts meant to be one message)."""
    chunks = split_message(html_text)
    return chunks[0] if chunks else html_text

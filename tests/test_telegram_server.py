"""The test Bot API server against the real python-telegram-bot over real HTTP, and its HTML parser."""

from __future__ import annotations

import asyncio
import datetime as dtm
import html
import itertools
import json
import socket
import threading
import warnings
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar, TypeVar

import httpx
import pytest
import telegram
from hypothesis import example, given, settings
from hypothesis import strategies as st
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    InlineQueryHandler,
)

from tests.telegram_html import (
    BotApiError,
    TelegramHtmlError,
    check_text,
    find_entities,
    is_empty_text,
    parse_telegram_html,
)
from tests.telegram_server import BotApiServer, FaultKind

PREFIX = "Bad Request: can't parse entities: "

# (html, Telegram's error after "can't parse entities: "); byte offsets are UTF-8 bytes.
HTML_ERRORS = [
    ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
    ("ab <FOO>", 'Unsupported start tag "foo" at byte offset 3'),
    ("a < b", 'Unsupported start tag "" at byte offset 2'),
    ("<br/>", 'Unsupported start tag "br/" at byte offset 0'),
    ("<b>x", 'Can\'t find end tag corresponding to start tag "b"'),
    ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
    ("x</b>", "Unexpected end tag at byte offset 1"),
    ("😀</i>", "Unexpected end tag at byte offset 4"),
    ("中文<b", "Unclosed start tag at byte offset 6"),
    ('<a href="x', "Unclosed start tag at byte offset 0"),
    ("<b x", 'Unclosed start tag "b" at byte offset 0'),
    ("<b>x</b y>", "Unclosed end tag at byte offset 4"),
    ("<b =1>x</b>", 'Empty attribute name in the tag "b" at byte offset 0'),
    ('<a href="u"/>x</a>', 'Empty attribute name in the tag "a" at byte offset 0'),
    ("<a href=a/b>x</a>", "Unexpected end of name token at byte offset 8"),
    ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    ('<span class="x">x</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
    (
        "a&#xD800;b",
        "Text contains invalid Unicode characters after decoding HTML entities, "
        "check for unmatched surrogate code units",
    ),
]

# (html, text after parsing, entities as the Bot API returns them)
HTML_VALID: list[tuple[str, str, list[dict[str, Any]]]] = [
    ("<b>粗</b>体", "粗体", [{"type": "bold", "offset": 0, "length": 1}]),
    ("😀<b>é😀</b>", "😀é😀", [{"type": "bold", "offset": 2, "length": 3}]),
    ("<B>x</B>", "x", [{"type": "bold", "offset": 0, "length": 1}]),
    ("<b>x</>", "x", [{"type": "bold", "offset": 0, "length": 1}]),
    (
        "&lt;b&gt; &amp; &quot; &#20013;&#x6587; &nbsp; a & b > c &unknown;",
        '<b> & " 中文 &nbsp; a & b > c &unknown;',
        [],
    ),
    (
        "<strong>a</strong><em>b</em><ins>c</ins><del>d</del><strike>e</strike><s>f</s><u>g</u>"
        '<tg-spoiler>h</tg-spoiler><span class="tg-spoiler">i</span>',
        "abcdefghi",
        [
            {"type": "bold", "offset": 0, "length": 1},
            {"type": "italic", "offset": 1, "length": 1},
            {"type": "underline", "offset": 2, "length": 1},
            {"type": "strikethrough", "offset": 3, "length": 3},
            {"type": "underline", "offset": 6, "length": 1},
            {"type": "spoiler", "offset": 7, "length": 2},
        ],
    ),
    (
        '<a href="https://example.com/a?b=1&amp;c=2">link</a>',
        "link",
        [{"type": "text_link", "offset": 0, "length": 4, "url": "https://example.com/a?b=1&c=2"}],
    ),
    (
        "<a href='https://x.org'>x</a>",
        "x",
        [{"type": "text_link", "offset": 0, "length": 1, "url": "https://x.org/"}],
    ),
    ("<a href='javascript:alert(1)'>x</a>", "x", []),
    (
        '<pre><code class="language-python">print(1)</code></pre>',
        "print(1)",
        [{"type": "pre", "offset": 0, "length": 8, "language": "python"}],
    ),
    ("<pre><code>x</code></pre>", "x", [{"type": "pre", "offset": 0, "length": 1}]),
    ('<code class="language-go">x</code>', "x", [{"type": "code", "offset": 0, "length": 1}]),
    ("<code>a<b>b</b></code>", "ab", [{"type": "code", "offset": 0, "length": 2}]),
    (
        "<blockquote expandable>长<b>文</b></blockquote>",
        "长文",
        [
            {"type": "expandable_blockquote", "offset": 0, "length": 2},
            {"type": "bold", "offset": 1, "length": 1},
        ],
    ),
    (
        "<blockquote>a<blockquote>b</blockquote></blockquote>",
        "ab",
        [{"type": "blockquote", "offset": 0, "length": 2}],
    ),
    (
        "<b>ab<a href='https://x.org/'>cd</a>ef</b>",
        "abcdef",
        [
            {"type": "bold", "offset": 0, "length": 2},
            {"type": "text_link", "offset": 2, "length": 2, "url": "https://x.org/"},
            {"type": "bold", "offset": 2, "length": 2},
            {"type": "bold", "offset": 4, "length": 2},
        ],
    ),
    ("  \n<b>x</b>  \n", "x", [{"type": "bold", "offset": 0, "length": 1}]),
    ("<b> x</b>", " x", [{"type": "bold", "offset": 0, "length": 2}]),
    ("<b></b>x", "x", []),
    ("a\r\nb\tc", "a\nb c", []),
]


@pytest.mark.parametrize(("html", "reason"), HTML_ERRORS)
def test_html_errors_match_telegram(html: str, reason: str) -> None:
    with pytest.raises(TelegramHtmlError) as caught:
        parse_telegram_html(html)
    assert caught.value.description == PREFIX + reason
    assert caught.value.reason == reason
    assert caught.value.status == 400


@pytest.mark.parametrize(("html", "text", "entities"), HTML_VALID)
def test_html_parses_like_telegram(html: str, text: str, entities: list[dict[str, Any]]) -> None:
    assert parse_telegram_html(html) == (text, entities)


@pytest.mark.parametrize(
    ("text", "parse_mode", "caption", "error"),
    [
        ("", "HTML", False, "Bad Request: message text is empty"),
        ("  \n ", None, False, "Bad Request: text must be non-empty"),
        ("<b> </b><i></i>", "HTML", False, "Bad Request: text must be non-empty"),
        ("a" * 4097, None, False, "Bad Request: message is too long"),
        ("a" * 32769, None, False, "Bad Request: text is too long"),
        ("x", "bogus", False, "Bad Request: unsupported parse_mode"),
        ("c" * 1025, None, True, "Bad Request: message caption is too long"),
    ],
)
def test_text_limits(text: str, parse_mode: str | None, caption: bool, error: str) -> None:
    with pytest.raises(BotApiError) as caught:
        check_text(text, parse_mode, caption=caption)
    assert caught.value.description == error


def test_limits_count_code_points_after_parsing() -> None:
    assert len(check_text("😀" * 4096)[0]) == 4096  # 8192 UTF-16 units still pass
    assert check_text("&amp;" * 4096, "html")[0] == "&" * 4096  # 20480 raw bytes, 4096 after parsing
    assert check_text("c" * 1024, None, caption=True)[0] == "c" * 1024
    assert check_text("", None, caption=True) == ("", [])


def test_user_text_entities_are_found_like_clients_do() -> None:
    assert find_entities("/start@quotebot_test abc") == [{"type": "bot_command", "offset": 0, "length": 20}]
    assert find_entities("问 @quotebot_test 吗") == [{"type": "mention", "offset": 2, "length": 14}]
    assert find_entities("a/b email@x.org") == []


# ---------------------------------------------------------------------- real PTB over HTTP


@pytest.fixture
def server() -> Iterator[BotApiServer]:
    with BotApiServer() as running:
        yield running


@pytest.fixture
async def bot(server: BotApiServer) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(
        server.token, base_url=server.base_url, base_file_url=server.base_file_url
    ) as client:
        yield client


def build_application(server: BotApiServer) -> Application:  # type: ignore[type-arg]
    builder = Application.builder().token(server.token)
    return builder.base_url(server.base_url).base_file_url(server.base_file_url).build()


def keyboard(*data: str) -> telegram.InlineKeyboardMarkup:
    return telegram.InlineKeyboardMarkup([[telegram.InlineKeyboardButton(d, callback_data=d) for d in data]])


def seconds(retry_after: int | dtm.timedelta) -> float:
    return retry_after.total_seconds() if isinstance(retry_after, dtm.timedelta) else float(retry_after)


async def test_get_me_and_a_send_message_round_trip(server: BotApiServer, bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert (me.is_bot, me.username, me.id, me.supports_inline_queries) == (
        True,
        "quotebot_test",
        123456,
        True,
    )
    server.add_chat(7)
    sent = await bot.send_message(
        7, "<b>台北</b> 101 &amp; <i>x</i>", parse_mode="HTML", reply_markup=keyboard("more")
    )
    assert sent.text == "台北 101 & x"
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 0, 2), ("italic", 9, 1)]
    assert sent.reply_markup == keyboard("more")
    assert sent.from_user is not None and sent.from_user.id == me.id and sent.chat.id == 7
    assert sent.date.year >= 2024  # Unix seconds, not milliseconds
    [stored] = server.chat_messages(7)
    assert (
        stored["text"] == "台北 101 & x"
        and stored["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "more"
    )
    [call] = server.calls("sendMessage")
    assert call.params["chat_id"] == 7 and call.params["parse_mode"] == "HTML"  # form fields decoded to types
    assert call.params["reply_markup"] == {"inline_keyboard": [[{"text": "more", "callback_data": "more"}]]}


async def test_errors_surface_in_ptb_with_telegrams_text(server: BotApiServer, bot: telegram.Bot) -> None:
    async def refused(call: Any) -> str:
        with pytest.raises(BadRequest) as caught:
            await call
        return caught.value.message.lower()

    assert await refused(bot.send_message(99, "x")) == "chat not found"
    server.add_chat(7)
    assert await refused(bot.send_message(7, "<foo>x</foo>", parse_mode="HTML")) == (
        'can\'t parse entities: unsupported start tag "foo" at byte offset 0'
    )
    assert await refused(bot.send_message(7, "x", reply_markup=keyboard("d" * 65))) == "button_data_invalid"
    assert (
        await refused(bot.send_message(7, "x", reply_to_message_id=42)) == "message to be replied not found"
    )
    assert await refused(bot.send_message(7, "a" * 4097)) == "message is too long"
    assert await refused(bot.send_message(7, " <i> </i> ", parse_mode="HTML")) == "text must be non-empty"
    assert await refused(bot.send_chat_action(7, "dancing")) == "wrong parameter action in request"
    assert await refused(bot.edit_message_text("y", 7, 5)) == "message to edit not found"
    assert await refused(bot.delete_message(7, 5)) == "message to delete not found"
    sent = await bot.send_message(7, "<b>same</b>", parse_mode="HTML")
    assert (
        await refused(bot.edit_message_text("<b>same</b>", 7, sent.message_id, parse_mode="HTML"))
    ).startswith("message is not modified: specified new message content")
    server.block_user(7)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(7, "x")
    assert all(not c.ok for c in server.calls("sendMessage")[:-1] if c.params.get("text") != "<b>same</b>")


async def test_edits_and_deletes_change_the_chat(server: BotApiServer, bot: telegram.Bot) -> None:
    server.add_chat(7)
    first = await bot.send_message(7, "one", reply_markup=keyboard("a", "b"))
    second = await bot.send_message(7, "two", reply_to_message_id=first.message_id)
    assert second.reply_to_message is not None and second.reply_to_message.text == "one"
    edited = await bot.edit_message_text("<i>uno</i>", 7, first.message_id, parse_mode="HTML")
    assert isinstance(edited, telegram.Message) and edited.edit_date is not None
    assert edited.reply_markup is None  # editing text without reply_markup drops the keyboard, as in Telegram
    await bot.edit_message_reply_markup(7, first.message_id, reply_markup=keyboard("c"))
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_reply_markup(7, first.message_id, reply_markup=keyboard("c"))
    assert await bot.delete_message(7, second.message_id) is True
    [only] = server.chat_messages(7)
    assert only["text"] == "uno" and only["entities"] == [{"type": "italic", "offset": 0, "length": 3}]
    assert only["reply_markup"] == {"inline_keyboard": [[{"text": "c", "callback_data": "c"}]]}
    assert await bot.send_chat_action(7, "typing") is True
    assert server.chat_actions(7) == ["typing"]


async def test_get_updates_confirms_by_offset_and_long_polls(server: BotApiServer, bot: telegram.Bot) -> None:
    first = server.add_text("/start", user_id=5)
    server.add_text("你好 @quotebot_test", user_id=5)
    updates = await bot.get_updates(timeout=0)
    assert [u.update_id for u in updates] == [first["update_id"], first["update_id"] + 1]
    command, mention = (u.message for u in updates)
    assert command is not None and mention is not None and command.from_user is not None
    assert command.entities[0].type == "bot_command" and command.text == "/start"
    assert mention.entities[0].type == "mention"
    assert command.from_user.language_code == "zh-hans"
    assert len(await bot.get_updates(timeout=0)) == 2  # not confirmed yet
    assert await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0) == ()
    assert server.pending_updates() == []

    # A long poll is held open while nothing is queued, and the first update that arrives ends it
    # (the wait_for bound only keeps a broken server from hanging the suite; it is not a speed target).
    poll = asyncio.ensure_future(bot.get_updates(offset=updates[-1].update_id + 1, timeout=30))
    await asyncio.sleep(0.3)
    assert not poll.done()
    server.add_text("later", user_id=5)
    [late] = await asyncio.wait_for(poll, timeout=20)
    assert late.message is not None and late.message.text == "later"

    empty = asyncio.ensure_future(bot.get_updates(offset=late.update_id + 1, timeout=3))
    await asyncio.sleep(0.3)
    assert not empty.done()
    assert await empty == ()
    assert len(await bot.get_updates(limit=1, timeout=0)) in (0, 1)


async def test_a_second_poller_and_a_webhook_conflict(server: BotApiServer, bot: telegram.Bot) -> None:
    async with httpx.AsyncClient(base_url=f"{server.base_url}{server.token}") as client:
        waiting = asyncio.create_task(client.post("/getUpdates", data={"timeout": "5"}))
        await asyncio.sleep(0.3)
        assert await bot.get_updates(timeout=0) == ()
        first = await waiting
        assert first.status_code == 409
        assert first.json()["description"] == (
            "Conflict: terminated by other getUpdates request; "
            "make sure that only one bot instance is running"
        )
    assert await bot.set_webhook("http://127.0.0.1:9/hook") is True
    with pytest.raises(Conflict) as caught:
        await bot.get_updates(timeout=0)
    assert caught.value.message == (
        "Conflict: can't use getUpdates method while webhook is active; "
        "use deleteWebhook to delete the webhook first"
    )
    assert (await bot.get_webhook_info()).url == "http://127.0.0.1:9/hook"
    assert await bot.delete_webhook() is True
    assert await bot.get_updates(timeout=0) == ()


class _Receiver(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[dict[str, str], dict[str, Any]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append((dict(self.headers), json.loads(body)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_webhook_posts_updates_with_the_secret_header(server: BotApiServer, bot: telegram.Bot) -> None:
    _Receiver.seen = []
    receiver = HTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        assert await bot.set_webhook(url, secret_token="s3cret-token_1") is True
        update = server.add_text("hello", user_id=8)
        for _ in range(100):
            if _Receiver.seen:
                break
            await asyncio.sleep(0.05)
        [(headers, body)] = _Receiver.seen
        assert headers["Content-Type"] == "application/json"
        assert headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret-token_1"
        assert body == update
        assert [d.status for d in server.deliveries()] == [200]
        assert (await bot.get_webhook_info()).pending_update_count == 0
    finally:
        receiver.shutdown()
        receiver.server_close()
    with pytest.raises(BadRequest, match=r"(?i)secret token contains unallowed characters"):
        await bot.set_webhook(url, secret_token="not allowed!")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_real_ptb_webhook_receives_updates(server: BotApiServer) -> None:
    async def echo(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"got {update.effective_message.text}")

    application = build_application(server)
    application.add_handler(CommandHandler("start", echo))
    port = free_port()
    updater = application.updater
    assert updater is not None
    async with application:
        await updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="hook",
            webhook_url=f"http://127.0.0.1:{port}/hook",
            secret_token="topsecret",
        )
        await application.start()
        try:
            server.add_text("/start", user_id=9)
            [call] = await server.wait_for_async("sendMessage", timeout=10)
            assert call.result["text"] == "got /start"
        finally:
            await updater.stop()
            await application.stop()
    assert [d.status for d in server.deliveries()] == [200]
    assert server.deliveries()[0].secret_token == "topsecret"


E = TypeVar("E", bound=BaseException)


async def send_into_fault(
    server: BotApiServer,
    bot: telegram.Bot,
    error: type[E],
    text: str,
    kind: FaultKind,
    read_timeout: float | None = None,
    **fault: Any,
) -> pytest.ExceptionInfo[E]:
    """Inject a one-shot sendMessage fault, send text to chat 7 through it, and return what it raised."""
    server.add_chat(7)
    server.inject_fault("sendMessage", kind, **fault)
    timeout = {} if read_timeout is None else {"read_timeout": read_timeout}
    with pytest.raises(error) as caught:
        await bot.send_message(7, text, **timeout)
    return caught


async def test_faults_surface_as_retry_after_and_network_errors(
    server: BotApiServer, bot: telegram.Bot
) -> None:
    caught = await send_into_fault(server, bot, RetryAfter, "x", "429", retry_after=3)
    with warnings.catch_warnings():  # PTB 22 warns that retry_after becomes a timedelta
        warnings.simplefilter("ignore")
        assert seconds(caught.value.retry_after) == 3
    assert (await bot.send_message(7, "x")).text == "x"  # one-shot
    server.inject_fault("SENDMESSAGE", "500")
    with pytest.raises(NetworkError):
        await bot.send_message(7, "x")
    server.inject_fault("sendMessage", "drop")
    with pytest.raises(NetworkError):
        await bot.send_message(7, "x")
    assert [m["text"] for m in server.chat_messages(7)] == ["x"]
    assert [c.status for c in server.calls("sendMessage")] == [429, 200, 500, 0]
    body = server.calls("sendMessage")[0].response
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }
    server.inject_fault("getMe", "429", retry_after=2)
    raw = httpx.post(f"{server.base_url}{server.token}/getMe")
    assert raw.status_code == 429 and raw.headers["Retry-After"] == "2"


async def test_drop_unread_closes_before_the_body_is_read(server: BotApiServer, bot: telegram.Bot) -> None:
    caught = await send_into_fault(server, bot, NetworkError, "lost", "drop_unread")
    assert isinstance(caught.value.__cause__, (httpx.ReadError, httpx.RemoteProtocolError))
    assert server.chat_messages(7) == []
    assert [(c.status, c.params) for c in server.calls("sendMessage")] == [(0, {})]
    assert (await bot.send_message(7, "next")).text == "next"  # one-shot


async def test_drop_after_carries_the_request_out_and_loses_the_answer(
    server: BotApiServer, bot: telegram.Bot
) -> None:
    caught = await send_into_fault(server, bot, NetworkError, "delivered", "drop_after")
    assert isinstance(caught.value.__cause__, (httpx.ReadError, httpx.RemoteProtocolError))
    assert [m["text"] for m in server.chat_messages(7)] == ["delivered"]
    [call] = server.calls("sendMessage")
    assert call.status == 0 and call.response is not None and call.response["result"]["text"] == "delivered"


async def test_slow_answer_times_out_after_the_request_was_carried_out(
    server: BotApiServer, bot: telegram.Bot
) -> None:
    caught = await send_into_fault(server, bot, TimedOut, "late", "slow", read_timeout=0.5, delay=2.0)
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert [m["text"] for m in server.chat_messages(7)] == ["late"]
    assert (await bot.send_message(7, "on time")).text == "on time"


async def test_offline_refuses_connections_until_online(server: BotApiServer, bot: telegram.Bot) -> None:
    server.add_chat(7)
    url = server.url
    server.go_offline()
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(7, "refused")
    assert isinstance(caught.value.__cause__, httpx.ConnectError)
    assert server.calls("sendMessage") == []
    server.go_online()
    assert server.url == url
    assert (await bot.send_message(7, "back")).text == "back"


async def test_offline_after_next_update_cuts_right_after_delivering_it(server: BotApiServer) -> None:
    root = f"{server.base_url}{server.token}"
    server.go_offline_after_next_update()
    async with httpx.AsyncClient() as client:
        empty = await client.post(f"{root}/getUpdates", data={"timeout": "0"})
        assert empty.json()["result"] == []  # no update yet: stays online
        server.add_text("hello", user_id=3)
        got = await client.post(f"{root}/getUpdates", data={"timeout": "0"})
        assert [u["message"]["text"] for u in got.json()["result"]] == ["hello"]
        with pytest.raises(httpx.ConnectError):
            await client.post(f"{root}/getMe", headers={"Connection": "close"})
    server.go_online()
    assert httpx.post(f"{root}/getMe").json()["ok"] is True


def test_raw_http_routes_bodies_and_auth(server: BotApiServer) -> None:
    root = f"{server.base_url}{server.token}"
    assert httpx.post(f"{server.base_url}123:WRONG/getMe").json() == {
        "ok": False,
        "error_code": 401,
        "description": "Unauthorized",
    }
    missing = httpx.post(f"{root}/fooBar")
    assert missing.status_code == 404 and missing.json()["description"] == "Not Found: method not found"
    assert httpx.get(f"{root}/GETME").json()["result"]["username"] == "quotebot_test"
    server.add_chat(7)
    by_json = httpx.post(f"{root}/sendmessage", json={"chat_id": 7, "text": "<b>j</b>", "parse_mode": "HTML"})
    assert by_json.json()["result"]["entities"] == [{"type": "bold", "offset": 0, "length": 1}]
    by_form = httpx.post(f"{root}/sendMessage", data={"chat_id": "7", "text": "123", "entities": "[]"})
    assert by_form.json()["result"]["text"] == "123"  # text stays a string even when it looks like JSON
    broken = httpx.post(f"{root}/sendMessage", data={"chat_id": "7", "text": "x", "reply_markup": "{nope"})
    assert broken.json()["description"] == "Bad Request: can't parse reply keyboard markup JSON object"

    def chunks() -> Iterator[bytes]:
        yield b'{"chat_id": 7, '
        yield '"text": "分块"}'.encode()

    json_type = {"Content-Type": "application/json"}
    chunked = httpx.post(f"{root}/sendMessage", content=chunks(), headers=json_type)
    assert chunked.request.headers["Transfer-Encoding"] == "chunked"
    assert chunked.json()["result"]["text"] == "分块"


async def test_document_upload_get_file_and_download(server: BotApiServer, bot: telegram.Bot) -> None:
    server.add_chat(7)
    data = "<html>台北101\r\n</html>".encode() + bytes(range(256))
    sent = await bot.send_document(7, data, filename="报道.html", caption="<b>新</b>", parse_mode="HTML")
    assert sent.document is not None and sent.document.file_name == "报道.html"
    assert sent.document.file_size == len(data) and sent.document.mime_type == "text/html"
    assert sent.caption == "新" and sent.caption_entities[0].type == "bold"
    file = await bot.get_file(sent.document.file_id)
    assert file.file_path is not None and file.file_path.startswith(server.base_file_url)
    assert bytes(await file.download_as_bytearray()) == data

    update = server.add_document("pages.zip", b"PK\x03\x04zip", user_id=1001, caption="/upload")
    document = update["message"]["document"]
    assert document["mime_type"] == "application/zip" and update["message"]["caption_entities"][0][
        "type"
    ] == ("bot_command")
    incoming = await bot.get_file(document["file_id"])
    assert bytes(await incoming.download_as_bytearray()) == b"PK\x03\x04zip"
    with pytest.raises(BadRequest, match=r"(?i)invalid file_id"):
        await bot.get_file("nope")
    assert httpx.get(f"{server.base_file_url}{server.token}/documents/none").status_code == 404


async def test_callback_queries_are_answered_once(server: BotApiServer, bot: telegram.Bot) -> None:
    server.add_chat(7)
    sent = await bot.send_message(7, "q", reply_markup=keyboard("more:1"))
    with pytest.raises(ValueError):
        server.press_button(sent.message_id, "never-sent", user_id=7)
    query_id = server.press_button(sent.message_id, "more:1", user_id=7)
    [update] = await bot.get_updates(timeout=0)
    assert update.callback_query is not None and update.callback_query.id == query_id
    pressed = update.callback_query.message
    assert update.callback_query.data == "more:1"
    assert pressed is not None and pressed.message_id == sent.message_id
    with pytest.raises(BadRequest, match=r"(?i)message_too_long"):
        await bot.answer_callback_query(query_id, text="长" * 201)
    assert await bot.answer_callback_query(query_id, text="好" * 200) is True
    assert server.callback_answer(query_id) == {"text": "好" * 200}
    with pytest.raises(
        BadRequest, match=r"(?i)query is too old and response timeout expired or query id is invalid"
    ):
        await bot.answer_callback_query(query_id)


async def test_inline_queries_and_their_limits(server: BotApiServer, bot: telegram.Bot) -> None:
    query_id = server.add_inline_query("台北101", user_id=3)
    [update] = await bot.get_updates(timeout=0)
    assert update.inline_query is not None and update.inline_query.query == "台北101"

    def article(i: int | str, html: str = "<b>quote</b>") -> telegram.InlineQueryResultArticle:
        content = telegram.InputTextMessageContent(html, parse_mode="HTML")
        return telegram.InlineQueryResultArticle(str(i), f"title {i}", content)

    with pytest.raises(BadRequest, match=r"(?i)too many inline query results specified"):
        await bot.answer_inline_query(query_id, [article(i) for i in range(51)])
    with pytest.raises(BadRequest, match=r"(?i)result_id_invalid"):
        await bot.answer_inline_query(query_id, [article("x" * 65)])
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.answer_inline_query(query_id, [article(1, "<b>broken")])
    with pytest.raises(BadRequest, match=r"(?i)next_offset_invalid"):
        await bot.answer_inline_query(query_id, [article(1)], next_offset="9" * 65)
    assert await bot.answer_inline_query(query_id, [article(i) for i in range(50)], next_offset="50") is True
    answer = server.inline_answer(query_id)
    assert answer is not None and len(answer["results"]) == 50 and answer["next_offset"] == "50"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_inline_query(query_id, [article(1)])


async def test_commands_are_stored_per_scope_and_language(server: BotApiServer, bot: telegram.Bot) -> None:
    public = [telegram.BotCommand("start", "开始"), telegram.BotCommand("help", "帮助")]
    admin = [*public, telegram.BotCommand("reindex", "重建索引")]
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.set_my_commands(admin, scope=telegram.BotCommandScopeChat(1001))
    server.add_chat(1001)
    assert await bot.set_my_commands(public) is True
    assert await bot.set_my_commands([telegram.BotCommand("start", "Start")], language_code="en") is True
    assert await bot.set_my_commands(admin, scope=telegram.BotCommandScopeChat(1001)) is True
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([telegram.BotCommand("Reindex", "x")])
    assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
    assert [c.command for c in await bot.get_my_commands(scope=telegram.BotCommandScopeChat(1001))] == [
        "start",
        "help",
        "reindex",
    ]
    assert server.commands({"type": "chat", "chat_id": 1001})[-1] == {
        "command": "reindex",
        "description": "重建索引",
    }
    assert [c["command"] for c in server.menu(1001)] == ["start", "help", "reindex"]
    assert [c["command"] for c in server.menu(5)] == ["start", "help"]
    assert [c["command"] for c in server.menu(5, language_code="en")] == ["start"]
    assert await bot.delete_my_commands(scope=telegram.BotCommandScopeChat(1001)) is True
    assert [c["command"] for c in server.menu(1001)] == ["start", "help"]


async def test_a_real_application_answers_over_long_polling(server: BotApiServer) -> None:
    async def start(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html(f"<b>hi</b> {context.args}", reply_markup=keyboard("ctx:1"))

    async def press(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.callback_query is not None
        await update.callback_query.answer("ok")
        await update.callback_query.edit_message_text("pressed")

    async def inline(update: telegram.Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.inline_query is not None
        content = telegram.InputTextMessageContent("<i>quote</i>", parse_mode="HTML")
        await update.inline_query.answer([telegram.InlineQueryResultArticle("1", "t", content)])

    application = build_application(server)
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(press))
    application.add_handler(InlineQueryHandler(inline))
    updater = application.updater
    assert updater is not None
    async with application:
        await updater.start_polling(poll_interval=0.0, timeout=1)
        await application.start()
        try:
            server.add_text("/start abc", user_id=11)
            [call] = await server.wait_for_async("sendMessage")
            assert call.result["text"] == "hi ['abc']"
            query_id = server.press_button(call.result["message_id"], "ctx:1", user_id=11)
            await server.wait_for_async("editMessageText")
            inline_id = server.add_inline_query("q", user_id=11)
            await server.wait_for_async("answerInlineQuery")
        finally:
            await updater.stop()
            await application.stop()
    assert server.callback_answer(query_id) == {"text": "ok"}
    assert server.inline_answer(inline_id) is not None
    assert [m["text"] for m in server.chat_messages(11)] == ["pressed"]
    assert server.pending_updates() == []
    assert [c.method for c in server.calls()][:2] == ["getMe", "deleteWebhook"]


def test_wait_for_times_out_with_the_recent_calls(server: BotApiServer) -> None:
    httpx.post(f"{server.base_url}{server.token}/getMe")
    with pytest.raises(TimeoutError, match="recent calls: getMe 200"):
        server.wait_for("sendMessage", timeout=0.2)


def test_privacy_mode_hides_unaddressed_group_messages() -> None:
    with BotApiServer(privacy_mode=True) as server:
        server.add_text("plain chatter", user_id=2, chat_id=-100, chat_type="supergroup")
        server.add_text("/ask@quotebot_test 问题", user_id=2, chat_id=-100, chat_type="supergroup")
        server.add_text("hey @quotebot_test", user_id=2, chat_id=-100, chat_type="supergroup")
        server.add_text("/help@other_bot", user_id=2, chat_id=-100, chat_type="supergroup")
        server.add_text("/help", user_id=2, chat_id=-100, chat_type="supergroup")
        seen = [u["message"]["text"] for u in server.pending_updates()]
        assert seen == ["/ask@quotebot_test 问题", "/help"]


async def test_aio_rate_limiter_recovers_from_an_injected_429(
    server: BotApiServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.add_chat(7)
    server.inject_fault("sendMessage", "429", retry_after=1)
    limited = ExtBot(
        server.token,
        base_url=server.base_url,
        base_file_url=server.base_file_url,
        rate_limiter=AIORateLimiter(max_retries=1),
    )
    slept: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float, *args: Any) -> Any:
        slept.append(delay)
        return await real_sleep(delay, *args)

    monkeypatch.setattr(asyncio, "sleep", recording_sleep)
    async with limited:
        sent = await limited.send_message(7, "after the flood")
    assert sent.text == "after the flood"
    assert any(delay >= 1.0 for delay in slept)  # it waited the retry_after Telegram asked for
    assert [c.status for c in server.calls("sendMessage")] == [429, 200]


async def test_a_user_seen_only_in_a_group_is_unreachable(server: BotApiServer, bot: telegram.Bot) -> None:
    server.add_text("hi all", user_id=21, chat_id=-1002, chat_type="supergroup")
    with pytest.raises(Forbidden, match=r"(?i)bot can't initiate conversation with a user"):
        await bot.send_message(21, "hello")
    assert (await bot.send_message(-1002, "hello group")).chat.type == "supergroup"


@settings(max_examples=200, deadline=None)
@given(st.text())
@example("\ufeff")  # invisible only: a caption Telegram stores as empty
def test_escaped_text_parses_back_to_itself(text: str) -> None:
    plain = check_text(text, None, caption=True)  # caption mode: empty text is allowed
    parsed, entities = parse_telegram_html(html.escape(text, quote=True))
    assert ("" if is_empty_text(parsed) else parsed, entities) == (plain[0], [])


_TAG = st.sampled_from(["b", "i", "u", "s", "code", "tg-spoiler", "blockquote", 'a href="https://e.org/"'])


@st.composite
def markup(draw: st.DrawFn, depth: int = 0) -> str:
    parts = []
    for _ in range(draw(st.integers(0, 3))):
        if depth < 3 and draw(st.booleans()):
            tag = draw(_TAG)
            parts.append(f"<{tag}>{draw(markup(depth + 1))}</{tag.split()[0]}>")
        else:
            parts.append(html.escape(draw(st.text(max_size=5))))
    return "".join(parts)


@settings(max_examples=200, deadline=None)
@given(markup())
def test_well_formed_markup_gives_entities_inside_the_text(source: str) -> None:
    text, entities = parse_telegram_html(source)
    size = len(text.encode("utf-16-le")) // 2
    for entity in entities:
        assert entity["length"] > 0 and entity["offset"] >= 0 and entity["offset"] + entity["length"] <= size
    keys = [(e["offset"], -e["length"]) for e in entities]
    assert keys == sorted(keys)
    quotes = [e for e in entities if "blockquote" in e["type"]]
    assert all(a["offset"] + a["length"] <= b["offset"] for a, b in itertools.pairwise(quotes))


async def test_removed_bot_and_flood_control_refuse_sends() -> None:
    with BotApiServer(flood_control=True) as server:
        server.add_text("hi", user_id=2, chat_id=-100, chat_type="supergroup")
        server.add_chat(3)
        async with telegram.Bot(server.token, base_url=server.base_url) as bot:
            for i in range(20):
                await bot.send_message(-100, f"m{i}")
            with pytest.raises(RetryAfter):
                await bot.send_message(-100, "one too many")
            assert (await bot.send_message(3, "private chats are not capped per minute")).chat.id == 3
            server.set_member_status(-100, server.bot_id, "kicked")
            with pytest.raises(Forbidden, match=r"(?i)bot was kicked from the supergroup chat"):
                await bot.send_message(-100, "x")
        body = server.calls("sendMessage")[20].response
        assert body is not None and body["error_code"] == 429 and body["parameters"]["retry_after"] >= 59


async def test_deep_links_and_link_preview_options(server: BotApiServer, bot: telegram.Bot) -> None:
    update = server.add_deep_link("q-abc_1", user_id=4)
    assert update["message"]["text"] == "/start q-abc_1"
    with pytest.raises(ValueError):
        server.add_deep_link("有 空格")
    sent = await bot.send_message(4, "x", link_preview_options=telegram.LinkPreviewOptions(is_disabled=True))
    assert sent.link_preview_options == telegram.LinkPreviewOptions(is_disabled=True)

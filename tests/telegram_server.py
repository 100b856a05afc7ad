"""A faithful local Telegram Bot API server for tests: real HTTP, real limits, Telegram's exact errors.

with BotApiServer() as server:                       # 127.0.0.1, a free port
    app = Application.builder().token(server.token).base_url(server.base_url)
          .base_file_url(server.base_file_url).build()
    server.add_chat(ADMIN_ID)                        # setMyCommands(scope=chat) needs a known chat
    since = len(server.calls())
    server.add_text("/ask 问题", user_id=5)           # queued for getUpdates (or POSTed to a webhook)
    [reply] = await server.wait_for_async("sendMessage", since=since)
    server.chat_messages(5)                          # the bot's messages as they are now

Faults (one-shot per call, see inject_fault): 429 with retry_after, 500, a connection dropped before
the body is read ("drop_unread"), after it was read but before anything ran ("drop"), after the
request was carried out ("drop_after"), and a response held back past the client's read timeout
("slow"). go_offline()/go_online() refuse connections altogether (the client sees a connect error).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import json
import logging
import math
import mimetypes
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.telegram_html import (
    BotApiError,
    TelegramHtmlError,
    check_text,
    find_entities,
    parse_telegram_html,
)

__all__ = [
    "BotApiError",
    "BotApiServer",
    "Call",
    "Delivery",
    "TelegramHtmlError",
    "Upload",
    "parse_telegram_html",
]

_LOG = logging.getLogger(__name__)

CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT_POLLER = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
STALE_QUERY = "Bad Request: query is too old and response timeout expired or query ID is invalid"
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
# Updates Telegram sends when allowed_updates is empty or never set.
DEFAULT_UPDATES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
    }
)
_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "results",
        "commands",
        "scope",
        "allowed_updates",
        "link_preview_options",
        "reply_parameters",
        "button",
        "menu_button",
        "media",
    }
)
_INT_FIELDS = frozenset(
    {
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "cache_time",
        "user_id",
        "reply_to_message_id",
        "max_connections",
        "message_thread_id",
        "from_chat_id",
    }
)
_BOOL_FIELDS = frozenset(
    {
        "disable_notification",
        "protect_content",
        "show_alert",
        "is_personal",
        "drop_pending_updates",
        "disable_web_page_preview",
        "allow_sending_without_reply",
        "disable_content_type_detection",
        "for_channels",
        "allow_paid_broadcast",
    }
)
_INLINE_TYPES = frozenset(
    {
        "article",
        "photo",
        "gif",
        "mpeg4_gif",
        "video",
        "audio",
        "voice",
        "document",
        "location",
        "venue",
        "contact",
        "game",
        "sticker",
    }
)
_EARLY_TEXT_ERRORS = frozenset(
    {
        "Bad Request: message text is empty",
        "Bad Request: text is too long",
        "Bad Request: unsupported parse_mode",
    }
)
_BUTTON_ERROR = "Bad Request: can't parse inline keyboard button: "
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_BYTES = 50 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    filename: str
    data: bytes
    content_type: str


@dataclass(frozen=True)
class Call:
    """One Bot API request as the server saw it: decoded params, HTTP status and JSON response."""

    method: str
    params: dict[str, Any]
    status: int
    response: dict[str, Any] | None
    at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        """Tell whether the call succeeded."""
        return self.status == 200

    @property
    def result(self) -> Any:
        """Return the `result` of a successful call (None otherwise)."""
        return (self.response or {}).get("result")

    @property
    def description(self) -> str | None:
        """Return the error description of a failed call."""
        return (self.response or {}).get("description")


@dataclass(frozen=True)
class Delivery:
    """One webhook POST: the update sent and what the receiver answered (0 when unreachable)."""

    update_id: int
    status: int
    secret_token: str | None
    at: float = field(default_factory=time.time)


FaultKind = Literal["429", "500", "drop", "drop_unread", "drop_after", "slow"]
FAULT_KINDS = frozenset(("429", "500", "drop", "drop_unread", "drop_after", "slow"))
_AFTER_DISPATCH = frozenset(("drop_after", "slow"))  # the request is carried out, then the answer fails


@dataclass
class _Fault:
    method: str
    kind: str
    retry_after: int
    remaining: int
    delay: float = 0.0


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    file_name: str
    mime_type: str


class _Drop(Exception):
    """Close the connection without an answer (an injected network fault)."""


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's backlog of 5 overflowed when a bot opened dozens of connections at once (the
    # kernel fell back to SYN cookies and the bot saw resets Telegram would not send).
    request_queue_size = 128
    api: BotApiServer

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)
        self.open: set[socket.socket] = set()
        self.open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        """Remember the connection, so going offline can cut it."""
        with self.open_lock:
            self.open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Forget a finished connection."""
        with self.open_lock:
            self.open.discard(request)
        super().shutdown_request(request)

    def cut_connections(self, keep: Any = None) -> None:
        """Close every open connection but `keep` at once (clients see a reset or an early EOF)."""
        with self.open_lock:
            connections = [sock for sock in self.open if sock is not keep]
        for sock in connections:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid the 40 ms delayed-ACK stall
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet; the token is in every path."""

    def handle_one_request(self) -> None:
        """Serve one request; a client that resets an idle keep-alive connection has simply gone."""
        try:
            super().handle_one_request()
        except ConnectionResetError:
            self.close_connection = True

    def do_POST(self) -> None:
        """Serve one Bot API request."""
        self.server.api._serve(self)

    do_GET = do_POST


def _canonical(method: str) -> str:
    return method[:1].lower() + method[1:]


def _json_field(name: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        what = {"reply_markup": "reply keyboard markup"}.get(name, name.replace("_", " "))
        raise BotApiError(f"Bad Request: can't parse {what} JSON object") from None


def _typed(params: dict[str, Any]) -> dict[str, Any]:
    """Decode form fields the way the Bot API does: non-string fields arrive as JSON strings."""
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name in _JSON_FIELDS:
            out[name] = _json_field(name, value)
        elif name in _INT_FIELDS and isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            out[name] = int(value)
        elif name in _BOOL_FIELDS and isinstance(value, str):
            out[name] = value.strip().lower() in ("true", "1")
        else:
            out[name] = value
    return out


def _parse_multipart(body: bytes, content_type: str) -> dict[str, Any]:
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise BotApiError("Bad Request: can't parse multipart/form-data request")
    params: dict[str, Any] = {}
    for part in body.split(b"--" + match.group(1).encode())[1:]:
        if part.startswith(b"--"):
            break
        head, _, data = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        headers = {}
        for line in head.decode("utf-8", "replace").split("\r\n"):
            key, _, value = line.partition(":")
            headers[key.strip().lower()] = value.strip()
        disposition = headers.get("content-disposition", "")
        attrs = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', disposition))
        name = attrs.get("name", "")
        if "filename" in attrs:
            filename = attrs["filename"].replace("%22", '"').replace("%0A", "\n").replace("%0D", "\r")
            kind = headers.get("content-type", "application/octet-stream")
            params[name] = Upload(filename, data, kind)
        else:
            params[name] = data.decode("utf-8", "replace")
    return params


class BotApiServer:
    """A local Bot API: serves PTB over HTTP and lets tests inject updates and read what the bot did."""

    def __init__(
        self,
        token: str = "123456:TEST",
        username: str = "quotebot_test",
        *,
        first_name: str = "Quotebot",
        privacy_mode: bool = False,
        flood_control: bool = False,
        callback_query_ttl: float | None = None,
    ) -> None:
        self.token = token
        self.username = username
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 123456
        self.first_name = first_name
        self.privacy_mode = privacy_mode
        self.callback_query_ttl = callback_query_ttl
        self.flood_control = flood_control
        self._sent_at: list[float] = []
        self._group_sent_at: dict[int, list[float]] = {}
        self._cond = threading.Condition(threading.RLock())
        self._httpd: _HTTPServer | None = None
        self._port: int | None = None
        self._offline_after_update = False
        # Called in the server's thread for every recorded call (benchmarks use it instead of polling).
        self.on_call: Callable[[Call], None] | None = None
        self._threads: list[threading.Thread] = []
        self._closing = False
        self._calls: list[Call] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(100_001)
        self._allowed_updates: frozenset[str] = DEFAULT_UPDATES
        self._poll_generation = 0
        self._webhook: dict[str, Any] | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._webhook_failures = 0
        self._webhook_retry_at = 0.0
        self._deliveries: list[Delivery] = []
        self._users: dict[int, dict[str, Any]] = {}
        self._chats: dict[int, dict[str, Any]] = {}
        self._members: dict[tuple[int, int], str] = {}
        self._blocked: set[int] = set()
        self._messages: dict[int, dict[int, dict[str, Any]]] = {}
        self._deleted: dict[int, set[int]] = {}
        self._next_message_id: dict[int, int] = {}
        self._callbacks: dict[str, dict[str, Any]] = {}
        self._inline: dict[str, dict[str, Any]] = {}
        self._query_ids = itertools.count(4_000_000_000_001)
        self._files: dict[str, _File] = {}
        self._file_ids = itertools.count(1)
        self._commands: dict[tuple[tuple[Any, ...], str], list[dict[str, str]]] = {}
        self._profile: dict[tuple[str, Any], Any] = {}
        self._actions: list[tuple[int, str, float]] = []
        self._faults: list[_Fault] = []
        self._methods: dict[str, Callable[[dict[str, Any]], Any]] = {
            name.lower(): getattr(self, "_m_" + name)
            for name in (
                "getMe",
                "getUpdates",
                "setWebhook",
                "deleteWebhook",
                "getWebhookInfo",
                "sendMessage",
                "editMessageText",
                "editMessageReplyMarkup",
                "editMessageCaption",
                "deleteMessage",
                "answerCallbackQuery",
                "sendChatAction",
                "setMyCommands",
                "getMyCommands",
                "deleteMyCommands",
                "answerInlineQuery",
                "sendDocument",
                "getFile",
                "getChat",
                "getChatMember",
                "setMyDescription",
                "getMyDescription",
                "setMyShortDescription",
                "getMyShortDescription",
                "setMyName",
                "getMyName",
                "setChatMenuButton",
                "getChatMenuButton",
                "close",
                "logOut",
            )
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Listen on 127.0.0.1 (a free port) in background threads."""
        if self._httpd is not None:
            return
        self._closing = False
        self._listen(0)
        deliver = threading.Thread(target=self._deliver_webhooks, name="bot-api-webhook", daemon=True)
        self._threads.append(deliver)
        deliver.start()

    def _listen(self, port: int) -> None:
        self._httpd = _HTTPServer(("127.0.0.1", port))
        self._httpd.api = self
        self._port = self._httpd.server_address[1]
        serve = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="bot-api", daemon=True
        )
        self._threads.append(serve)
        serve.start()

    def _unlisten(self, keep: Any = None) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        with contextlib.suppress(OSError):
            httpd.socket.shutdown(socket.SHUT_RDWR)  # on Linux, connects are refused from here on
        httpd.cut_connections(keep)
        httpd.shutdown()
        httpd.server_close()

    def stop(self) -> None:
        """Wake every long poll, stop serving and release the port."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._unlisten()
        self._port = None
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    def go_offline(self) -> None:
        """Stop listening and cut every open connection: new connections are refused until go_online()."""
        self._unlisten()

    def go_online(self) -> None:
        """Listen again on the same port after go_offline()."""
        if self._httpd is None and self._port is not None:
            self._listen(self._port)

    def go_offline_after_next_update(self) -> None:
        """Go offline right after the next getUpdates answer that carries updates has been written."""
        with self._cond:
            self._offline_after_update = True

    def __enter__(self) -> BotApiServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Return the server root, e.g. http://127.0.0.1:PORT."""
        if self._port is None:
            raise RuntimeError("BotApiServer is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """Return the value for PTB's base_url (the token is appended by PTB)."""
        return self.url + "/bot"

    @property
    def base_file_url(self) -> str:
        """Return the value for PTB's base_file_url."""
        return self.url + "/file/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        """Return the bot's User object."""
        return {"id": self.bot_id, "is_bot": True, "first_name": self.first_name, "username": self.username}

    # ------------------------------------------------------------------ HTTP

    def _serve(self, handler: _Handler) -> None:
        path = urlsplit(handler.path)
        route = unquote(path.path)
        if self._dropped_unread(handler, route):
            return
        body = self._read_body(handler)
        if route.startswith("/file/bot"):
            self._serve_file(handler, route[len("/file/bot") :])
            return
        if not route.startswith("/bot"):
            self._reply(handler, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        token, _, method = route[len("/bot") :].partition("/")
        if token != self.token:
            self._reply(handler, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        name = _canonical(method)
        params: dict[str, Any] = {}
        status, payload, headers, fault = 200, None, {}, None
        try:
            params = self._read_params(handler, path.query, body)
            payload, fault = self._dispatch(method, params)
        except _Drop:
            self._record(Call(name, params, 0, None))
            handler.close_connection = True
            return
        except BotApiError as err:
            status = err.status
            payload = {"ok": False, "error_code": err.status, "description": err.description}
            if err.retry_after is not None:
                payload["parameters"] = {"retry_after": err.retry_after}
                headers["Retry-After"] = str(err.retry_after)
        except Exception:
            _LOG.exception("test Bot API server failed on %s", name)
            status = 500
            payload = {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        self._answer(handler, Call(self._method_name(method), params, status, payload), headers, fault)

    def _answer(self, handler: _Handler, call: Call, headers: dict[str, str], fault: _Fault | None) -> None:
        """Record a carried-out call and write its answer, unless a fault loses or delays the answer."""
        if fault is not None and fault.kind == "drop_after":
            self._record(Call(call.method, call.params, 0, call.response))  # done, but nobody hears it
            handler.close_connection = True
            return
        self._record(call)
        if fault is not None and fault.kind == "slow":
            self._hold(fault.delay)
        if call.method == "getUpdates" and call.ok and call.result and self._offline_after_update:
            # Refuse and cut everything else first, so no request can slip in after this answer.
            self._offline_after_update = False
            self._unlisten(keep=handler.connection)
            headers["Connection"] = "close"
            handler.close_connection = True
        self._reply(handler, call.status, call.response, headers)

    def _dropped_unread(self, handler: _Handler, route: str) -> bool:
        """Apply a pending drop_unread fault: close the connection before reading the request body."""
        token, _, method = route.removeprefix("/bot").partition("/")
        if not route.startswith("/bot") or token != self.token or method.lower() not in self._methods:
            return False
        with self._cond:
            fault = self._next_fault(method.lower())
            if fault is None or fault.kind != "drop_unread":
                return False
            self._consume(fault)
        self._record(Call(self._method_name(method), {}, 0, None))
        handler.close_connection = True  # closing with the body unread: the client sees a reset or EOF
        return True

    def _hold(self, seconds: float) -> None:
        """Wait before answering (a slow server), but not past stop()."""
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self._closing and (left := deadline - time.monotonic()) > 0:
                self._cond.wait(left)

    @staticmethod
    def _read_body(handler: _Handler) -> bytes:
        if "chunked" in handler.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while size := int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(handler.rfile.read(size))
                handler.rfile.readline()
            while handler.rfile.readline().strip():
                pass  # trailers
            return b"".join(chunks)
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else b""

    def _method_name(self, method: str) -> str:
        handler = self._methods.get(method.lower())
        return handler.__name__.removeprefix("_m_") if handler else _canonical(method)

    def _read_params(self, handler: _Handler, query: str, body: bytes) -> dict[str, Any]:
        raw: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        content_type = handler.headers.get("Content-Type", "")
        if body and "application/json" in content_type:
            try:
                decoded = json.loads(body)
            except ValueError:
                raise BotApiError("Bad Request: can't parse JSON encoded request") from None
            if not isinstance(decoded, dict):
                raise BotApiError("Bad Request: can't parse JSON encoded request")
            raw.update(decoded)
        elif body and "multipart/form-data" in content_type:
            raw.update(_parse_multipart(body, content_type))
        elif body:
            raw.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        return _typed(raw)

    def _dispatch(self, method: str, params: dict[str, Any]) -> tuple[dict[str, Any], _Fault | None]:
        handler = self._methods.get(method.lower())
        if handler is None:
            raise BotApiError("Not Found: method not found", 404)
        fault = self._take_fault(method.lower())
        result = handler(params)
        if isinstance(result, tuple):
            return {"ok": True, "result": result[0], "description": result[1]}, fault
        return {"ok": True, "result": result}, fault

    def _next_fault(self, method: str) -> _Fault | None:
        return next((f for f in self._faults if f.method in (method, "*")), None)

    def _consume(self, fault: _Fault) -> None:
        fault.remaining -= 1
        if fault.remaining <= 0:
            self._faults.remove(fault)

    def _take_fault(self, method: str) -> _Fault | None:
        """Apply a fault that strikes before the method runs; return one that strikes after it."""
        with self._cond:
            fault = self._next_fault(method)
            if fault is None or fault.kind == "drop_unread":
                return None
            self._consume(fault)
        if fault.kind in _AFTER_DISPATCH:
            return fault
        if fault.kind == "429":
            n = fault.retry_after
            raise BotApiError(f"Too Many Requests: retry after {n}", 429, retry_after=n)
        if fault.kind == "500":
            raise BotApiError("Internal Server Error", 500)
        raise _Drop

    def _reply(
        self, handler: _Handler, status: int, payload: Any, headers: dict[str, str] | None = None
    ) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._write(handler, status, body, "application/json", headers or {})

    @staticmethod
    def _write(
        handler: _Handler, status: int, body: bytes, content_type: str, headers: dict[str, str]
    ) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            for key, value in headers.items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True  # the client gave up (e.g. a cancelled long poll)

    def _serve_file(self, handler: _Handler, rest: str) -> None:
        token, _, file_path = rest.partition("/")
        if token != self.token:
            self._reply(handler, 401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
            return
        with self._cond:
            found = next((f for f in self._files.values() if f.file_path == file_path), None)
        if found is None:
            self._reply(handler, 404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        self._write(handler, 200, found.data, found.mime_type, {})

    def _record(self, call: Call) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()
        if self.on_call is not None:
            self.on_call(call)

    # ------------------------------------------------------------------ state helpers

    def _remember_user(
        self, user_id: int, username: str | None, language_code: str | None, first_name: str | None
    ) -> dict[str, Any]:
        user = self._users.get(user_id) or {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        if first_name:
            user["first_name"] = first_name
        if username:
            user["username"] = username
        if language_code:
            user["language_code"] = language_code
        self._users[user_id] = user
        return dict(user)

    def _known_user(self, user_id: int, language_code: str | None) -> dict[str, Any]:
        known = self._users.get(user_id, {})
        username = known.get("username") or f"user{user_id}"
        return self._remember_user(
            user_id, username, language_code or known.get("language_code") or "zh-hans", None
        )

    def _remember_chat(
        self, chat_id: int, chat_type: str, user: dict[str, Any], title: str | None
    ) -> dict[str, Any]:
        if chat_type == "private":
            if chat_id != user["id"]:
                raise ValueError("a private chat's id is the user's id")
            chat = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
            if "username" in user:
                chat["username"] = user["username"]
        else:
            if chat_type not in ("group", "supergroup", "channel"):
                raise ValueError(f"unknown chat type {chat_type!r}")
            if chat_id >= 0:
                raise ValueError("group, supergroup and channel ids are negative (e.g. -1001234567890)")
            old = self._chats.get(chat_id, {})
            chat = {
                "id": chat_id,
                "type": chat_type,
                "title": title or old.get("title") or f"Group {chat_id}",
            }
            self._members.setdefault((chat_id, user["id"]), "member")
        self._chats[chat_id] = chat
        self._messages.setdefault(chat_id, {})
        return dict(chat)

    def _chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise BotApiError("Bad Request: chat_id is empty")
        with self._cond:
            if isinstance(chat_id, str) and chat_id.startswith("@"):
                name = chat_id[1:].lower()
                chat = next(
                    (c for c in self._chats.values() if str(c.get("username", "")).lower() == name), None
                )
            else:
                chat = self._chats.get(chat_id) if isinstance(chat_id, int) else None
            if chat is None:
                raise BotApiError("Bad Request: chat not found")
            return chat

    def _writable_chat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = params.get("chat_id")
        with self._cond:
            if isinstance(chat_id, int) and chat_id in self._users and chat_id not in self._chats:
                # Seen in a group but never opened a private chat with the bot.
                raise BotApiError("Forbidden: bot can't initiate conversation with a user", 403)
        chat = self._chat(params)
        if chat["type"] == "private" and chat["id"] in self._blocked:
            raise BotApiError("Forbidden: bot was blocked by the user", 403)
        kind = "group chat" if chat["type"] == "group" else f"{chat['type']} chat"
        bot_status = self._members.get((chat["id"], self.bot_id))
        if chat["type"] != "private" and bot_status == "kicked":
            raise BotApiError(f"Forbidden: bot was kicked from the {kind}", 403)
        if chat["type"] != "private" and bot_status == "left":
            raise BotApiError(f"Forbidden: bot is not a member of the {kind}", 403)
        return chat

    def _check_flood(self, chat: dict[str, Any]) -> None:
        """Refuse sends over Telegram's limits (30/s overall, 20/min per group) when flood_control is on."""
        if not self.flood_control:
            return
        now = time.monotonic()
        with self._cond:
            self._sent_at = [t for t in self._sent_at if now - t < 1.0]
            if len(self._sent_at) >= 30:
                raise BotApiError("Too Many Requests: retry after 1", 429, retry_after=1)
            group = [t for t in self._group_sent_at.get(chat["id"], []) if now - t < 60.0]
            if chat["type"] != "private" and len(group) >= 20:
                wait = max(1, math.ceil(60.0 - (now - group[0])))
                raise BotApiError(f"Too Many Requests: retry after {wait}", 429, retry_after=wait)
            self._sent_at.append(now)
            if chat["type"] != "private":
                self._group_sent_at[chat["id"]] = [*group, now]

    def _new_message(self, chat: dict[str, Any], sender: dict[str, Any], **content: Any) -> dict[str, Any]:
        chat_id = chat["id"]
        message_id = self._next_message_id.get(chat_id, 1)
        self._next_message_id[chat_id] = message_id + 1
        message = {"message_id": message_id, "from": sender, "chat": dict(chat), "date": int(time.time())}
        message.update({k: v for k, v in content.items() if v is not None})
        self._messages.setdefault(chat_id, {})[message_id] = message
        return message

    def _find_message(self, chat_id: int, message_id: Any) -> dict[str, Any] | None:
        if not isinstance(message_id, int):
            return None
        if message_id in self._deleted.get(chat_id, set()):
            return None
        return self._messages.get(chat_id, {}).get(message_id)

    @staticmethod
    def _as_reply(message: dict[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in message.items() if k != "reply_to_message"}

    def _push_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            update = {"update_id": next(self._update_ids), kind: payload}
            self._updates.append(update)
            self._cond.notify_all()
            return copy.deepcopy(update)

    def _check_markup(self, markup: Any) -> dict[str, Any] | None:
        """Validate reply_markup; return it when it is an inline keyboard (the only kind echoed back)."""
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise BotApiError("Bad Request: can't parse reply keyboard markup JSON object")
        if "inline_keyboard" not in markup:
            if not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
                raise BotApiError("Bad Request: can't parse reply keyboard markup JSON object")
            return None
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise BotApiError(
                'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup must be an Array'
            )
        for row in rows:
            for button in row:
                self._check_button(button)
        return {"inline_keyboard": copy.deepcopy(rows)}

    @staticmethod
    def _check_button(button: Any) -> None:
        if not isinstance(button, dict):
            raise BotApiError(
                "Bad Request: can't parse inline keyboard button: InlineKeyboardButton must be an Object"
            )
        if not isinstance(button.get("text"), str):
            raise BotApiError(
                'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String'
            )
        actions = [k for k in _BUTTON_ACTIONS if k in button]
        if not actions:
            raise BotApiError(f"{_BUTTON_ERROR}Text buttons are unallowed in the inline keyboard")
        if "callback_data" in button:
            data = button["callback_data"]
            if not isinstance(data, str) or not 1 <= len(data.encode("utf-8")) <= 64:
                raise BotApiError("Bad Request: BUTTON_DATA_INVALID")
        if "url" in button:
            url = str(button["url"])
            if not re.match(r"(?i)(https?|tg)://\S+$", url):
                raise BotApiError("Bad Request: BUTTON_URL_INVALID")

    def _reply_target(self, chat: dict[str, Any], params: dict[str, Any]) -> dict[str, Any] | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow = bool(reply.get("allow_sending_without_reply"))
            target_chat = reply.get("chat_id", chat["id"])
        elif params.get("reply_to_message_id") is not None:
            message_id = params["reply_to_message_id"]
            allow = bool(params.get("allow_sending_without_reply"))
            target_chat = chat["id"]
        else:
            return None
        target = self._find_message(target_chat, message_id)
        if target is None:
            if allow:
                return None
            raise BotApiError("Bad Request: message to be replied not found")
        return self._as_reply(target)

    def _checked_text(self, text: Any, params: dict[str, Any], *, caption: bool = False) -> Any:
        """Return (text, entities) or the deferred error (Telegram reports it after resolving the chat)."""
        entities = params.get("caption_entities" if caption else "entities")
        try:
            return check_text(text, params.get("parse_mode"), entities, caption=caption)
        except TelegramHtmlError:
            raise
        except BotApiError as err:
            if err.description in _EARLY_TEXT_ERRORS:
                raise
            return err

    # ------------------------------------------------------------------ methods

    def _m_getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.bot_user | {
            "can_join_groups": True,
            "can_read_all_group_messages": not self.privacy_mode,
            "supports_inline_queries": True,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_getUpdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = min(max(float(params.get("timeout") or 0), 0.0), 50.0)
        with self._cond:
            if self._webhook is not None:
                raise BotApiError(CONFLICT_WEBHOOK, 409)
            if "allowed_updates" in params and isinstance(params["allowed_updates"], list):
                self._allowed_updates = frozenset(params["allowed_updates"]) or DEFAULT_UPDATES
            self._poll_generation += 1
            generation = self._poll_generation
            self._cond.notify_all()
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            deadline = time.monotonic() + timeout
            while True:
                if self._closing:
                    return []
                if generation != self._poll_generation:
                    raise BotApiError(CONFLICT_POLLER, 409)
                if self._webhook is not None:
                    raise BotApiError("Conflict: terminated by setWebhook request", 409)
                self._updates = [u for u in self._updates if self._allowed(u)]
                remaining = deadline - time.monotonic()
                if self._updates or remaining <= 0:
                    return copy.deepcopy(self._updates[:limit])
                self._cond.wait(remaining)

    def _allowed(self, update: dict[str, Any]) -> bool:
        return any(key in self._allowed_updates for key in update if key != "update_id")

    def _m_setWebhook(self, params: dict[str, Any]) -> tuple[bool, str]:
        url = str(params.get("url") or "")
        if not url:
            return self._m_deleteWebhook(params)
        if not re.match(r"https?://[^\s/]+", url):
            raise BotApiError("Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise BotApiError("Bad Request: secret token contains unallowed characters")
        with self._cond:
            if params.get("drop_pending_updates"):
                self._updates.clear()
            if isinstance(params.get("allowed_updates"), list):
                self._allowed_updates = frozenset(params["allowed_updates"]) or DEFAULT_UPDATES
            self._webhook = {
                "url": url,
                "secret_token": secret,
                "max_connections": int(params.get("max_connections") or 40),
            }
            self._webhook_error = None
            self._webhook_failures = 0
            self._webhook_retry_at = 0.0
            self._poll_generation += 1
            self._cond.notify_all()
        return True, "Webhook was set"

    def _m_deleteWebhook(self, params: dict[str, Any]) -> tuple[bool, str]:
        with self._cond:
            if params.get("drop_pending_updates"):
                self._updates.clear()
            was_set = self._webhook is not None
            self._webhook = None
            self._cond.notify_all()
        return True, "Webhook was deleted" if was_set else "Webhook is already deleted"

    def _m_getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            info: dict[str, Any] = {
                "url": "",
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
            if self._webhook is not None:
                info["url"] = self._webhook["url"]
                info["max_connections"] = self._webhook["max_connections"]
                if self._allowed_updates != DEFAULT_UPDATES:
                    info["allowed_updates"] = sorted(self._allowed_updates)
            if self._webhook_error is not None:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
            return info

    def _m_sendMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        checked = self._checked_text(params.get("text"), params)
        markup = params.get("reply_markup")
        if markup is not None and not isinstance(markup, dict):
            raise BotApiError("Bad Request: can't parse reply keyboard markup JSON object")
        chat = self._writable_chat(params)
        with self._cond:
            reply = self._reply_target(chat, params)
            if isinstance(checked, BotApiError):
                raise checked
            inline = self._check_markup(markup)
            self._check_flood(chat)
            text, entities = checked
            preview = params.get("link_preview_options")
            message = self._new_message(
                chat,
                self.bot_user,
                reply_to_message=reply,
                text=text,
                entities=entities or None,
                link_preview_options=preview if isinstance(preview, dict) and preview else None,
                reply_markup=inline,
            )
            return copy.deepcopy(message)

    def _bot_message(self, params: dict[str, Any], missing: str) -> dict[str, Any]:
        chat = self._chat(params)
        if params.get("message_id") is None:
            raise BotApiError("Bad Request: message identifier is not specified")
        message = self._find_message(chat["id"], params["message_id"])
        if message is None:
            raise BotApiError(f"Bad Request: {missing}")
        if message["from"]["id"] != self.bot_id:
            raise BotApiError("Bad Request: message can't be edited")
        return message

    def _m_editMessageText(self, params: dict[str, Any]) -> Any:
        checked = self._checked_text(params.get("text"), params)
        if params.get("inline_message_id"):
            if isinstance(checked, BotApiError):
                raise checked
            self._check_markup(params.get("reply_markup"))
            return True
        with self._cond:
            message = self._bot_message(params, "message to edit not found")
            if isinstance(checked, BotApiError):
                raise checked
            inline = self._check_markup(params.get("reply_markup"))
            if "text" not in message:
                raise BotApiError("Bad Request: there is no text in the message to edit")
            text, entities = checked
            same = (
                message["text"] == text
                and message.get("entities", []) == entities
                and message.get("reply_markup") == inline
            )
            if same:
                raise BotApiError(NOT_MODIFIED)
            message["text"] = text
            self._set_optional(message, "entities", entities or None)
            self._set_optional(message, "reply_markup", inline)
            message["edit_date"] = int(time.time())
            return copy.deepcopy(message)

    def _m_editMessageCaption(self, params: dict[str, Any]) -> Any:
        checked = self._checked_text(params.get("caption"), params, caption=True)
        with self._cond:
            message = self._bot_message(params, "message to edit not found")
            if isinstance(checked, BotApiError):
                raise checked
            inline = self._check_markup(params.get("reply_markup"))
            if "document" not in message:
                raise BotApiError("Bad Request: there is no caption in the message to edit")
            caption, entities = checked
            same = (
                message.get("caption", "") == caption
                and message.get("caption_entities", []) == entities
                and message.get("reply_markup") == inline
            )
            if same:
                raise BotApiError(NOT_MODIFIED)
            self._set_optional(message, "caption", caption or None)
            self._set_optional(message, "caption_entities", entities or None)
            self._set_optional(message, "reply_markup", inline)
            message["edit_date"] = int(time.time())
            return copy.deepcopy(message)

    @staticmethod
    def _set_optional(message: dict[str, Any], key: str, value: Any) -> None:
        if value is None:
            message.pop(key, None)
        else:
            message[key] = value

    def _m_editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            self._check_markup(params.get("reply_markup"))
            return True
        with self._cond:
            message = self._bot_message(params, "message to edit not found")
            inline = self._check_markup(params.get("reply_markup"))
            if message.get("reply_markup") == inline:
                raise BotApiError(NOT_MODIFIED)
            self._set_optional(message, "reply_markup", inline)
            message["edit_date"] = int(time.time())
            return copy.deepcopy(message)

    def _m_deleteMessage(self, params: dict[str, Any]) -> bool:
        chat = self._chat(params)
        with self._cond:
            message = self._find_message(chat["id"], params.get("message_id"))
            if message is None:
                raise BotApiError("Bad Request: message to delete not found")
            bot_status = self._members.get((chat["id"], self.bot_id))
            if (
                chat["type"] != "private"
                and message["from"]["id"] != self.bot_id
                and bot_status not in ("administrator", "creator")
            ):
                raise BotApiError("Bad Request: message can't be deleted")
            self._deleted.setdefault(chat["id"], set()).add(message["message_id"])
            return True

    def _m_answerCallbackQuery(self, params: dict[str, Any]) -> bool:
        text = params.get("text")
        with self._cond:
            query = self._callbacks.get(str(params.get("callback_query_id", "")))
            too_old = (
                query is not None
                and self.callback_query_ttl is not None
                and time.time() - query["at"] > self.callback_query_ttl
            )
            if query is None or query["answer"] is not None or too_old:
                raise BotApiError(STALE_QUERY)
            if text is not None and len(str(text)) > 200:
                raise BotApiError("Bad Request: MESSAGE_TOO_LONG")
            query["answer"] = {k: v for k, v in params.items() if k != "callback_query_id"}
            return True

    def _m_sendChatAction(self, params: dict[str, Any]) -> bool:
        action = params.get("action")
        if action not in CHAT_ACTIONS:
            raise BotApiError("Bad Request: wrong parameter action in request")
        chat = self._writable_chat(params)
        with self._cond:
            self._actions.append((chat["id"], str(action), time.time()))
        return True

    def _scope_key(self, scope: Any) -> tuple[Any, ...]:
        if scope is None:
            return ("default",)
        if not isinstance(scope, dict) or scope.get("type") not in SCOPES:
            raise BotApiError("Bad Request: can't parse BotCommandScope: unsupported scope type")
        kind = scope["type"]
        if kind in ("chat", "chat_administrators", "chat_member"):
            chat = self._chat({"chat_id": scope.get("chat_id")})
            if kind == "chat_member":
                user_id = scope.get("user_id")
                if not isinstance(user_id, int) or user_id not in self._users:
                    raise BotApiError("Bad Request: user not found")
                return (kind, chat["id"], user_id)
            return (kind, chat["id"])
        return (kind,)

    @staticmethod
    def _language(params: dict[str, Any]) -> str:
        code = str(params.get("language_code") or "")
        if code and not re.fullmatch(r"[a-z]{2}", code):
            raise BotApiError("Bad Request: invalid language code specified")
        return code

    def _m_setMyCommands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise BotApiError("Bad Request: can't parse commands JSON object")
        if len(commands) > 100:
            raise BotApiError("Bad Request: BOT_COMMANDS_TOO_MUCH")
        cleaned = []
        for item in commands:
            if not isinstance(item, dict):
                raise BotApiError("Bad Request: can't parse BotCommand JSON object")
            name, description = str(item.get("command", "")), str(item.get("description", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name):
                raise BotApiError("Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description.strip()) <= 256:
                raise BotApiError("Bad Request: BOT_COMMAND_DESCRIPTION_INVALID")
            cleaned.append({"command": name, "description": description})
        language = self._language(params)
        with self._cond:
            key = (self._scope_key(params.get("scope")), language)
            if cleaned:
                self._commands[key] = cleaned
            else:
                self._commands.pop(key, None)
        return True

    def _m_getMyCommands(self, params: dict[str, Any]) -> list[dict[str, str]]:
        language = self._language(params)
        with self._cond:
            return copy.deepcopy(self._commands.get((self._scope_key(params.get("scope")), language), []))

    def _m_deleteMyCommands(self, params: dict[str, Any]) -> bool:
        language = self._language(params)
        with self._cond:
            self._commands.pop((self._scope_key(params.get("scope")), language), None)
        return True

    def _m_answerInlineQuery(self, params: dict[str, Any]) -> bool:
        results = params.get("results")
        if not isinstance(results, list):
            raise BotApiError("Bad Request: can't parse inline query results JSON object")
        if len(results) > 50:
            raise BotApiError("Bad Request: too many inline query results specified")
        next_offset = str(params.get("next_offset") or "")
        if len(next_offset.encode("utf-8")) > 64:
            raise BotApiError("Bad Request: NEXT_OFFSET_INVALID")
        seen: set[str] = set()
        for result in results:
            self._check_inline_result(result, seen)
        with self._cond:
            query = self._inline.get(str(params.get("inline_query_id", "")))
            if query is None or query["answer"] is not None:
                raise BotApiError(STALE_QUERY)
            query["answer"] = {k: v for k, v in params.items() if k != "inline_query_id"}
        return True

    def _check_inline_result(self, result: Any, seen: set[str]) -> None:
        if not isinstance(result, dict) or result.get("type") not in _INLINE_TYPES:
            raise BotApiError("Bad Request: can't parse InlineQueryResult JSON object")
        result_id = str(result.get("id", ""))
        if not 1 <= len(result_id.encode("utf-8")) <= 64:
            raise BotApiError("Bad Request: RESULT_ID_INVALID")
        if result_id in seen:
            raise BotApiError("Bad Request: RESULT_ID_DUPLICATE")
        seen.add(result_id)
        if result["type"] == "article":
            if not str(result.get("title") or "").strip():
                raise BotApiError(
                    'Bad Request: can\'t parse InlineQueryResultArticle: Field "title" must be non-empty'
                )
            content = result.get("input_message_content")
            if not isinstance(content, dict):
                raise BotApiError("Bad Request: can't parse InputMessageContent JSON object")
        content = result.get("input_message_content")
        if isinstance(content, dict) and "message_text" in content:
            check_text(content["message_text"], content.get("parse_mode"), content.get("entities"))
        self._check_markup(result.get("reply_markup"))

    def _m_sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        checked = self._checked_text(params.get("caption"), params, caption=True)
        document = params.get("document")
        if isinstance(document, str) and document.startswith("attach://"):
            document = params.get(document[len("attach://") :])
        if document is None or document == "":
            raise BotApiError("Bad Request: there is no document in the request")
        chat = self._writable_chat(params)
        with self._cond:
            reply = self._reply_target(chat, params)
            if isinstance(checked, BotApiError):
                raise checked
            inline = self._check_markup(params.get("reply_markup"))
            if isinstance(document, Upload):
                if not document.data:
                    raise BotApiError("Bad Request: file must be non-empty")
                if len(document.data) > MAX_UPLOAD_BYTES:
                    raise BotApiError("Request Entity Too Large", 413)
                stored = self._store_file(document.filename, document.data, document.content_type)
            else:
                found = self._files.get(str(document))
                if found is None:
                    raise BotApiError("Bad Request: wrong file identifier/HTTP URL specified")
                stored = found
            self._check_flood(chat)
            caption, entities = checked
            message = self._new_message(
                chat,
                self.bot_user,
                reply_to_message=reply,
                document=self._document_object(stored),
                caption=caption or None,
                caption_entities=entities or None,
                reply_markup=inline,
            )
            return copy.deepcopy(message)

    def _store_file(self, filename: str, data: bytes, mime_type: str | None) -> _File:
        number = next(self._file_ids)
        suffix = filename.rsplit(".", 1)[-1] if "." in filename else ""
        guessed = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = _File(
            file_id=f"BQACAgIAAxkBAAI{number:06d}",
            file_unique_id=f"AgAD{number:06d}",
            data=data,
            file_path=f"documents/file_{number}" + (f".{suffix}" if suffix else ""),
            file_name=filename,
            mime_type=guessed,
        )
        self._files[stored.file_id] = stored
        return stored

    @staticmethod
    def _document_object(stored: _File) -> dict[str, Any]:
        return {
            "file_name": stored.file_name,
            "mime_type": stored.mime_type,
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
        }

    def _m_getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._cond:
            stored = self._files.get(str(params.get("file_id", "")))
        if stored is None:
            raise BotApiError("Bad Request: invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_BYTES:
            raise BotApiError("Bad Request: file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.data),
            "file_path": stored.file_path,
        }

    def _m_getChat(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        return dict(chat) | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _m_getChatMember(self, params: dict[str, Any]) -> dict[str, Any]:
        chat = self._chat(params)
        user_id = params.get("user_id")
        with self._cond:
            if user_id == self.bot_id:
                user: dict[str, Any] | None = self.bot_user
            else:
                user = self._users.get(user_id) if isinstance(user_id, int) else None
            if user is None:
                raise BotApiError("Bad Request: user not found")
            if chat["type"] == "private":
                status = "member" if user_id in (chat["id"], self.bot_id) else "left"
            else:
                status = self._members.get((chat["id"], user["id"]), "left")
        member: dict[str, Any] = {"user": dict(user), "status": status}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update({"can_be_edited": False, "is_anonymous": False})
            for right in (
                "can_manage_chat",
                "can_delete_messages",
                "can_manage_video_chats",
                "can_restrict_members",
                "can_promote_members",
                "can_change_info",
                "can_invite_users",
                "can_post_stories",
                "can_edit_stories",
                "can_delete_stories",
            ):
                member[right] = True
        return member

    def _profile_setter(self, key: str, limit: int, params: dict[str, Any]) -> bool:
        value = str(params.get(key) or "")
        if len(value) > limit:
            raise BotApiError(f"Bad Request: bot {key.replace('_', ' ')} is too long")
        language = self._language(params)
        with self._cond:
            self._profile[(key, language)] = value
        return True

    def _profile_getter(self, key: str, params: dict[str, Any]) -> dict[str, str]:
        language = self._language(params)
        with self._cond:
            value = self._profile.get((key, language)) or self._profile.get((key, ""), "")
        if key == "name" and not value:
            value = self.first_name
        return {key: value}

    def _m_setMyDescription(self, params: dict[str, Any]) -> bool:
        return self._profile_setter("description", 512, params)

    def _m_getMyDescription(self, params: dict[str, Any]) -> dict[str, str]:
        return self._profile_getter("description", params)

    def _m_setMyShortDescription(self, params: dict[str, Any]) -> bool:
        return self._profile_setter("short_description", 120, params)

    def _m_getMyShortDescription(self, params: dict[str, Any]) -> dict[str, str]:
        return self._profile_getter("short_description", params)

    def _m_setMyName(self, params: dict[str, Any]) -> bool:
        return self._profile_setter("name", 64, params)

    def _m_getMyName(self, params: dict[str, Any]) -> dict[str, str]:
        return self._profile_getter("name", params)

    def _m_setChatMenuButton(self, params: dict[str, Any]) -> bool:
        key = self._chat(params)["id"] if params.get("chat_id") is not None else None
        with self._cond:
            self._profile[("menu_button", key)] = params.get("menu_button") or {"type": "default"}
        return True

    def _m_getChatMenuButton(self, params: dict[str, Any]) -> dict[str, Any]:
        key = self._chat(params)["id"] if params.get("chat_id") is not None else None
        with self._cond:
            found = self._profile.get(("menu_button", key)) or self._profile.get(("menu_button", None))
        return copy.deepcopy(found) if found else {"type": "commands"}

    def _m_close(self, params: dict[str, Any]) -> bool:
        return True

    def _m_logOut(self, params: dict[str, Any]) -> bool:
        return True

    # ------------------------------------------------------------------ webhook delivery

    def _deliver_webhooks(self) -> None:
        while True:
            with self._cond:
                while not self._closing and not self._webhook_due():
                    self._cond.wait(0.05)
                if self._closing:
                    return
                assert self._webhook is not None
                update = copy.deepcopy(self._updates[0])
                url, secret = self._webhook["url"], self._webhook["secret_token"]
            status, error = self._post_update(url, secret, update)
            with self._cond:
                self._deliveries.append(Delivery(update["update_id"], status, secret))
                if 200 <= status < 300:
                    self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]
                    self._webhook_failures = 0
                else:
                    self._webhook_error = (int(time.time()), error)
                    self._webhook_failures += 1
                    self._webhook_retry_at = time.monotonic() + min(0.1 * 2**self._webhook_failures, 2.0)
                self._cond.notify_all()

    def _webhook_due(self) -> bool:
        if self._webhook is None or time.monotonic() < self._webhook_retry_at:
            return False
        self._updates = [u for u in self._updates if self._allowed(u)]
        return bool(self._updates)

    @staticmethod
    def _post_update(url: str, secret: str | None, update: dict[str, Any]) -> tuple[int, str]:
        headers = {"Content-Type": "application/json"}
        if secret:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        request = urllib.request.Request(
            url, data=json.dumps(update, ensure_ascii=False).encode("utf-8"), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, ""
        except urllib.error.HTTPError as err:
            return err.code, f"Wrong response from the webhook: {err.code} {err.reason}"
        except (urllib.error.URLError, OSError) as err:
            return 0, f"Connection failed: {err}"

    # ------------------------------------------------------------------ test hooks: inject

    def add_chat(
        self,
        chat_id: int,
        *,
        chat_type: str = "private",
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        language_code: str | None = "zh-hans",
    ) -> dict[str, Any]:
        """Make a chat known to the bot (as if its user had started it) without sending an update."""
        with self._cond:
            if chat_type == "private":
                user = self._remember_user(chat_id, username or f"user{chat_id}", language_code, first_name)
            else:
                user = self.bot_user
            return self._remember_chat(chat_id, chat_type, user, title)

    def set_member_status(
        self,
        chat_id: int,
        user_id: int,
        status: Literal["creator", "administrator", "member", "left", "kicked"],
    ) -> None:
        """Set a user's (or the bot's) status in a group, as getChatMember reports it."""
        with self._cond:
            self._members[(chat_id, user_id)] = status

    def block_user(self, user_id: int, blocked: bool = True) -> None:
        """Make the user block (or unblock) the bot: sends to their private chat then fail with 403."""
        with self._cond:
            if blocked:
                self._blocked.add(user_id)
            else:
                self._blocked.discard(user_id)

    def add_text(
        self,
        text: str,
        *,
        user_id: int = 1,
        chat_id: int | None = None,
        chat_type: str = "private",
        language_code: str = "zh-hans",
        reply_to_message_id: int | None = None,
        username: str | None = None,
        first_name: str | None = None,
        title: str | None = None,
    ) -> dict[str, Any]:
        """Queue a text message from a user and return its Update (entities as Telegram clients send them)."""
        chat_id = user_id if chat_id is None else chat_id
        with self._cond:
            user = self._remember_user(user_id, username or f"user{user_id}", language_code, first_name)
            chat = self._remember_chat(chat_id, chat_type, user, title)
            reply = self._user_reply(chat_id, reply_to_message_id)
            entities = find_entities(text)
            message = self._new_message(
                chat, user, reply_to_message=reply, text=text, entities=entities or None
            )
            update = {"update_id": 0, "message": copy.deepcopy(message)}
            if self._hidden_by_privacy(chat, text, entities, reply):
                return update
            return self._push_update("message", copy.deepcopy(message))

    def _user_reply(self, chat_id: int, reply_to_message_id: int | None) -> dict[str, Any] | None:
        if reply_to_message_id is None:
            return None
        target = self._find_message(chat_id, reply_to_message_id)
        if target is None:
            raise ValueError(f"message {reply_to_message_id} does not exist in chat {chat_id}")
        return self._as_reply(target)

    def _hidden_by_privacy(
        self, chat: dict[str, Any], text: str, entities: list[dict], reply: dict[str, Any] | None
    ) -> bool:
        if not self.privacy_mode or chat["type"] == "private":
            return False
        if reply is not None and reply["from"]["id"] == self.bot_id:
            return False
        # Privacy mode delivers commands meant for this bot and replies to it, not plain @mentions;
        # a bare /command counts as ours (this server assumes the bot is the group's only bot).
        mention = "@" + self.username.lower()
        for entity in entities:
            piece = text.encode("utf-16-le")[entity["offset"] * 2 : (entity["offset"] + entity["length"]) * 2]
            word = piece.decode("utf-16-le").lower()
            if entity["type"] != "bot_command":
                continue
            if word.endswith(mention) or ("@" not in word and entity["offset"] == 0):
                return False
        return True

    def add_deep_link(
        self, payload: str, *, user_id: int = 1, language_code: str = "zh-hans", username: str | None = None
    ) -> dict[str, Any]:
        """Open t.me/<bot>?start=<payload> as a user: the private chat gets "/start <payload>"."""
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", payload):
            raise ValueError("a deep link payload is 1-64 characters of A-Za-z0-9_- (Telegram drops others)")
        return self.add_text(
            f"/start {payload}", user_id=user_id, language_code=language_code, username=username
        )

    def add_document(
        self,
        filename: str,
        data: bytes,
        *,
        user_id: int = 1,
        chat_id: int | None = None,
        caption: str | None = None,
        mime_type: str | None = None,
        chat_type: str = "private",
        language_code: str = "zh-hans",
        username: str | None = None,
    ) -> dict[str, Any]:
        """Queue a document message from a user (the file becomes downloadable) and return its Update."""
        chat_id = user_id if chat_id is None else chat_id
        with self._cond:
            user = self._remember_user(user_id, username or f"user{user_id}", language_code, None)
            chat = self._remember_chat(chat_id, chat_type, user, None)
            stored = self._store_file(filename, data, mime_type)
            entities = find_entities(caption) if caption else []
            message = self._new_message(
                chat,
                user,
                document=self._document_object(stored),
                caption=caption or None,
                caption_entities=entities or None,
            )
            return self._push_update("message", copy.deepcopy(message))

    def press_button(
        self,
        message_id: int,
        data: str,
        *,
        user_id: int = 1,
        chat_id: int | None = None,
        language_code: str | None = None,
        strict: bool = True,
    ) -> str:
        """Press an inline button of a bot message; return the callback query id.

        With strict (the default) the message must exist and currently carry a button with this data,
        as only such a button can be pressed in a real client.
        """
        chat_id = user_id if chat_id is None else chat_id
        with self._cond:
            message = self._find_message(chat_id, message_id)
            if strict:
                if message is None:
                    raise ValueError(f"message {message_id} does not exist in chat {chat_id}")
                rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
                if not any(b.get("callback_data") == data for row in rows for b in row):
                    raise ValueError(f"message {message_id} has no button with callback_data {data!r}")
            user = self._known_user(user_id, language_code)
            query_id = str(next(self._query_ids))
            query: dict[str, Any] = {
                "id": query_id,
                "from": user,
                "chat_instance": str(abs(hash((chat_id, self.bot_id))) % 10**18),
                "data": data,
            }
            if message is not None:
                query["message"] = copy.deepcopy(message)
            self._callbacks[query_id] = {"at": time.time(), "answer": None}
            self._push_update("callback_query", query)
            return query_id

    def add_inline_query(
        self,
        query: str,
        *,
        user_id: int = 1,
        offset: str = "",
        chat_type: str | None = "sender",
        language_code: str | None = None,
    ) -> str:
        """Queue an inline query (`@bot query` typed in some chat); return its id."""
        if len(query) > 256:
            raise ValueError("Telegram clients send at most 256 characters of inline query")
        with self._cond:
            user = self._known_user(user_id, language_code)
            query_id = str(next(self._query_ids))
            payload: dict[str, Any] = {"id": query_id, "from": user, "query": query, "offset": offset}
            if chat_type:
                payload["chat_type"] = chat_type
            self._inline[query_id] = {"at": time.time(), "answer": None}
            self._push_update("inline_query", payload)
            return query_id

    def inject_fault(
        self,
        method: str,
        kind: FaultKind,
        retry_after: int = 1,
        times: int = 1,
        *,
        delay: float = 6.0,
    ) -> None:
        """Make the next `times` calls of `method` ("*": any) fail.

        "429" (with retry_after) and "500" answer with that error; "drop_unread" closes the connection
        before the request body is read, "drop" after reading it, both without carrying it out;
        "drop_after" carries the request out (a message is sent) and closes without answering;
        "slow" carries it out and answers only after `delay` seconds (past a client's read timeout).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._cond:
            self._faults.append(_Fault(method.lower(), kind, retry_after, times, delay))

    # ------------------------------------------------------------------ test hooks: read

    def calls(self, method: str | None = None) -> list[Call]:
        """Return recorded calls (all, or of one method, case-insensitive), oldest first."""
        with self._cond:
            if method is None:
                return list(self._calls)
            return [c for c in self._calls if c.method.lower() == method.lower()]

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10.0,
        count: int = 1,
        *,
        since: int = 0,
    ) -> list[Call]:
        """Block until `count` successful calls of `method` (matching predicate, from index `since`) exist."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [
                    c
                    for c in self._calls[since:]
                    if c.ok and c.method.lower() == method.lower() and (predicate is None or predicate(c))
                ]
                remaining = deadline - time.monotonic()
                if len(found) >= count:
                    return found
                if remaining <= 0:
                    recent = "; ".join(
                        f"{c.method} {c.status}" + (f" {c.description}" if c.description else "")
                        for c in self._calls[-8:]
                    )
                    raise TimeoutError(
                        f"waited {timeout}s for {count} successful {method} call(s), found {len(found)}; "
                        f"recent calls: {recent or 'none'}"
                    )
                self._cond.wait(remaining)

    async def wait_for_async(
        self,
        method: str,
        predicate: Callable[[Call], bool] | None = None,
        timeout: float = 10.0,
        count: int = 1,
        *,
        since: int = 0,
    ) -> list[Call]:
        """Await wait_for from an asyncio test without blocking the event loop."""
        return await asyncio.to_thread(self.wait_for, method, predicate, timeout, count, since=since)

    def chat_messages(self, chat_id: int) -> list[dict[str, Any]]:
        """Return the bot's messages in a chat as they are now (after edits, without deleted ones)."""
        with self._cond:
            deleted = self._deleted.get(chat_id, set())
            return [
                copy.deepcopy(m)
                for mid, m in sorted(self._messages.get(chat_id, {}).items())
                if mid not in deleted and m["from"]["id"] == self.bot_id
            ]

    def message(self, chat_id: int, message_id: int) -> dict[str, Any] | None:
        """Return one message (user's or bot's) as it is now, or None when missing or deleted."""
        with self._cond:
            found = self._find_message(chat_id, message_id)
            return copy.deepcopy(found) if found else None

    def commands(self, scope: dict[str, Any] | None = None, language_code: str = "") -> list[dict[str, str]]:
        """Return the command list stored for exactly this scope and language (like getMyCommands)."""
        with self._cond:
            return copy.deepcopy(self._commands.get((self._scope_key(scope), language_code), []))

    def menu(
        self, user_id: int, *, chat_id: int | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        """Return the command menu a user would see in a chat, resolving scopes as Telegram clients do."""
        chat_id = user_id if chat_id is None else chat_id
        with self._cond:
            chat = self._chats.get(chat_id, {"type": "private"})
            if chat["type"] == "private":
                keys: list[tuple[Any, ...]] = [("chat", chat_id), ("all_private_chats",), ("default",)]
            else:
                admin = self._members.get((chat_id, user_id)) in ("administrator", "creator")
                keys = [("chat_member", chat_id, user_id)]
                keys += [("chat_administrators", chat_id)] if admin else []
                keys += [("chat", chat_id)]
                keys += [("all_chat_administrators",)] if admin else []
                keys += [("all_group_chats",), ("default",)]
            language = language_code[:2].lower()
            for key in keys:
                for lang in (language, "") if language else ("",):
                    if (key, lang) in self._commands:
                        return copy.deepcopy(self._commands[(key, lang)])
            return []

    def callback_answer(self, query_id: str) -> dict[str, Any] | None:
        """Return the answerCallbackQuery parameters given for a query (None if unanswered)."""
        with self._cond:
            query = self._callbacks.get(query_id)
            return copy.deepcopy(query["answer"]) if query else None

    def inline_answer(self, query_id: str) -> dict[str, Any] | None:
        """Return the answerInlineQuery parameters given for a query (None if unanswered)."""
        with self._cond:
            query = self._inline.get(query_id)
            return copy.deepcopy(query["answer"]) if query else None

    def chat_actions(self, chat_id: int) -> list[str]:
        """Return the chat actions (e.g. "typing") the bot sent to a chat, oldest first."""
        with self._cond:
            return [action for cid, action, _ in self._actions if cid == chat_id]

    def deliveries(self) -> list[Delivery]:
        """Return every webhook POST attempt, oldest first."""
        with self._cond:
            return list(self._deliveries)

    def pending_updates(self) -> list[dict[str, Any]]:
        """Return the updates not yet confirmed by getUpdates nor delivered by webhook."""
        with self._cond:
            return copy.deepcopy(self._updates)

    def file_bytes(self, file_id: str) -> bytes:
        """Return the stored bytes of an uploaded file."""
        with self._cond:
            return self._files[file_id].data

"""Telegram's HTML parse mode and text checks, ported from tdlib MessageEntity.cpp (parse_html et al.)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_TEXT_BYTES = 1 << 15  # the Bot API refuses raw text above this before parsing
MAX_MESSAGE_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_USER_ENTITIES = 100  # the server honours about this many formatting entities

_TAGS = frozenset(
    {"a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins", "tg-spoiler", "tg-emoji", "span"}
    | {"pre", "code", "blockquote"}
)
_SPLITTABLE = ("bold", "italic", "underline", "strikethrough", "spoiler")
_BLOCKQUOTES = frozenset({"blockquote", "expandable_blockquote"})
_PRIORITY = {
    "mention": 50,
    "hashtag": 50,
    "bot_command": 50,
    "url": 50,
    "email": 50,
    "bold": 90,
    "italic": 91,
    "code": 20,
    "pre": 11,
    "text_link": 49,
    "text_mention": 49,
    "cashtag": 50,
    "phone_number": 50,
    "underline": 92,
    "strikethrough": 93,
    "blockquote": 0,
    "spoiler": 94,
    "custom_emoji": 99,
    "expandable_blockquote": 0,
}
_SPACE = frozenset(b" \t\r\n\0\v")  # tdlib's is_space treats NUL (end of C string) as space
_REMOVED = frozenset({0x2028, 0x2029, 0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x0333, 0x033F, 0x030A})
_EMPTY_CHARS = frozenset(
    {0x180E, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x202E, 0x205F, 0x2060, 0x2800, 0x3000, 0x3164}
    | {0xFEFF, 0xFFA0}
    | set(range(0x2000, 0x200B))
)


class BotApiError(Exception):
    """A request the Bot API refuses, with its HTTP status and exact description."""

    def __init__(self, description: str, status: int = 400, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.retry_after = retry_after


class TelegramHtmlError(BotApiError):
    """HTML that Telegram's parser refuses; `description` is the full Bot API error text."""

    def __init__(self, description: str) -> None:
        super().__init__(description, 400)
        self.reason = description.removeprefix("Bad Request: can't parse entities: ")


@dataclass
class _Entity:
    type: str
    offset: int
    length: int
    argument: str = ""

    @property
    def end(self) -> int:
        return self.offset + self.length

    def key(self) -> tuple[int, int, int]:
        priority = 10 if self.type == "pre" and self.argument else _PRIORITY.get(self.type, 50)
        return (self.offset, -self.length, priority)

    def to_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"type": self.type, "offset": self.offset, "length": self.length}
        if self.type == "pre" and self.argument:
            out["language"] = self.argument
        elif self.type == "text_link":
            out["url"] = self.argument
        elif self.type == "text_mention":
            out["user"] = {"id": int(self.argument), "is_bot": False, "first_name": ""}
        elif self.type == "custom_emoji":
            out["custom_emoji_id"] = self.argument
        return out


def utf16_len(text: str) -> int:
    """Return the length of text in UTF-16 code units."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def _html_error(reason: str) -> TelegramHtmlError:
    return TelegramHtmlError(f"Bad Request: can't parse entities: {reason}")


def _decode_entity(b: bytes, pos: int) -> tuple[int, int]:
    """Decode an HTML character reference at b[pos] == '&'; return (code point or 0, next position)."""
    end = pos + 1
    res = 0
    if b[pos + 1] == ord("#"):
        end += 1
        if b[pos + 2] == ord("x"):
            end += 1
            while chr(b[end]) in "0123456789abcdefABCDEF":
                res = res * 16 + int(chr(b[end]), 16)
                end += 1
        else:
            while ord("0") <= b[end] <= ord("9"):
                res = res * 10 + b[end] - ord("0")
                end += 1
        if res == 0 or res >= 0x10FFFF or end - pos >= 10:
            return 0, pos
    else:
        while chr(b[end]).isascii() and chr(b[end]).isalpha():
            end += 1
        name = b[pos + 1 : end]
        res = {b"lt": 60, b"gt": 62, b"amp": 38, b"quot": 34}.get(name, 0)
        if res == 0:
            return 0, pos
    return res, end + 1 if b[end] == ord(";") else end


def _checked_link(url: str) -> str:
    """Approximate LinkManager::get_checked_link: http(s)/tg/ton links survive, others are dropped."""
    url = url.strip()
    if not url:
        return ""
    if "://" not in url.split("?")[0].split("#")[0] and not url.lower().startswith("tg:"):
        url = "http://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if scheme in ("tg", "ton", "tonsite"):
        return url
    if scheme not in ("http", "https") or not parts.hostname:
        return ""
    host = parts.hostname
    if not re.fullmatch(r"[\w.-]+", host) or ("." not in host and host != "localhost"):
        return ""
    if not parts.path and not parts.query and not parts.fragment:
        url += "/"
    return url


def _parse_html_raw(text: str) -> tuple[str, list[_Entity]]:
    """Run tdlib's parse_html byte for byte; raise TelegramHtmlError with its exact message."""
    src = text.encode("utf-8", "surrogatepass")
    size = len(src)
    b = src + b"\0"
    out = bytearray()
    utf16 = 0
    recheck = False
    entities: list[_Entity] = []
    stack: list[tuple[str, str, int, int]] = []  # tag name, argument, utf16 offset, byte offset in out
    i = 0
    while i < size:
        c = b[i]
        if c == ord("&"):
            code, nxt = _decode_entity(b, i)
            if code:
                utf16 += 1 + (code > 0xFFFF)
                recheck = recheck or 0xD800 <= code <= 0xDFFF
                out += chr(code).encode("utf-8", "surrogatepass")
                i = nxt
                continue
        if c != ord("<"):
            if c & 0xC0 != 0x80:
                utf16 += 1 + (c >= 0xF0)
            out.append(c)
            i += 1
            continue
        begin = i
        i += 1
        if b[i] != ord("/"):
            while b[i] not in _SPACE and b[i] != ord(">"):
                i += 1
            if b[i] == 0:
                raise _html_error(f"Unclosed start tag at byte offset {begin}")
            tag = b[begin + 1 : i].lower().decode("utf-8", "replace")
            if tag not in _TAGS:
                raise _html_error(f'Unsupported start tag "{tag}" at byte offset {begin}')
            argument = ""
            while b[i] != ord(">"):
                while b[i] != 0 and b[i] in _SPACE:
                    i += 1
                if b[i] == ord(">"):
                    break
                name_begin = i
                while b[i] not in _SPACE and b[i] not in b"=>/\"'":
                    i += 1
                name = b[name_begin:i]
                if not name:
                    raise _html_error(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
                while b[i] != 0 and b[i] in _SPACE:
                    i += 1
                if b[i] != ord("="):
                    if b[i] == 0:
                        raise _html_error(f'Unclosed start tag "{tag}" at byte offset {begin}')
                    if tag == "blockquote" and name == b"expandable":
                        argument = "1"
                    continue
                i += 1
                while b[i] != 0 and b[i] in _SPACE:
                    i += 1
                if b[i] == 0:
                    raise _html_error(f'Unclosed start tag "{tag}" at byte offset {begin}')
                if b[i] not in b"'\"":
                    token_begin = i
                    while chr(b[i]).isascii() and (chr(b[i]).isalnum() or b[i] in b".-"):
                        i += 1
                    value = b[token_begin:i].lower().decode("ascii")
                    if b[i] not in _SPACE and b[i] != ord(">"):
                        raise _html_error(f"Unexpected end of name token at byte offset {token_begin}")
                else:
                    quote = b[i]
                    i += 1
                    raw = bytearray()
                    while b[i] != quote and b[i] != 0:
                        if b[i] == ord("&"):
                            code, nxt = _decode_entity(b, i)
                            if code:
                                raw += chr(code).encode("utf-8", "surrogatepass")
                                i = nxt
                                continue
                        raw.append(b[i])
                        i += 1
                    if b[i] == quote:
                        i += 1
                    value = raw.decode("utf-8", "replace")
                if b[i] == 0:
                    raise _html_error(f"Unclosed start tag at byte offset {begin}")
                if tag == "a" and name == b"href":
                    argument = value
                elif tag == "code" and name == b"class" and value.startswith("language-"):
                    argument = value[9:]
                elif tag == "span" and name == b"class" and value.startswith("tg-"):
                    argument = value[3:]
                elif tag == "tg-emoji" and name == b"emoji-id":
                    argument = value
                elif tag == "blockquote" and name == b"expandable":
                    argument = "1"
            if tag == "span" and argument != "spoiler":
                raise _html_error(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
            stack.append((tag, argument, utf16, len(out)))
            i += 1
            continue
        if not stack:
            raise _html_error(f"Unexpected end tag at byte offset {begin}")
        while b[i] not in _SPACE and b[i] != ord(">"):
            i += 1
        end_tag = b[begin + 2 : i].lower().decode("utf-8", "replace")
        while b[i] in _SPACE and b[i] != 0:
            i += 1
        if b[i] != ord(">"):
            raise _html_error(f"Unclosed end tag at byte offset {begin}")
        tag, argument, offset, out_begin = stack[-1]
        if end_tag and end_tag != tag:
            raise _html_error(
                f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", found "</{end_tag}>"'
            )
        if utf16 > offset:
            _close_entity(entities, tag, argument, offset, utf16 - offset, bytes(out[out_begin:]))
        stack.pop()
        i += 1
    if stack:
        raise _html_error(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    for entity in entities:
        if entity.type == "code":
            entity.argument = ""
    try:
        result = out.decode("utf-8")
    except UnicodeDecodeError:
        if recheck:
            raise _html_error(
                "Text contains invalid Unicode characters after decoding HTML entities, "
                "check for unmatched surrogate code units"
            ) from None
        raise BotApiError("Bad Request: strings must be encoded in UTF-8") from None
    entities.sort(key=_Entity.key)
    return result, entities


def _close_entity(
    entities: list[_Entity], tag: str, argument: str, offset: int, length: int, inner: bytes
) -> None:
    simple = {"i": "italic", "em": "italic", "b": "bold", "strong": "bold", "s": "strikethrough"}
    simple |= {"strike": "strikethrough", "del": "strikethrough", "u": "underline", "ins": "underline"}
    simple |= {"tg-spoiler": "spoiler", "span": "spoiler"}
    last = entities[-1] if entities else None
    same_range = last is not None and last.offset == offset and last.length == length
    if tag in simple:
        entities.append(_Entity(simple[tag], offset, length))
    elif tag == "tg-emoji":
        if not argument.isdigit() or int(argument) == 0 or int(argument) >= 1 << 63:
            raise _html_error("Invalid custom emoji identifier specified")
        entities.append(_Entity("custom_emoji", offset, length, argument))
    elif tag == "a":
        url = argument or inner.decode("utf-8", "replace")
        user = re.fullmatch(r"tg://user\?id=(\d{1,18})", url.strip())
        if user:
            entities.append(_Entity("text_mention", offset, length, user.group(1)))
        elif checked := _checked_link(url):
            entities.append(_Entity("text_link", offset, length, checked))
    elif tag == "pre":
        if last is not None and same_range and last.type == "code" and last.argument:
            last.type = "pre"
        else:
            entities.append(_Entity("pre", offset, length))
    elif tag == "code":
        if last is not None and same_range and last.type == "pre" and argument:
            last.argument = argument
        else:
            entities.append(_Entity("code", offset, length, argument))
    else:
        entities.append(_Entity("expandable_blockquote" if argument else "blockquote", offset, length))


def _remove_intersecting(entities: list[_Entity]) -> list[_Entity]:
    kept: list[_Entity] = []
    last_end = 0
    for entity in entities:
        if entity.offset >= last_end:
            last_end = entity.end
            kept.append(entity)
    return kept


def _remove_intersecting_blockquote(entities: list[_Entity], quotes: list[_Entity]) -> list[_Entity]:
    kept: list[_Entity] = []
    q = 0
    for entity in entities:
        while q < len(quotes) and quotes[q].end <= entity.offset:
            q += 1
        if q < len(quotes) and (quotes[q].end < entity.end or entity.offset < quotes[q].offset < entity.end):
            continue
        kept.append(entity)
    return kept


def _split_entities(entities: list[_Entity], others: list[_Entity]) -> list[_Entity]:
    """Port of tdlib split_entities: merge same-type runs, cut at other entities, drop inside pre/code."""
    begin = dict.fromkeys(_SPLITTABLE, 0)
    end = dict.fromkeys(_SPLITTABLE, 0)
    result: list[_Entity] = []
    it = 0

    def flush(offset: int) -> None:
        for kind in _SPLITTABLE:
            if end[kind] != 0 and begin[kind] < offset:
                if end[kind] <= offset:
                    result.append(_Entity(kind, begin[kind], end[kind] - begin[kind]))
                    begin[kind] = end[kind] = 0
                else:
                    result.append(_Entity(kind, begin[kind], offset - begin[kind]))
                    begin[kind] = offset

    def add_entities(end_offset: int) -> None:
        nonlocal it
        while it < len(entities) and entities[it].offset < end_offset:
            entity = entities[it]
            kind = entity.type
            if entity.offset <= end[kind] and end[kind] != 0:
                end[kind] = max(end[kind], entity.end)
            else:
                flush(entity.offset)
                begin[kind], end[kind] = entity.offset, entity.end
            it += 1
        flush(end_offset)

    stack: list[_Entity] = []

    def add_offset(offset: int) -> None:
        while stack and offset >= stack[-1].end:
            old = len(result)
            add_entities(stack[-1].end)
            if stack[-1].type in ("pre", "code"):
                del result[old:]
            stack.pop()
        add_entities(offset)

    for other in others:
        add_offset(other.offset)
        stack.append(other)
    add_offset(1 << 31)
    return sorted(result, key=_Entity.key)


def _fix_entities(entities: list[_Entity]) -> list[_Entity]:
    entities = sorted((e for e in entities if e.length > 0), key=_Entity.key)
    splittable = [e for e in entities if e.type in _SPLITTABLE]
    quotes = [e for e in entities if e.type in _BLOCKQUOTES]
    continuous = _remove_intersecting(
        [e for e in entities if e.type not in _SPLITTABLE and e.type not in _BLOCKQUOTES]
    )
    if quotes:
        quotes = _remove_intersecting(quotes)
        continuous = sorted(_remove_intersecting_blockquote(continuous, quotes) + quotes, key=_Entity.key)
    if not splittable:
        return continuous
    return sorted(_split_entities(splittable, continuous) + continuous, key=_Entity.key)


def _clean(text: str, entities: list[_Entity]) -> str:
    """Replace control characters by spaces and drop \\r and invisible marks, shifting entities."""
    out: list[str] = []
    removed_at: list[int] = []  # utf16 positions (in the old text) of removed code units
    pos = 0
    for ch in text:
        code = ord(ch)
        width = 2 if code > 0xFFFF else 1
        if code == 13 or code in _REMOVED:
            removed_at.append(pos)
        elif code < 32 and code != 10:
            out.append(" ")
        else:
            out.append(ch)
        pos += width

    def shift(position: int) -> int:
        return position - sum(1 for r in removed_at if r < position)

    if removed_at:
        for entity in entities:
            start, stop = shift(entity.offset), shift(entity.end)
            entity.offset, entity.length = start, stop - start
    return "".join(out)


def is_empty_text(text: str) -> bool:
    """Tell whether text holds only whitespace and invisible characters, as Telegram judges it."""
    return all(ord(ch) <= 32 or ord(ch) in _EMPTY_CHARS for ch in text)


def fix_formatted_text(text: str, entities: list[_Entity]) -> tuple[str, list[_Entity]]:
    """Clean, fix and trim text and entities as tdlib's fix_formatted_text does (may return "")."""
    entities = _fix_entities(entities)
    text = _clean(text, entities)
    entities = _fix_entities(entities)
    stripped = text.rstrip(" \n")
    if not stripped:
        return "", []
    limit = utf16_len(stripped)
    kept = []
    for entity in entities:
        if entity.offset >= limit:
            continue
        entity.length = min(entity.length, limit - entity.offset)
        kept.append(entity)
    first = kept[0].offset if kept else len(stripped)
    lead = 0
    while lead < first and lead < len(stripped) and stripped[lead] in " \n":
        lead += 1
    for entity in kept:
        entity.offset -= lead
    kept.sort(key=_Entity.key)
    return stripped[lead:], _cap_entities(kept)


def _cap_entities(entities: list[_Entity]) -> list[_Entity]:
    other = [e for e in entities if e.type not in _SPLITTABLE and e.type != "custom_emoji"]
    emoji = [e for e in entities if e.type == "custom_emoji"]
    splittable = [e for e in entities if e.type in _SPLITTABLE]
    kept = other[:MAX_USER_ENTITIES]
    kept += splittable[: max(0, MAX_USER_ENTITIES - len(kept))]
    return sorted(kept + emoji, key=_Entity.key)


def parse_telegram_html(text: str) -> tuple[str, list[dict]]:
    """Parse Telegram HTML into (text, entities) as the Bot API stores it; raise TelegramHtmlError.

    The text is cleaned and trimmed like Telegram does (it may come back empty); entity offsets and
    lengths are UTF-16 code units, sorted as the Bot API returns them.
    """
    raw, entities = _parse_html_raw(text)
    fixed, entities = fix_formatted_text(raw, entities)
    return fixed, [e.to_dict() for e in entities]


def _entities_from_json(items: object) -> list[_Entity]:
    if not isinstance(items, list):
        raise BotApiError("Bad Request: can't parse entities JSON object")
    out = []
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("offset"), int):
            raise BotApiError("Bad Request: can't parse MessageEntity JSON object")
        kind = str(item.get("type", ""))
        argument = str(item.get("language") or item.get("url") or item.get("custom_emoji_id") or "")
        if kind == "text_mention" and isinstance(item.get("user"), dict):
            argument = str(item["user"].get("id", ""))
        out.append(_Entity(kind, int(item["offset"]), int(item.get("length", 0)), argument))
    return out


def check_text(
    text: object,
    parse_mode: object = None,
    entities: object = None,
    *,
    caption: bool = False,
) -> tuple[str, list[dict]]:
    """Validate a message text or caption like sendMessage/sendDocument; return (text, entities).

    Raises BotApiError with Telegram's exact description (TelegramHtmlError for HTML errors).
    """
    if text is None or text == "":
        if caption:
            return "", []
        raise BotApiError("Bad Request: message text is empty")
    text = str(text)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise BotApiError("Bad Request: text is too long")
    mode = str(parse_mode or "").lower()
    if mode not in ("", "html", "markdown", "markdownv2"):
        raise BotApiError("Bad Request: unsupported parse_mode")
    if mode == "html":
        raw, parsed = _parse_html_raw(text)
    elif entities:
        raw, parsed = text, _entities_from_json(entities)
    else:
        raw, parsed = text, []
    fixed, parsed = fix_formatted_text(raw, parsed)
    if is_empty_text(fixed):
        if caption:
            return "", []
        raise BotApiError("Bad Request: text must be non-empty")
    if caption and len(fixed) > MAX_CAPTION_LENGTH:
        raise BotApiError("Bad Request: message caption is too long")
    if not caption and len(fixed) > MAX_MESSAGE_LENGTH:
        raise BotApiError("Bad Request: message is too long")
    return fixed, [e.to_dict() for e in parsed]


def _is_word(ch: str) -> bool:
    return bool(ch) and (ch == "_" or ch.isalnum())


def find_entities(text: str) -> list[dict]:
    """Detect bot_command, mention, hashtag and url entities in user text, as Telegram clients see them."""
    found: list[_Entity] = []

    def add(kind: str, start: int, stop: int) -> None:
        found.append(_Entity(kind, utf16_len(text[:start]), utf16_len(text[start:stop])))

    for m in re.finditer(r"/([A-Za-z0-9_]{1,64})(@[A-Za-z0-9_]{3,32})?", text):
        prev = text[m.start() - 1] if m.start() else ""
        nxt = text[m.end()] if m.end() < len(text) else ""
        if not (_is_word(prev) or (prev and prev in "/<>")) and not (
            _is_word(nxt) or (nxt and nxt in "/<>@")
        ):
            add("bot_command", m.start(), m.end())
    for m in re.finditer(r"@([A-Za-z0-9_]{2,32})", text):
        prev = text[m.start() - 1] if m.start() else ""
        nxt = text[m.end()] if m.end() < len(text) else ""
        if not _is_word(prev) and not _is_word(nxt):
            add("mention", m.start(), m.end())
    for m in re.finditer(r"#(\w{1,256})", text):
        prev = text[m.start() - 1] if m.start() else ""
        if not _is_word(prev) and any(ch.isalpha() for ch in m.group(1)):
            add("hashtag", m.start(), m.end())
    for m in re.finditer(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'，。]", text):
        add("url", m.start(), m.end())
    found = _remove_intersecting(sorted(found, key=_Entity.key))
    return [e.to_dict() for e in found]

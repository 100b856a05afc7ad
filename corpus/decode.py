"""Pure decoding of page bytes: UTF-8 (BOM or not), GB2312/GBK/GB18030, Big5, mislabelled pages."""

from __future__ import annotations

import codecs
import logging
import re

from corpus.errors import CorpusError

log = logging.getLogger(__name__)

_META_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_XML_ENCODING = re.compile(rb"""<\?xml[^>]{0,100}?encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""", re.IGNORECASE)

# GB2312 and GBK pages routinely hold characters only their superset has; Big5 likewise with HKSCS.
_WIDER = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "cp936": "gb18030",
    "x-gbk": "gb18030",
    "gb_2312-80": "gb18030",
    "euc-cn": "gb18030",
    "hz-gb-2312": "gb18030",
    "big5": "big5hkscs",
    "big5-hkscs": "big5hkscs",
    "cp950": "big5hkscs",
    "x-x-big5": "big5hkscs",
    "iso-8859-1": "cp1252",  # what browsers actually do (WHATWG)
    "latin-1": "cp1252",
    "ascii": "cp1252",
    "us-ascii": "cp1252",
}
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")


def declared_charset(data: bytes) -> str | None:
    """Return the charset a page declares in <meta> or an XML declaration, normalised, or None."""
    head = data[:4096]
    match = _META_CHARSET.search(head) or _XML_ENCODING.search(head)
    if not match:
        return None
    name = match.group(1).decode("ascii", "ignore").lower()
    name = _WIDER.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


def _looks_binary(data: bytes) -> bool:
    sample = data[:8192]
    return b"\x00" in sample or len(_CONTROL.findall(sample.decode("latin-1"))) > len(sample) // 20


def decode_page(data: bytes, charset: str | None = None) -> str:
    """Return the text of page bytes: a server's charset, strict UTF-8, the declared one, then detection."""
    for bom, codec in (
        (codecs.BOM_UTF8, "utf-8"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec).lstrip("\ufeff")
            except UnicodeDecodeError as exc:
                raise CorpusError(f"bad {codec} after a byte-order mark: {exc.reason}") from exc
    if _looks_binary(data):
        raise CorpusError("binary file, not a text page")
    if charset and (served := _decode_served(data, charset)) is not None:
        return served
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A page cut off inside a multi-byte character (a truncated download) is still UTF-8.
        if exc.reason == "unexpected end of data":
            return data[: exc.start].decode("utf-8")
    if (damaged := _damaged_utf8(data)) is not None:
        return damaged
    declared = declared_charset(data)
    if declared and declared != "utf-8":
        try:
            text = data.decode(declared)
        except UnicodeDecodeError:
            log.debug("page declares %s but does not decode as it", declared)
        else:
            return _recheck_chinese(data, declared, text)
    return _detect(data)


def _decode_served(data: bytes, charset: str) -> str | None:
    """Return the page decoded with the charset its HTTP header names, or None to look further."""
    name = _WIDER.get(charset.strip().lower(), charset.strip().lower())
    try:
        codec = codecs.lookup(name).name
    except LookupError:
        return None
    # Servers label pages latin-1 by default whatever they hold, and cp1252 decodes any byte.
    if codec == "cp1252":
        return None
    try:
        text = data.decode(codec)
    except UnicodeDecodeError:
        log.debug("server says %s but the page does not decode as it", codec)
        return None
    return _recheck_chinese(data, codec, text)


def _damaged_utf8(data: bytes) -> str | None:
    """Return a UTF-8 page with a few stray bytes decoded as a browser shows it (U+FFFD), else None."""
    text = data.decode("utf-8", "replace")
    bad = text.count("\ufffd")
    good = sum(ch > "\x7f" for ch in text) - bad
    # GBK or Big5 read as UTF-8 fails on nearly every character; a damaged UTF-8 page on a handful.
    return text if good >= 50 * bad else None


# Frequent characters of Chinese news in both scripts. A page decoded with the wrong Chinese codec
# still "decodes" (GB18030 accepts almost any byte pair) but almost none of its characters are these.
_FREQUENT = frozenset(
    "的一是不了在人有我他这這个個们們中来來上大为為和国國地到以说說时時要就出会會可也你对對生能而子那得于"
    "着著下自之年过過发發后後作里裏用道行所然家种種事成方多经經么麼去法学學如都同现現当當没沒动動面起看定天"
    "分还還进進好小部其些主样樣理心她本前开開但因只从從想实實日军軍者意无無力它与與长長把机機十民第公此已工"
    "使情明性知全三又关關点點正业業外将將两兩高间間由问問很最重并並物手应應战戰向头頭文体體政美相见見被利什"
    "二等产產或新己制身果加西斯月话話合回特代内內信表化老给給世位次度门門任常先海通教儿兒原东東声聲提立及比"
    "员員解水名真论論处處走义義各入几幾口认認条條平系气氣题題活尔爾更别別打女变變四神总總何电電数數安少报報"
    "才结結反受目太量再感建务務做接必场場件计計管期市直德资資命山金指克许許统統区區保至队隊形社便空决決治展"
    "马馬科司五基书書非则則听聽白却界达達光放强強即像难難且权權思王象完设設式色路记記南品住告类類求据據程北"
    "边邊死张張该該交规規万萬取拉格望觉覺术術领領共确確传傳师師观觀清今切院让讓识識候带帶导導争爭运運台臺湾"
    "灣港府美国际際总統统选選举舉"
)
_CHINESE_CODECS = ("gb18030", "big5hkscs")


def chinese_score(text: str) -> float:
    """Return the share of a text's CJK ideographs that are frequent news characters."""
    ideographs = [ch for ch in text if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"]
    if not ideographs:
        return 0.0
    return sum(ch in _FREQUENT for ch in ideographs) / len(ideographs)


def _recheck_chinese(data: bytes, declared: str, text: str) -> str:
    # A Big5 page labelled gb2312 (or the reverse) decodes without error into nonsense.
    if declared not in _CHINESE_CODECS:
        return text
    other = _CHINESE_CODECS[1 - _CHINESE_CODECS.index(declared)]
    try:
        alternative = data.decode(other)
    except UnicodeDecodeError:
        return text
    if chinese_score(alternative) > chinese_score(text) + 0.15:
        log.debug("page declares %s but reads as %s", declared, other)
        return alternative
    return text


def _detect(data: bytes) -> str:
    decoded = {codec: text for codec in _CHINESE_CODECS if (text := _decode_or_none(data, codec)) is not None}
    if decoded:
        best = max(decoded, key=lambda codec: chinese_score(decoded[codec]))
        if chinese_score(decoded[best]) >= 0.1:
            return decoded[best]
    from charset_normalizer import from_bytes

    match = from_bytes(data).best()
    if match is None:
        raise CorpusError("cannot determine the text encoding")
    return str(match)


def _decode_or_none(data: bytes, codec: str) -> str | None:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        return None

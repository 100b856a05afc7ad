"""Pure text rules for news pages: whitespace, captions, trailers, outlets, dates, site suffixes."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import date

# Browsers collapse every whitespace run (\u3000, nbsp included) into one space; zero-width characters
# (\u200b, \ufeff) are not whitespace and stay, so quotes still match the page character for character.
_SPACE = re.compile(r"\s+")

# Photo credits closing a short paragraph: （图／路透）, （示意图／路透社）, （圖／翻攝自臉書）, (Photo: AP).
_CAPTION = re.compile(
    r"[（(]\s*(?:示意|資料|资料|翻攝|翻摄|新聞|新闻|取自|截)?"
    r"(?:图片|圖片|图|圖|照片|照|摄影|攝影|摄|攝|影片截圖|视频截图|photo|Photo|PHOTO|image|Image)"
    r"\s*(?:来源|來源|提供)?\s*[／/：:|｜][^（）()]{0,60}[）)]\s*$"
)
CAPTION_MAX_CHARS = 160

# Lines that close (or open) a news page and are not the article: editor credits, corrections, notices.
_TRAILER = re.compile(
    r"^[\s（(【\[]*(?:(?:原标题|原標題|责任编辑|責任編輯|责编|責編|编辑|編輯|本文来源|本文來源|文章来源|文章來源"
    r"|声明|聲明|版权声明|版權聲明)\s*[：:]|【纠错】|【糾錯】|纠错】|免责声明|免責聲明|转载请注明|轉載請註明)"
)
# A paragraph that only names the outlet (来源：新华网) is metadata, not article text.
_SOURCE_LINE = re.compile(r"^[\s（(【\[]*(?:来源|來源|稿源)\s*[：:]\s*\S{0,30}[\s）)】\]]*$")
_TRAILER_TAIL = re.compile(
    r"\s*[（(【\[]\s*(?:责任编辑|責任編輯|责编|責編|编辑|編輯)\s*[：:][^）)】\]]*[）)】\]]\s*$"
)

_OUTLET = re.compile(
    r"(?:^|[\s|｜【\[(（])(?:本文|文章|新闻|新聞|稿件|信息)?(?:来源|來源|稿源|出处|出處)\s*[：:]\s*"
    r"([^\s|｜，,。；;】\]()（）]{1,40})"
)

_DATE_PATTERNS = (
    re.compile(r"(?<!\d)((?:19|20)\d{2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日"),
    re.compile(r"(?<!\d)((?:19|20)\d{2})[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)"),
)
_URL_DATE_PATTERNS = (
    re.compile(r"(?<!\d)((?:19|20)\d{2})(0[1-9]|1[0-2])([0-2]\d|3[01])(?!\d)"),  # /20220923/, t20220923_1
    re.compile(r"/((?:19|20)\d{2})[-/](\d{1,2})[-/](\d{1,2})(?!\d)"),  # /2022/09/23/, /2022-09/23/
)

# Site names after the headline in <title>: "标题 -六四天网 禁闻网", "标题_新浪新闻", "标题--国际--人民网".
_TITLE_SEPARATOR = re.compile(r"\s+[-–—|｜_]+\s*|\s*[|｜_]\s*|\s*[-–—]{2,}\s*|\s*[-–—]\s+")


def normalize_space(text: str) -> str:
    """Return text with every whitespace run (\\u3000, nbsp, newlines) as one space, trimmed."""
    return _SPACE.sub(" ", text).strip()


def squash(text: str) -> str:
    """Return text without any whitespace, for comparing paragraphs regardless of spacing."""
    return _SPACE.sub("", text)


def text_fingerprint(title: str, body: Iterable[str]) -> str:
    """Return a hash of a title and body paragraphs, equal for the same article saved twice."""
    text = "\n".join(squash(paragraph) for paragraph in body)
    return hashlib.sha256(f"{squash(title)}\n{text}".encode()).hexdigest()


def is_caption(text: str) -> bool:
    """Tell whether a paragraph is an image caption ending in a photo credit such as （图／路透）."""
    return len(text) <= CAPTION_MAX_CHARS and _CAPTION.search(text) is not None


def is_trailer(text: str) -> bool:
    """Tell whether a paragraph is an editor credit, original-title line, correction link or notice."""
    return _TRAILER.match(text) is not None or _SOURCE_LINE.match(text) is not None


def strip_trailer_tail(text: str) -> str:
    """Return a paragraph without a closing editor credit such as （责任编辑：王擎宇）."""
    return _TRAILER_TAIL.sub("", text)


def find_outlet(text: str) -> str | None:
    """Return the outlet named in a 来源：X line, or None."""
    match = _OUTLET.search(text)
    return match.group(1).strip() if match else None


def _iso(year: str, month: str, day: str) -> str | None:
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        return None


def find_date(text: str) -> str | None:
    """Return the first valid calendar date written in text (2022年9月23日, 2022-09-23) as YYYY-MM-DD."""
    for pattern in _DATE_PATTERNS:
        for match in pattern.finditer(text):
            found = _iso(*match.groups())
            if found:
                return found
    return None


def find_url_date(url: str) -> str | None:
    """Return a date embedded in a URL or path (/20220923/, /2022/09/23/, /2022-09/23/) as YYYY-MM-DD."""
    for pattern in _URL_DATE_PATTERNS:
        for match in pattern.finditer(url):
            found = _iso(*match.groups())
            if found:
                return found
    return None


def iso_date(value: str) -> str | None:
    """Return the date of a timestamp such as 2022-09-23T08:00:00+08:00 as YYYY-MM-DD."""
    return find_date(value[:32])


def strip_site_suffix(title: str) -> str:
    """Return a <title> without the site name after it (-六四天网 禁闻网, _新浪新闻, |人民网)."""
    title = normalize_space(title)
    parts = [part for part in _TITLE_SEPARATOR.split(title) if part.strip()]
    return parts[0].strip() if parts else title

"""Text folding and tokens for matching: traditional to simplified, half-width, lowercase, segmented."""

from __future__ import annotations

import logging
import re
import unicodedata
from functools import cache, lru_cache
from typing import Any

# "bigram": Han runs become their character bigrams; "unibigram": characters plus bigrams;
# "jieba": jieba words. Runs of letters/digits are one token in all three. On the eval set
# (bench/quality.py --segmenters) unibigram beat bigram and jieba on ans@1 overall (0.832 vs
# 0.809 / 0.815), needs no dictionary (names missing from jieba's still match) and indexes 3x
# faster than jieba; unigrams rescue one-character words (州, 河) that bigrams split badly.
DEFAULT_SEGMENTER = "unibigram"
SEGMENTERS = ("bigram", "unibigram", "jieba")

_RUN = re.compile(
    r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]+"  # Han (incl. ext. A-G)
    r"|[0-9a-z\u00c0-\u024f\u0370-\u03ff\u0400-\u04ff]+"  # Latin, digits, Greek, Cyrillic words
    r"|[\u3040-\u30ff\uac00-\ud7af]+"  # kana, hangul
)
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")


@cache
def _converter() -> Any:
    """Return the OpenCC traditional-to-simplified converter (loaded once)."""
    from opencc import OpenCC

    return OpenCC("t2s")


# Highlighting folds the same quoted passages and sentences for question after question, and
# OpenCC (pure Python) was a fifth of a question's CPU beside the encoder: short texts are
# remembered, at most FOLD_CACHE of them (a few MB), so memory stays bounded while the bot runs.
FOLD_CACHE = 4096
FOLD_CACHED_CHARS = 1000


def fold(text: str) -> str:
    """Return text folded for matching only: simplified script, half-width (NFKC), lowercase."""
    return _fold_short(text) if len(text) <= FOLD_CACHED_CHARS else _fold(text)


def _fold(text: str) -> str:
    """Return text folded (see fold), computed afresh."""
    # NFKC maps full-width ASCII (Ａ１，) to half-width; OpenCC then folds 臺灣/台灣 -> 台湾.
    normalised = unicodedata.normalize("NFKC", text).lower()
    return str(_converter().convert(normalised)) if _HAN.search(normalised) else normalised


_fold_short = lru_cache(maxsize=FOLD_CACHE)(_fold)


@cache
def _jieba() -> Any:
    """Return jieba, initialised quietly."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def _cjk_tokens(run: str, segmenter: str) -> list[str]:
    """Return the tokens of one run of Han characters."""
    if segmenter == "jieba":
        return [w for w in _jieba().lcut(run) if w.strip()]
    if len(run) == 1:
        return [run]
    bigrams = [run[i : i + 2] for i in range(len(run) - 1)]
    return list(run) + bigrams if segmenter == "unibigram" else bigrams


# Interrogatives (after folding to simplified script). News text rarely contains them, so BM25 gives
# them a high idf and they outweigh the question's content words: on ../shared/eval-news BM25 alone
# went from 0.769 to 0.780 ans@1 without them (bench/quality.py measures the Searcher with them gone).
QUESTION_WORDS = re.compile(
    "为什么|为何|什么样|什么|怎么样|怎么|怎样|如何|哪些|哪个|哪里|哪儿|哪一|哪|谁|多少|多久|多长|多大|几|"
    "何时|何地|何人|何种|是否|吗|呢|请问"
)


def content_query(question: str) -> str:
    """Return question folded, its interrogatives blanked (unchanged if nothing else would remain)."""
    folded = fold(question)
    content = QUESTION_WORDS.sub(" ", folded)
    return content if _RUN.search(content) else folded


def tokenize(text: str, segmenter: str = DEFAULT_SEGMENTER) -> list[str]:
    """Return the BM25 tokens of text (folded first)."""
    tokens: list[str] = []
    for match in _RUN.finditer(fold(text)):
        run = match.group()
        tokens.extend(_cjk_tokens(run, segmenter) if _HAN.match(run) else [run])
    return tokens

"""UI strings: three complete languages, matching placeholders, language picked from language_code."""

from __future__ import annotations

import ast
import html
import string

import pytest

from bot.i18n import LANGUAGES, STRINGS, pick_language, text
from tests.conftest import REPO


def placeholders(template: str) -> set[str]:
    """Return the names of the format fields in a template."""
    return {field for _, field, _, _ in string.Formatter().parse(template) if field is not None}


def test_every_language_is_reachable() -> None:
    # A language added to the UI must also be picked for its own tag.
    assert [pick_language(lang) for lang in LANGUAGES] == list(LANGUAGES)


def literal_keys(tree: ast.AST) -> set[str]:
    """Return the string-literal keys of text(lang, key, ...) calls, both arms of an `x if c else y`."""
    keys: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and len(node.args) >= 2:
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "text":
                arg = node.args[1]
                arms = [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]
                keys |= {a.value for a in arms if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return keys


def test_every_key_the_code_asks_for_exists() -> None:
    used: set[str] = set()
    for path in sorted((REPO / "bot").rglob("*.py")):
        used |= literal_keys(ast.parse(path.read_text(encoding="utf-8")))
    assert not used - set(STRINGS), f"keys the code uses but bot/i18n.py lacks: {sorted(used - set(STRINGS))}"


def test_the_key_scan_sees_both_arms_and_methods() -> None:
    code = (
        'i18n.text(lang, "a")\ntext(lang, "b" if x else "c", n=1)\ntext(lang, f"d_{x}")\nother(lang, "e")\n'
    )
    assert literal_keys(ast.parse(code)) == {"a", "b", "c"}


@pytest.mark.parametrize("key", sorted(STRINGS))
def test_every_key_exists_in_every_language_with_the_same_placeholders(key: str) -> None:
    variants = STRINGS[key]
    assert set(variants) == set(LANGUAGES), f"{key} lacks {set(LANGUAGES) - set(variants)}"
    fields = {lang: placeholders(variants[lang]) for lang in LANGUAGES}
    assert fields["zh-hant"] == fields["zh-hans"] == fields["en"], f"{key}: {fields}"
    for lang in LANGUAGES:
        assert variants[lang].strip(), f"{key} is empty in {lang}"
        # Templates are HTML-safe as they stand, so a template is itself valid Telegram HTML.
        assert html.escape(variants[lang], quote=False) == variants[lang], f"{key}/{lang} needs escaping"


@pytest.mark.parametrize("key", sorted(STRINGS))
def test_the_three_languages_really_differ(key: str) -> None:
    variants = STRINGS[key]
    # English must not be Chinese, and every Chinese string differs from English.
    assert not any("\u4e00" <= ch <= "\u9fff" for ch in variants["en"]), key
    assert variants["zh-hans"] != variants["en"]


def test_traditional_strings_use_traditional_characters() -> None:
    hans = "".join(v["zh-hans"] for v in STRINGS.values())
    hant = "".join(v["zh-hant"] for v in STRINGS.values())
    # Simplified-only characters that the UI uses and their traditional forms.
    for simplified, traditional in [("语", "語"), ("问", "問"), ("题", "題"), ("这", "這"), ("请", "請")]:
        assert simplified in hans and simplified not in hant
        assert traditional in hant and traditional not in hans


REQUIRED_KEYS = {
    "start", "start_examples", "help", "help_admin", "not_found", "nearest", "more_button",
    "context_button", "stale", "rate_limited", "error", "refused", "progress", "report",
    "upload_saved", "upload_refused", "upload_summary", "status_title", "usage_question",
    "usage_ask", "busy", "index_missing",
}  # fmt: skip


def test_the_bot_has_every_string_it_needs() -> None:
    assert set(STRINGS) >= REQUIRED_KEYS, REQUIRED_KEYS - set(STRINGS)


@pytest.mark.parametrize(
    ("code", "lang"),
    [
        (None, "zh-hans"),
        ("", "zh-hans"),
        ("zh", "zh-hans"),
        ("zh-hans", "zh-hans"),
        ("zh-CN", "zh-hans"),
        ("zh-sg", "zh-hans"),
        ("zh-hant", "zh-hant"),
        ("zh-Hant-TW", "zh-hant"),
        ("zh-tw", "zh-hant"),
        ("zh-HK", "zh-hant"),
        ("zh_hk", "zh-hant"),
        ("zh-mo", "zh-hant"),
        ("en", "en"),
        ("en-GB", "en"),
        ("en-us", "en"),
        ("ru", "zh-hans"),
        ("ja", "zh-hans"),
        ("eng", "zh-hans"),
        # Locale names, as `quotebot chat` passes LANG.
        ("en_US.UTF-8", "en"),
        ("zh_TW.UTF-8", "zh-hant"),
        ("zh_CN.UTF-8", "zh-hans"),
        ("C.UTF-8", "zh-hans"),
    ],
)
def test_pick_language(code: str | None, lang: str) -> None:
    assert pick_language(code) == lang


def test_text_fills_values_per_language() -> None:
    assert text("en", "rate_limited", seconds=12) == "Too many questions at once; please try again in 12 s."
    assert text("zh-hans", "rate_limited", seconds=12) == "提问太频繁了，请 12 秒后再试。"
    assert text("zh-hant", "rate_limited", seconds=12) == "提問太頻繁了，請 12 秒後再試。"


def test_text_rejects_unknown_keys_and_missing_values() -> None:
    with pytest.raises(KeyError):
        text("en", "no_such_key")
    with pytest.raises(KeyError):
        text("en", "rate_limited")

"""The UI language of a user, and UI strings filled in for it (the strings live in bot.strings)."""

from __future__ import annotations

from bot.languages import DEFAULT, LANGUAGES, Lang
from bot.strings import STRINGS

__all__ = ["DEFAULT", "LANGUAGES", "STRINGS", "Lang", "pick_language", "text"]

# Telegram sends IETF tags such as "zh-hans", "zh-hant", "zh-tw", "zh-hk", "en-gb", "en".
_HANT_TAGS = ("zh-hant", "zh-tw", "zh-hk", "zh-mo")


def pick_language(language_code: str | None) -> Lang:
    """Return the UI language for a Telegram language_code (simplified Chinese unless told otherwise)."""
    if not language_code:
        return DEFAULT
    tag = language_code.strip().lower().replace("_", "-")
    if tag == "en" or tag.startswith("en-"):
        return "en"
    if tag.startswith(_HANT_TAGS) or (tag.startswith("zh-") and "-hant" in tag):
        return "zh-hant"
    return DEFAULT


def text(lang: Lang, key: str, **values: object) -> str:
    """Return the UI string `key` in `lang` with `values` filled in (raises KeyError for unknown keys)."""
    variants = STRINGS[key]
    template = variants.get(lang, variants[DEFAULT])
    return template.format(**values) if values else template.format()

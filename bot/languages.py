"""The UI languages the bot speaks, which both string tables are keyed by."""

from __future__ import annotations

from typing import Literal, get_args

Lang = Literal["zh-hans", "zh-hant", "en"]
LANGUAGES: tuple[Lang, ...] = get_args(Lang)
DEFAULT: Lang = "zh-hans"

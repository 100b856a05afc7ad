"""Settings: QUOTEBOT_* variables, .env, CLI overrides, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_MODEL, ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("QUOTEBOT_MODEL", "QUOTEBOT_ADMIN_IDS", "QUOTEBOT_TOP_K", "QUOTEBOT_TELEGRAM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_defaults_name_the_hub_model() -> None:
    settings = load_settings()
    assert settings.model == DEFAULT_MODEL
    assert settings.admin_ids == frozenset()
    assert settings.telegram_token is None


def test_environment_is_read_and_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTEBOT_ADMIN_IDS", "12, 34;56")
    monkeypatch.setenv("QUOTEBOT_TOP_K", "5")
    monkeypatch.setenv("QUOTEBOT_TELEGRAM_API_URL", "http://127.0.0.1:8081/")
    settings = load_settings()
    assert settings.admin_ids == frozenset({12, 34, 56})
    assert settings.top_k == 5
    assert settings.telegram_api_url == "http://127.0.0.1:8081"


def test_dotenv_is_read_and_cli_overrides_win(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("QUOTEBOT_MODEL=/models/a\nQUOTEBOT_CORPUS_DIR=pages\n", encoding="utf-8")
    settings = load_settings(model="/models/b")
    assert settings.model == "/models/b"
    assert settings.corpus_dir == Path("pages")


def test_token_is_secret_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QUOTEBOT_TELEGRAM_TOKEN", "123456:SECRET-TOKEN")
    settings = load_settings()
    assert settings.telegram_token is not None
    assert settings.telegram_token.get_secret_value() == "123456:SECRET-TOKEN"
    assert "SECRET-TOKEN" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("QUOTEBOT_ADMIN_IDS", "12,alice", "QUOTEBOT_ADMIN_IDS"),
        ("QUOTEBOT_TOP_K", "0", "QUOTEBOT_TOP_K"),
        ("QUOTEBOT_LOG_LEVEL", "loud", "QUOTEBOT_LOG_LEVEL"),
        ("QUOTEBOT_WEBHOOK_PORT", "99999", "QUOTEBOT_WEBHOOK_PORT"),
    ],
)
def test_bad_values_fail_fast_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert fragment in str(info.value)

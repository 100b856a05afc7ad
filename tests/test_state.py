"""The bot's SQLite state: button keys stay bounded while the bot runs, not only at start-up."""

from __future__ import annotations

from pathlib import Path

from bot.state import BotState


def test_button_keys_stay_bounded_while_running(tmp_path: Path) -> None:
    state = BotState(tmp_path / "state.sqlite3", max_buttons=50, prune_every=10)
    keys = [state.remember(f"问题 {i}") for i in range(500)]
    assert state.buttons() < 50 + 10
    assert state.recall(keys[-1]) is not None  # the newest survive
    assert state.recall(keys[0]) is None  # the oldest went, without a restart


def test_prune_keeps_the_newest_max_buttons(tmp_path: Path) -> None:
    state = BotState(tmp_path / "state.sqlite3", max_buttons=5, prune_every=1_000)
    keys = [state.remember(f"q{i}") for i in range(12)]
    assert state.buttons() == 12  # no prune yet
    assert state.prune() == 7
    assert [state.recall(k) is not None for k in keys] == [False] * 7 + [True] * 5

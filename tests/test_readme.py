"""The README stays true: every setting, command and make target the code has is documented."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from bot.cli import build_parser
from bot.config import Settings

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Return the CLI's subcommand parsers by name."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_setting_is_in_the_configuration_table() -> None:
    names = [f"QUOTEBOT_{name.upper()}" for name in Settings.model_fields]
    missing = [name for name in names if name not in README]
    assert not missing, f"README lacks settings: {missing}"


def test_every_command_and_its_options_are_documented() -> None:
    commands = subcommands(build_parser())
    assert {"parse", "corpus", "index", "search", "chat", "serve"} <= set(commands)
    for name, parser in commands.items():
        assert f"quotebot {name}" in README, f"README lacks `quotebot {name}`"
        for action in parser._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help":
                    assert flag in README, f"README lacks `{flag}` of `quotebot {name}`"


def test_the_quick_start_commands_are_the_ones_ci_and_make_use() -> None:
    quick = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^    (\S.*)$", quick, flags=re.MULTILINE)
    assert commands == ["make run", "make test"]
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert re.search(r"^make test$", ci, flags=re.MULTILINE)
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    for target in re.findall(r"`make ([a-z-]+)", README):
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"no make target {target}"

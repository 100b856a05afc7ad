"""What a non-editable install ships: every package directory, as the Docker image installs it."""

from __future__ import annotations

import tomllib
from pathlib import Path

from setuptools import find_packages

REPO = Path(__file__).resolve().parents[1]


def package_dirs() -> set[str]:
    """Return the dotted names of every directory with an __init__.py under the three packages."""
    return {
        ".".join(init.parent.relative_to(REPO).parts)
        for top in ("corpus", "embeddings", "bot")
        for init in (REPO / top).rglob("__init__.py")
    }


def test_the_wheel_includes_every_sub_package() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    find = config["packages"]["find"]
    shipped = set(find_packages(where=str(REPO), include=find["include"], exclude=find.get("exclude", ())))
    assert {"bot.cli", "bot.telegram", "bot.render"} <= package_dirs()
    assert shipped == package_dirs()

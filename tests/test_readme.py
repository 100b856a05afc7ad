"""The README stays true and short: every setting, command and make target is documented, links resolve."""

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
    docs = "".join(page.read_text(encoding="utf-8") for page in sorted((REPO / "docs").glob("*.md")))
    for target in re.findall(r"`make ([a-z-]+)", README + docs):
        assert re.search(rf"^{target}:", makefile, flags=re.MULTILINE), f"no make target {target}"


README_LIMIT_BYTES = 15_000
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def heading_anchors(markdown: str) -> set[str]:
    """Return the anchors GitHub gives the headings of a Markdown text."""
    anchors = set()
    for heading in re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
        anchors.add(slug.replace(" ", "-"))
    return anchors


def broken_links(page: Path) -> list[str]:
    """Return the relative links of a Markdown page whose file or heading does not exist."""
    broken = []
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (
            anchor
            and linked.suffix == ".md"
            and anchor not in heading_anchors(linked.read_text(encoding="utf-8"))
        ):
            broken.append(target)
    return broken


def test_the_readme_stays_short() -> None:
    size = len(README.encode("utf-8"))
    assert size <= README_LIMIT_BYTES, f"README.md is {size} bytes; move detail into docs/"


def test_every_relative_link_in_the_readme_and_docs_resolves() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    assert len(pages) > 6
    broken = {page.name: links for page in pages if (links := broken_links(page))}
    assert not broken, f"links to missing files or headings: {broken}"


def test_the_readme_links_every_page_of_docs() -> None:
    for page in sorted((REPO / "docs").glob("*.md")):
        assert f"(docs/{page.name}" in README, f"README does not link docs/{page.name}"

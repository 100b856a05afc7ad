"""The import rules of STYLE.md: corpus -> embeddings -> bot, and one home module per outside thing."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("corpus", "embeddings", "bot")

# Which project packages each package may import.
ALLOWED_PACKAGES = {
    "corpus": {"corpus"},
    "embeddings": {"corpus", "embeddings"},
    "bot": {"corpus", "embeddings", "bot"},
}

# Each outside thing has one home; the set lists the modules allowed to import it.
HOMES = {
    "faiss": {"embeddings/dense.py"},
    "sentence_transformers": {"embeddings/encoder.py"},
    "torch": {"embeddings/encoder.py"},
    "transformers": {"embeddings/encoder.py"},
    "bm25s": {"embeddings/lexical.py"},
    "jieba": {"embeddings/lexical.py"},
    "opencc": {"embeddings/lexical.py"},
    "trafilatura": {"corpus/extract.py"},
    "telegram": {f"bot/telegram/{p.name}" for p in (REPO / "bot" / "telegram").glob("*.py")},
}


def imported_modules(path: Path) -> set[str]:
    """Return the top-level names of every module a file imports (anywhere in it)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def source_files() -> list[Path]:
    """Return every Python file of the three packages."""
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def test_the_packages_have_code() -> None:
    assert len(source_files()) >= 10


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_imports_follow_the_direction_and_homes(path: Path) -> None:
    rel = path.relative_to(REPO).as_posix()
    package = rel.split("/")[0]
    imports = imported_modules(path)
    forbidden = (set(PACKAGES) - ALLOWED_PACKAGES[package]) & imports
    assert not forbidden, f"{rel} imports {sorted(forbidden)} against corpus -> embeddings -> bot"
    for outside, homes in HOMES.items():
        if outside in imports:
            assert rel in homes, f"{rel} imports {outside}; only {sorted(homes)} may"


def test_the_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import faiss\nfrom bot.config import Settings\n", encoding="utf-8")
    assert {"faiss", "bot"} <= imported_modules(bad)


def test_cli_help_imports_no_heavy_library() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from bot.cli import build_parser\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    build_parser().format_help()\n"
        "heavy = [m for m in ('torch', 'sentence_transformers', 'faiss', 'telegram', 'bm25s', 'jieba')"
        " if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "", f"--help imported heavy modules: {out.stdout.strip()}"

"""The import rules of STYLE.md: corpus -> embeddings -> bot, and one home module per outside thing."""

from __future__ import annotations

import ast
import statistics
import subprocess
import sys
from collections.abc import Collection
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
    "faiss": {"embeddings/local/dense.py"},
    "sentence_transformers": {
        "embeddings/encoder.py",
        "embeddings/openvino_encoder.py",
        "embeddings/onnx_encoder.py",
    },
    # The answer verifier is the other model: it runs on the same runtimes, in its own home.
    "torch": {
        "embeddings/encoder.py",
        "embeddings/openvino_encoder.py",
        "embeddings/onnx_encoder.py",
        "embeddings/reranker.py",
    },
    "transformers": {
        "embeddings/encoder.py",
        "embeddings/openvino_encoder.py",
        "embeddings/onnx_encoder.py",
        "embeddings/reranker.py",
    },
    "openvino": {"embeddings/openvino_encoder.py", "embeddings/reranker.py"},
    "nncf": {"embeddings/openvino_encoder.py"},
    "onnxruntime": {"embeddings/onnx_encoder.py"},
    "onnx": {"embeddings/onnx_encoder.py"},
    "bm25s": {"embeddings/local/lexical.py"},
    "qdrant_client": {f"embeddings/qdrant/{p.name}" for p in (REPO / "embeddings" / "qdrant").glob("*.py")},
    "jieba": {"embeddings/tokens.py"},
    "opencc": {"embeddings/tokens.py"},
    "trafilatura": {"corpus/extract.py"},
    "telegram": {f"bot/telegram/{p.name}" for p in (REPO / "bot" / "telegram").glob("*.py")},
    # The web is read by corpus/fetch.py alone; python-telegram-bot's own client is httpx too.
    "httpx": {"corpus/fetch.py"}
    | {f"bot/telegram/{p.name}" for p in (REPO / "bot" / "telegram").glob("*.py")},
    "httpcore": {"corpus/fetch.py"},
    "feedparser": {"corpus/feeds.py"},
    "protego": {"corpus/politeness.py"},
}
# Modules that open network connections, by full name (urllib.parse is pure and free to use).
NETWORK_MODULES = ("socket", "urllib.request", "http.client", "requests", "aiohttp", "urllib3", "httpcore")
NETWORK_HOME = "corpus/fetch.py"


# Handlers and renderers speak to services (search, the reindex, errors, records), never to the
# parser's or the ranker's internals.
FRONT_ENDS = ("bot/telegram/", "bot/render/")
INTERNALS = ("corpus", "embeddings.rank", "embeddings.tokens", "embeddings.local", "embeddings.page_diff")
INTERNALS += ("embeddings.cache", "embeddings.ids", "embeddings.manifest")
FRONT_ENDS_MAY_USE = ("corpus.errors", "corpus.models")

MAX_LINES = 400
MEDIAN_MAX_LINES = 200
# Modules still over MAX_LINES; each is listed until it is split, and must then leave this set.
OVER_LIMIT: set[str] = set()


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


def internals_used(names: set[str]) -> set[str]:
    """Return the parsing and ranking internals among imported names."""

    def under(name: str, prefixes: tuple[str, ...]) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    return {n for n in names if under(n, INTERNALS) and n != "corpus" and not under(n, FRONT_ENDS_MAY_USE)}


def source_files() -> list[Path]:
    """Return every Python file of the three packages."""
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


# The local backend (embeddings/local/) sits behind embeddings/backend.py; above the contract only
# these modules may name it: the CLI's and the bot's door, and the transitional directory shim.
LOCAL_BACKEND_USERS = {"bot/indexing.py"}
# Names of the generation layout on disk; only the generations module may spell them.
LAYOUT_NAMES = ("current", "previous", "gen-", ".tmp-", ".partial", "vectors.npy", "manifest.json")
LAYOUT_NAMES += ("passages.jsonl", "dense.faiss", ".lock")
LAYOUT_HOME = "embeddings/local/generations.py"


def line_counts() -> dict[str, int]:
    """Return the number of lines of every module of the three packages."""
    return {
        p.relative_to(REPO).as_posix(): len(p.read_text(encoding="utf-8").splitlines())
        for p in source_files()
    }


def test_every_home_is_a_module_the_checker_reads() -> None:
    read = {p.relative_to(REPO).as_posix() for p in source_files()}
    for outside, homes in HOMES.items():
        assert homes, f"{outside} has no home module"
        assert homes <= read, f"{outside}'s home {sorted(homes - read)} is not a module of the packages"


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


def imported_dotted_modules(path: Path) -> set[str]:
    """Return the full dotted names of every module a file imports, and of every name imported from one."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


LISTENER_HOME = "bot/ops_server.py"


def network_imports(path: Path) -> set[str]:
    """Return the network-opening modules a file imports."""
    imported = imported_dotted_modules(path)
    return {m for m in NETWORK_MODULES if any(n == m or n.startswith(m + ".") for n in imported)}


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_only_the_fetcher_opens_network_connections(path: Path) -> None:
    rel = path.relative_to(REPO).as_posix()
    if rel != NETWORK_HOME:
        # The health and metrics server listens (its socket family for an IPv6 address); it reads nothing.
        allowed = {"socket"} if rel == LISTENER_HOME else set()
        assert not network_imports(path) - allowed, (
            f"{rel} imports {sorted(network_imports(path))}; only {NETWORK_HOME} may"
        )


def test_the_network_checker_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from urllib import request\nimport urllib.parse\nfrom socket import socket\n", encoding="utf-8"
    )
    assert network_imports(bad) == {"urllib.request", "socket"}
    assert network_imports(REPO / NETWORK_HOME) >= {"socket", "httpcore"}


def imported_project_modules(path: Path) -> set[str]:
    """Return the full dotted names of the project modules a file imports."""
    return {name for name in imported_dotted_modules(path) if name.split(".")[0] in PACKAGES}


def layout_strings(path: Path) -> set[str]:
    """Return the string constants of a file that spell a name of the generation layout."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
            if text in LAYOUT_NAMES or any(n in text for n in LAYOUT_NAMES if "." in n[1:] or n == "gen-"):
                found.add(text)
    return found


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_only_the_local_backend_and_its_doors_know_it(path: Path) -> None:
    rel = path.relative_to(REPO).as_posix()
    if rel.startswith("embeddings/local/") or rel in LOCAL_BACKEND_USERS:
        return
    local = sorted(m for m in imported_project_modules(path) if m.startswith("embeddings.local"))
    assert not local, f"{rel} imports {local}; above the contract only {sorted(LOCAL_BACKEND_USERS)} may"


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(REPO)))
def test_only_the_generations_module_spells_the_layout(path: Path) -> None:
    rel = path.relative_to(REPO).as_posix()
    if rel == LAYOUT_HOME:
        assert {"current", "gen-", "vectors.npy", "manifest.json"} <= layout_strings(path)
        return
    assert not layout_strings(path), f"{rel} spells {sorted(layout_strings(path))}; only {LAYOUT_HOME} may"


@pytest.mark.parametrize(
    "path",
    [p for p in source_files() if not p.relative_to(REPO).as_posix().startswith("bot/")],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_the_library_names_no_setting(path: Path) -> None:
    """The library raises domain errors; bot/ words them with the QUOTEBOT_* setting that fixes them."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    texts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert not [t for t in texts if "QUOTEBOT_" in t], f"{path.relative_to(REPO)} names a QUOTEBOT_ setting"


def test_the_layout_and_backend_checkers_see_violations(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        'from embeddings.local import LocalIndex\nLINK = "current"\nDATA = f"{root}/vectors.npy"\n',
        encoding="utf-8",
    )
    assert "embeddings.local.LocalIndex" in imported_project_modules(bad)
    assert layout_strings(bad) == {"current", "/vectors.npy"}


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


@pytest.mark.parametrize(
    "path",
    [p for p in source_files() if p.relative_to(REPO).as_posix().startswith(FRONT_ENDS)],
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_front_ends_import_no_parsing_or_ranking_internals(path: Path) -> None:
    used = internals_used(imported_project_modules(path))
    assert not used, f"{path.relative_to(REPO)} reaches into {sorted(used)}; go through a service"


def test_the_internals_check_sees_a_violation(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from corpus import text\nfrom corpus.errors import CorpusError\nimport embeddings.rank\n"
        "from embeddings.models import Answer\n",
        encoding="utf-8",
    )
    assert internals_used(imported_project_modules(bad)) == {"corpus.text", "embeddings.rank"}


def test_no_module_is_over_the_line_limit() -> None:
    over = {rel for rel, lines in line_counts().items() if lines > MAX_LINES}
    assert over <= OVER_LIMIT, f"over {MAX_LINES} lines: {sorted(over - OVER_LIMIT)}; split them by job"
    assert over >= OVER_LIMIT, f"now within the limit: remove {sorted(OVER_LIMIT - over)} from OVER_LIMIT"


CYCLE_PACKAGES = (*PACKAGES, "bench")


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Return every module of the packages under root by dotted name (a package by its own name)."""
    modules = {}
    for package in packages:
        for path in (root / package).rglob("*.py"):
            parts = path.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def module_imports(name: str, path: Path, modules: Collection[str]) -> set[str]:
    """Return the project modules a module imports anywhere in it (functions, TYPE_CHECKING blocks)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            source = ".".join([*base, node.module] if node.module else base)
            # `from pkg import sub` imports the module pkg.sub; `from mod import name` imports mod.
            targets.update(
                f"{source}.{a.name}" if f"{source}.{a.name}" in modules else source for a in node.names
            )
    found = set()
    for target in targets:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            found.add(target)
    return found


def import_cycles(modules: dict[str, Path]) -> list[list[str]]:
    """Return the groups of modules that import one another in a circle (Tarjan's components)."""
    graph = {name: module_imports(name, path, modules) for name, path in modules.items()}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for nxt in sorted(graph[node]):
            if nxt not in order:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], order[nxt])
        if low[node] == order[node]:
            group = stack[stack.index(node) :]
            del stack[stack.index(node) :]
            if len(group) > 1:
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return cycles


def test_no_import_cycles() -> None:
    cycles = import_cycles(module_files(REPO, CYCLE_PACKAGES))
    assert not cycles, f"modules importing one another in a circle: {cycles}; move the shared piece down"


def test_the_cycle_check_sees_a_circle_behind_a_function_or_type_checking(tmp_path: Path) -> None:
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    files = {
        "pkg/__init__.py": "from pkg.sub import c\n",
        "pkg/a.py": "def f():\n    from pkg import b\n",
        "pkg/b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.a import f\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "from pkg.sub import d\n",
        "pkg/sub/d.py": "from . import c\n",
        "pkg/e.py": "import pkg.sub.c\nfrom pkg import a\n",
    }
    for rel, text in files.items():
        (tmp_path / rel).write_text(text, encoding="utf-8")
    assert sorted(import_cycles(module_files(tmp_path, ("pkg",)))) == [
        ["pkg.a", "pkg.b"],
        ["pkg.sub.c", "pkg.sub.d"],
    ]


def test_the_median_module_is_small() -> None:
    modules = [lines for rel, lines in line_counts().items() if not rel.endswith("__init__.py")]
    assert statistics.median(modules) <= MEDIAN_MAX_LINES

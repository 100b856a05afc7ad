"""Static checks of the Dockerfile and the shipping scripts; the real check is `make docker-check`."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from bot.cli import build_parser
from bot.config import DEFAULT_MODEL, DEFAULT_OPS_LISTEN, Settings
from bot.metrics import Metrics
from bot.ops_server import OpsServer
from tests.conftest import REPO
from tests.test_readme import subcommands

COMPOSE = (REPO / "docker-compose.yml").read_text(encoding="utf-8")
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
DOCKERIGNORE = [
    line.strip()
    for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]
MAKEFILE = (REPO / "Makefile").read_text(encoding="utf-8")
SCRIPTS = ("run.sh", "docker-check.sh", "podman-setup.sh")


def instructions(name: str) -> list[str]:
    """Return the arguments of every NAME instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [m.group(1).strip() for m in re.finditer(rf"^{name}\s+(.*)$", joined, flags=re.MULTILINE)]


def env_defaults() -> dict[str, str]:
    """Return the image's ENV values (later instructions win)."""
    values: dict[str, str] = {}
    for line in instructions("ENV"):
        for word in shlex.split(line):
            key, _, value = word.partition("=")
            values[key] = value
    return values


def test_the_base_image_is_a_build_argument_defaulting_to_slim_python() -> None:
    assert DOCKERFILE.index("ARG BASE_IMAGE=python:3.11-slim") < DOCKERFILE.index("FROM ${BASE_IMAGE}")


def test_torch_is_the_pinned_cpu_build_of_the_makefile() -> None:
    pinned = re.search(r"^TORCH_VERSION \?= (\S+)$", MAKEFILE, flags=re.MULTILINE)
    assert pinned
    assert f"ARG TORCH_VERSION={pinned.group(1)}" in DOCKERFILE
    assert '"torch==${TORCH_VERSION}+cpu"' in DOCKERFILE
    assert "ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in DOCKERFILE


def test_the_project_is_installed_without_dev_extras() -> None:
    assert "[dev]" not in DOCKERFILE
    assert "'project']['dependencies']" in DOCKERFILE
    # Optional extras only when asked for (docker-compose.yml asks for qdrant), never by default.
    assert "\nARG EXTRAS=\n" in DOCKERFILE
    assert "EXTRAS=dev" not in DOCKERFILE and "dev" not in COMPOSE.split("EXTRAS:")[1].split("\n")[0]


def test_every_copied_path_exists_and_is_not_dockerignored() -> None:
    for line in instructions("COPY"):
        *sources, _target = [w for w in line.split() if not w.startswith("--")]
        for source in sources:
            assert (REPO / source).exists(), source
            assert source not in DOCKERIGNORE, source
    for needed in ("pyproject.toml", "README.md", "corpus", "embeddings", "bot", "sample_corpus", "models"):
        assert needed not in DOCKERIGNORE
    for heavy in (".git", ".venv", "var", "tests"):
        assert heavy in DOCKERIGNORE


def test_it_runs_as_a_non_root_user_with_volumes_for_corpus_and_index() -> None:
    users = instructions("USER")
    assert users and users[-1] not in {"root", "0"}
    assert DOCKERFILE.rindex("USER ") < DOCKERFILE.index("CMD ")
    assert instructions("VOLUME") == ['["/data/corpus", "/data/index"]']
    env = env_defaults()
    assert env["QUOTEBOT_CORPUS_DIR"] == "/data/corpus"
    assert env["QUOTEBOT_INDEX_DIR"] == "/data/index"


def test_the_image_default_model_is_the_product_default() -> None:
    assert f"ARG DEFAULT_MODEL={DEFAULT_MODEL}" in DOCKERFILE
    assert "ENV QUOTEBOT_MODEL=${QUOTEBOT_MODEL:-$DEFAULT_MODEL}" in DOCKERFILE


def test_every_setting_the_image_sets_is_a_real_setting() -> None:
    names = {f"QUOTEBOT_{name.upper()}" for name in Settings.model_fields}
    for key in env_defaults():
        if key.startswith("QUOTEBOT_"):
            assert key in names, key


def test_cmd_updates_the_index_and_serves_with_real_subcommands() -> None:
    (cmd,) = instructions("CMD")
    words = json.loads(cmd)
    assert words[-1].endswith("quotebot index && exec quotebot serve")
    commands = set(subcommands(build_parser()))
    shipped = DOCKERFILE + (REPO / "scripts/docker-check.sh").read_text(encoding="utf-8")
    for used in re.findall(r"(?:^|[\s\"(])quotebot ([a-z]+)", shipped, flags=re.MULTILINE):
        assert used in commands, f"`quotebot {used}` is not a subcommand"


def healthcheck_command() -> list[str]:
    """Return the HEALTHCHECK's exec-form command."""
    (line,) = instructions("HEALTHCHECK")
    return list(json.loads(line.split("CMD", 1)[1]))


def run_healthcheck(listen: str) -> subprocess.CompletedProcess[str]:
    """Run the HEALTHCHECK's command with this venv's python, QUOTEBOT_OPS_LISTEN set to listen."""
    command = healthcheck_command()
    assert command[0] == "python"
    env = os.environ | {"QUOTEBOT_OPS_LISTEN": listen, "http_proxy": "http://127.0.0.1:9", "no_proxy": ""}
    return subprocess.run(
        [sys.executable, *command[1:]], capture_output=True, text=True, env=env, cwd=REPO, timeout=60
    )


def test_the_healthcheck_asks_readyz_of_the_default_address_with_python() -> None:
    (line,) = instructions("HEALTHCHECK")
    assert "/readyz" in line and DEFAULT_OPS_LISTEN in line
    assert "curl" not in line and "apt-get" not in DOCKERFILE  # the image has python, not curl


def test_the_healthcheck_follows_readyz() -> None:
    reason: list[str | None] = ["not ready: no index is served"]
    server = OpsServer("127.0.0.1", 0, scrape=Metrics().exposition, ready=lambda: reason[0]).start()
    try:
        host, port = server.address
        assert run_healthcheck(f"{host}:{port}").returncode != 0  # 503
        reason[0] = None
        done = run_healthcheck(f"{host}:{port}")
        assert done.returncode == 0, done.stderr
        assert run_healthcheck(f"0.0.0.0:{port}").returncode == 0  # listening on all: probed on loopback
    finally:
        server.stop()
    assert run_healthcheck(f"{host}:{port}").returncode != 0  # nothing listens


def test_the_compose_healthcheck_asks_readyz_where_the_bot_listens() -> None:
    listen = re.search(r"QUOTEBOT_OPS_LISTEN: (\S+)", COMPOSE)
    assert listen is not None
    port = listen.group(1).rsplit(":", 1)[1]
    check = COMPOSE.split("healthcheck:", 1)[1].split("\n      interval", 1)[0]
    assert f"http://127.0.0.1:{port}/readyz" in check and "curl" not in check


def test_every_build_argument_is_documented_in_the_header() -> None:
    header = DOCKERFILE.split("\nARG ", 1)[0]
    for line in instructions("ARG"):
        name = line.split("=", 1)[0]
        if name != "DEFAULT_MODEL":
            assert name in header, f"build argument {name} is not documented at the top"


@pytest.mark.parametrize("script", SCRIPTS)
def test_the_shipping_scripts_are_executable_strict_bash(script: str) -> None:
    path = REPO / "scripts" / script
    assert os.access(path, os.X_OK)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0


def test_make_targets_call_the_scripts() -> None:
    assert re.search(r"^run: setup.*\n\t\./scripts/run\.sh$", MAKEFILE, flags=re.MULTILINE)
    assert re.search(r"^docker-check:.*\n\t\./scripts/docker-check\.sh$", MAKEFILE, flags=re.MULTILINE)

"""The output contract of scripts/podman-setup.sh and docker-check.sh's check of it, with stub tools."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IMAGE = "localhost/quotebot-base:bookworm"
# The real tools the scripts use besides the stubbed ones; nothing else is on PATH, so a podman,
# runc or debootstrap installed on this machine cannot be found.
REAL_TOOLS = (
    "bash", "env", "cat", "dirname", "grep", "sed", "mkdir", "mktemp", "rm", "tar", "printf", "realpath",
    "date", "basename", "cp",
)  # fmt: skip

NOISE = "Reading package lists... Done\nSetting up podman (4.3.1) ...\n"


def write_tool(directory: Path, name: str, body: str) -> None:
    """Write an executable bash script called name into directory."""
    path = directory / name
    path.write_text("#!/bin/bash\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def stub_machine(tmp_path: Path) -> tuple[dict[str, str], Path]:
    """Return an environment whose PATH holds stubs for apt-get, id, podman and debootstrap."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in REAL_TOOLS:
        found = shutil.which(tool)
        assert found, f"{tool} is needed by the scripts under test"
        (bin_dir / tool).symlink_to(found)
    log = tmp_path / "calls.log"
    write_tool(bin_dir, "id", "echo 0\n")
    # apt-get "installs" the missing tools, printing what the real one prints: to standard output.
    podman = (
        f'echo "podman $*" >>{log}; echo "podman noise: $*"\n'
        '[[ " $* " == *" image exists "* ]] && exit 1\n'
        '[[ " $* " == *" import "* ]] && cat >/dev/null  # the rootfs tarball on stdin\n'
        "exit 0\n"
    )
    write_tool(
        bin_dir,
        "apt-get",
        f'echo "apt-get $*" >>{log}; printf %s "{NOISE}"\n'
        "if [[ $1 == install ]]; then\n"
        f"  for t in podman runc debootstrap; do cp {bin_dir}/.podman-stub {bin_dir}/$t; done\n"
        "fi\n",
    )
    write_tool(bin_dir, ".podman-stub", podman)
    env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "CONTAINERS_CONF": str(tmp_path / "containers.conf"),
        "TMPDIR": str(tmp_path),
    }
    return env, log


def run_podman_setup(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run podman-setup.sh on the stub machine of env."""
    script = REPO / "scripts" / "podman-setup.sh"
    return subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)


def test_podman_setup_prints_only_the_image_name_on_a_machine_without_podman(tmp_path: Path) -> None:
    env, log = stub_machine(tmp_path)
    done = run_podman_setup(env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == IMAGE + "\n"
    # The noise was printed, on standard error, and the install really ran.
    assert "Reading package lists" in done.stderr
    assert "--variant=minbase" in done.stderr  # debootstrap
    assert "python3 --version" in done.stderr  # podman run
    calls = log.read_text(encoding="utf-8")
    assert "apt-get install" in calls
    assert "cgroupfs import" in calls
    assert "default_ulimits = []" in (tmp_path / "containers.conf").read_text(encoding="utf-8")


def test_podman_setup_names_a_configured_image(tmp_path: Path) -> None:
    env, _ = stub_machine(tmp_path)
    env["BASE_IMAGE_NAME"] = "localhost/other:1"
    done = run_podman_setup(env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "localhost/other:1\n"


def run_docker_check(tmp_path: Path, setup_prints: str) -> subprocess.CompletedProcess[str]:
    """Run docker-check.sh beside a fake podman-setup.sh whose standard output is setup_prints."""
    env, _ = stub_machine(tmp_path)
    scripts = tmp_path / "repo" / "scripts"
    scripts.mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "docker-check.sh", scripts / "docker-check.sh")
    write_tool(scripts, "podman-setup.sh", f"printf %s {subprocess.list2cmdline([setup_prints])!s}\n")
    write_tool(tmp_path, "python", "exit 0\n")
    env.update({"PY": str(tmp_path / "python"), "MODEL_DIR": str(tmp_path)})
    return subprocess.run(
        ["bash", str(scripts / "docker-check.sh")], capture_output=True, text=True, env=env, timeout=60
    )


@pytest.mark.parametrize(
    "captured",
    [
        NOISE + IMAGE,  # apt's output captured with the name: what broke CI on a fresh machine
        "",
        "Not An Image",
        "localhost/quotebot-base:bookworm extra",
    ],
)
def test_docker_check_refuses_a_captured_name_that_is_not_an_image(tmp_path: Path, captured: str) -> None:
    # A fake podman-setup.sh prints what a broken one would; docker-check must stop before building.
    done = run_docker_check(tmp_path, captured)
    assert done.returncode == 1
    assert "not a valid image reference" in done.stderr
    assert "building" not in done.stderr


@pytest.mark.parametrize(
    "name", [IMAGE, "python:3.11-slim", "docker.io/library/python:3.11-slim", "localhost:5000/quotebot:check"]
)
def test_docker_check_accepts_image_references(tmp_path: Path, name: str) -> None:
    done = run_docker_check(tmp_path, name + "\n")
    # It gets past the check and stops later (no git, no real podman in this sandbox).
    assert "not a valid image reference" not in done.stderr
    assert f"base image: {name}" in done.stderr

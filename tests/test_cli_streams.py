"""What a newcomer's terminal and a `--jsonl` consumer see: answers on stdout, no library noise."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_store import write_corpus

REPO = Path(__file__).resolve().parents[1]
# Our own log lines (bot.cli.configure_logging's format); anything else on stderr is noise.
OWN_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO (bot|embeddings|corpus)[.:]")
Indexed = tuple[Path, dict[str, str], subprocess.CompletedProcess[str]]
QUESTIONS = [{"id": "q1", "question": "台风在哪里登陆？"}, {"id": 2, "question": "台北捷運票價調漲多少？"}]


def quotebot(*argv: str, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run `python -m bot` with stdout and stderr on pipes (not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "bot", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        timeout=900,
    )


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory) -> Indexed:
    """Index a small corpus with the real model on OpenVINO, converted afresh (where transformers warns)."""
    root = tmp_path_factory.mktemp("quiet")
    corpus = write_corpus(root / "corpus", seed=False)
    env = {"QUOTEBOT_ENCODER": "openvino-fp32", "QUOTEBOT_ENCODER_CACHE": str(root / "encoders")}
    done = quotebot("--index-dir", str(root / "index"), "index", str(corpus), env=env)
    assert done.returncode == 0, done.stderr
    return root / "index", env, done


def test_index_off_a_terminal_shows_our_lines_only(
    indexed: Indexed,
) -> None:
    _, _, done = indexed
    assert "converting" in done.stderr  # the model was converted in this run, so the warning had its chance
    assert "\r" not in done.stderr and "%|" not in done.stderr  # no progress bar
    noise = [line for line in done.stderr.splitlines() if not OWN_LINE.match(line)]
    assert not noise, f"library output on stderr: {noise}"
    assert done.stdout.startswith("indexed ")


def test_search_jsonl_writes_only_json_lines_on_stdout(
    indexed: Indexed,
) -> None:
    index_dir, env, _ = indexed
    lines = "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUESTIONS)
    done = quotebot("--index-dir", str(index_dir), "search", "--jsonl", env=env, stdin=lines)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [row["id"] for row in rows] == ["q1", 2]
    assert rows[0]["hits"][0]["doc"] == "news/typhoon.html"
    noise = [line for line in done.stderr.splitlines() if not OWN_LINE.match(line)]
    assert not noise, f"library output on stderr: {noise}"


NOISY_LIBRARY = """
import os, sys
from bot.cli.streams import stdout_for_data
with stdout_for_data() as out:
    print("a library's print while the model loads")
    os.write(1, b"a C++ runtime's line\\n")
    out.write('{"id": 1}\\n')
print("after")
"""


def test_stdout_for_data_keeps_stdout_for_the_data() -> None:
    done = subprocess.run(
        [sys.executable, "-c", NOISY_LIBRARY], capture_output=True, text=True, cwd=REPO, check=True
    )
    assert done.stdout == '{"id": 1}\nafter\n'
    assert "a library's print" in done.stderr and "a C++ runtime's line" in done.stderr

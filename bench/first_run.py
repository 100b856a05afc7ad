"""A newcomer's first run: a fresh clone, `make setup`, then `make run` to the first answer, timed.

usage: python bench/first_run.py [--clone DIR] [--no-pip-cache] [--question Q]

Clones this checkout's HEAD into --clone (default: ../first-run-clone beside this checkout, so that the
clone finds ../shared/models as a checkout here does), with every cache the product writes pointed
at an empty directory (XDG_CACHE_HOME: converted encoders and the verifier, the hub cache), then
times, one after the other:
  1. `make setup` (the venv: pip installs; with --no-pip-cache pip downloads every wheel again);
  2. `make run` with the venv in place, from its start until the terminal chat prints the answer to
     --question (the first quote's "[1]" line): the encoder chosen for this CPU converted, the sample
     corpus indexed, the bot started, one question answered. Nothing is cached from an earlier run.
Prints the CPU line and both times; removes the clone afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.cpu import print_cpu

ROOT = Path(__file__).resolve().parents[1]
QUESTION = "金正恩在亲笔信里说想和谁直接见面谈去核化？"


def run_to_first_answer(clone: Path, env: dict[str, str], question: str, limit: float) -> tuple[float, str]:
    """Start `make run`, ask question, return the seconds until the first quote line and the output."""
    started = time.monotonic()
    proc = subprocess.Popen(
        ["make", "run"],
        cwd=clone,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(question + "\n")
    proc.stdin.flush()
    lines: list[str] = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.lstrip().startswith("[1]") or "没有能回答" in line:
                return time.monotonic() - started, "".join(lines)
            if time.monotonic() - started > limit:
                break
        raise SystemExit("no answer from `make run`:\n" + "".join(lines[-30:]))
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    """Clone, set up, run to the first answer; print the times."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clone", type=Path, default=ROOT.parent / "first-run-clone")
    parser.add_argument("--no-pip-cache", action="store_true", help="pip downloads every wheel again")
    parser.add_argument("--question", default=QUESTION)
    parser.add_argument("--limit", type=float, default=1800, help="give up after this many seconds")
    parser.add_argument("--keep", action="store_true", help="keep the clone")
    args = parser.parse_args()
    print_cpu()
    if args.clone.exists():
        shutil.rmtree(args.clone)
    subprocess.run(["git", "clone", "-q", str(ROOT), str(args.clone)], check=True)
    caches = Path(tempfile.mkdtemp(prefix="quotebot-first-run-cache-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QUOTEBOT_", "HF_", "XDG_CACHE"))}
    env |= {"XDG_CACHE_HOME": str(caches), "HF_HOME": str(caches / "huggingface")}
    if args.no_pip_cache:
        env["PIP_NO_CACHE_DIR"] = "1"
    try:
        started = time.monotonic()
        subprocess.run(["make", "setup"], cwd=args.clone, env=env, check=True, stdout=subprocess.DEVNULL)
        setup_s = time.monotonic() - started
        cache = "no pip cache" if args.no_pip_cache else "pip cache warm"
        print(f"make setup (the venv, {cache}): {setup_s:.0f} s")
        answer_s, output = run_to_first_answer(args.clone, env, args.question, args.limit)
        print(output.rstrip())
        print(f"make run with the venv in place, to the first answer: {answer_s:.0f} s")
        print(f"a fresh clone to the first answer: {setup_s + answer_s:.0f} s")
    finally:
        shutil.rmtree(caches, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(args.clone, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Peak memory and time of `quotebot index --full` on one long page, per encoder, side by side.

usage: python bench/long_page.py [--encoders auto,torch,openvino-int8,onnx-int8] [--passages 1000]
                                 [--chars 1000] [--rounds 1] [--workdir DIR]

Builds one page of --passages paragraphs of --chars characters each (the per-page caps, as a hostile
or simply long page produces; text cut from ../shared/eval's paragraphs, so each one is different) in
a temp directory, converts each encoder's model once beforehand on a one-paragraph page (not timed),
then runs `/usr/bin/time -f %M python -m bot index --full` on the long page once per encoder per
round, alternating the order, and prints the peak RSS (MB) and wall time of each run.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.cpu import cpu_record, print_cpu  # noqa: E402

SHARED = REPO.parent / "shared"
MODEL = SHARED / "models" / "multilingual-e5-small-zh-en"


def source_text(needed: int) -> str:
    """Return at least needed characters of eval paragraphs, whitespace removed, repeated if short."""
    lines = (SHARED / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    seen: dict[str, None] = {}
    for line in lines:
        for paragraph in json.loads(line)["gold_paragraphs"]:
            seen.setdefault(re.sub(r"\s+", "", paragraph), None)
    text = "".join(seen)
    return (text * (needed // max(1, len(text)) + 1))[:needed]


def long_page(passages: int, chars: int) -> str:
    """Return the HTML of one article of passages paragraphs of chars characters each."""
    text = source_text(passages * chars)
    body = "".join(f"<p>{html.escape(text[i * chars : (i + 1) * chars])}</p>" for i in range(passages))
    return (
        '<!DOCTYPE html><html lang="zh"><head><meta charset="utf-8"><title>长页面</title></head>'
        f'<body><h2>长页面</h2><div class="entry">{body}</div></body></html>'
    )


def run_index(encoder: str, corpus: Path, index_dir: Path, cache: Path) -> tuple[float, float, int]:
    """Run `quotebot index --full` under /usr/bin/time; return (peak RSS in MB, seconds, passages)."""
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        QUOTEBOT_MODEL=os.environ.get("QUOTEBOT_MODEL", str(MODEL)),
        QUOTEBOT_ENCODER=encoder,
        QUOTEBOT_ENCODER_CACHE=str(cache),
        QUOTEBOT_INDEX_DIR=str(index_dir),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
    )
    cmd = ["/usr/bin/time", "-f", "%M", sys.executable, "-m", "bot", "index", "--full", "--json", str(corpus)]
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"quotebot index failed with {encoder}:\n{done.stderr[-2000:]}")
    peak_kb = int(done.stderr.strip().splitlines()[-1])
    return peak_kb / 1024, seconds, int(json.loads(done.stdout)["passages"])


def main() -> None:
    """Build the page, convert each encoder once, then time and measure the index runs."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoders", default="auto,torch,openvino-int8,onnx-int8")
    parser.add_argument("--passages", type=int, default=1000)
    parser.add_argument("--chars", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temp directory")
    parser.add_argument("--cache", type=Path, default=None, help="converted models (QUOTEBOT_ENCODER_CACHE)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="long-page-"))
    cache = args.cache or work / "encoders"
    names = args.encoders.split(",")
    print_cpu()
    small, corpus = work / "small", work / "corpus"
    for folder, passages in ((small, 1), (corpus, args.passages)):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "long.html").write_text(long_page(passages, args.chars), encoding="utf-8")
    for name in names:  # conversion (once per encoder) is not what this bench measures
        run_index(name, small, work / f"warm-{name}", cache)
    rows: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else names[::-1]:
            peak, seconds, passages = run_index(name, corpus, work / f"index-{name}", cache)
            rows[name].append({"peak_mb": round(peak), "seconds": round(seconds, 1), "passages": passages})
            print(f"{name:14} peak RSS {peak:7.0f} MB  {seconds:7.1f} s  {passages} passages", flush=True)
    print(json.dumps(cpu_record() | {"page": [args.passages, args.chars], "runs": rows}))


if __name__ == "__main__":
    main()

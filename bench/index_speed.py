"""Indexing speed: `quotebot index` throughput vs raw model.encode, and an incremental reindex vs a full one.

usage: python bench/index_speed.py [--pages N] [--corpus DIR] [--model DIR] [--workdir DIR] [--batch-size N]

Takes a deterministic subset of N pages spread over the corpus's subsets (the whole eval corpus takes
many minutes to embed on a shared 2-core machine), then in one run measures side by side:
raw `SentenceTransformer.encode` on exactly the passages the index holds, a full `build_index`, a
no-op reindex, and a reindex after editing one paragraph of one page, with its parts timed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bot.indexing import build_index  # noqa: E402
from corpus.load import list_pages, scan_corpus  # noqa: E402
from embeddings.encoder import Encoder  # noqa: E402
from embeddings.ids import passages_of  # noqa: E402
from embeddings.local.generations import current_generation, load_passages  # noqa: E402

SHARED = REPO.parent / "shared"
EDIT = "本段为基准测试补充的一句话。"


def pick_pages(corpus: Path, n: int) -> list[str]:
    """Return n pages spread evenly over the sorted page list (so every subset is represented)."""
    pages = list_pages(corpus)
    if n >= len(pages):
        return pages
    step = len(pages) / n
    return [pages[int(i * step)] for i in range(n)]


def copy_subset(corpus: Path, pages: list[str], target: Path) -> None:
    """Copy the chosen pages to target, keeping their relative paths."""
    shutil.rmtree(target, ignore_errors=True)
    for rel in pages:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(corpus / rel, target / rel)


def edit_one_page(corpus: Path, pages: list[str]) -> str:
    """Append a sentence to one body paragraph of one UTF-8 page; return its path."""
    for rel in pages:
        data = (corpus / rel).read_bytes()
        try:
            html = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        entry = html.find('class="entry"')
        end = html.find("。</p>", entry)
        if entry >= 0 and end >= 0:
            (corpus / rel).write_text(html[:end] + "。" + EDIT + html[end + 1 :], encoding="utf-8")
            return rel
    raise SystemExit("no UTF-8 page with a div.entry paragraph to edit")


class ZeroCostEncoder:
    """Stands in for the model (random unit vectors) to time everything else at full corpus scale."""

    def __init__(self, dimension: int = 384, batch_size: int = 32) -> None:
        self.model_id = "zero-cost"
        self.dimension = dimension
        self.prompts = {"query": "", "passage": ""}
        self.batch_size = batch_size
        self.rng = np.random.default_rng(0)

    def encode_passages(self, texts: list[str]) -> np.ndarray:
        vectors = self.rng.standard_normal((len(texts), self.dimension)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def overhead_at_scale(corpus: Path, workdir: Path) -> dict[str, float]:
    """Time a full build and a one-page reindex of the whole corpus with the model taken out."""
    pages = list_pages(corpus)
    copy_subset(corpus, pages, workdir / "all")
    index_dir = workdir / "all-index"
    shutil.rmtree(index_dir, ignore_errors=True)
    stub: Any = ZeroCostEncoder()
    full, full_s = timed(build_index, workdir / "all", index_dir, stub, full=True)
    _, noop_s = timed(build_index, workdir / "all", index_dir, stub)
    edit_one_page(workdir / "all", pages)
    _, incr_s = timed(build_index, workdir / "all", index_dir, stub)
    passages = load_passages(current_generation(index_dir))
    from embeddings.local.lexical import LexicalIndex

    _, lexical_s = timed(LexicalIndex.build, [p.id for p in passages], [p.text for p in passages])
    _, scan_s = timed(lambda: list(scan_corpus(workdir / "all")))
    return {
        "pages": len(pages),
        "passages": full.passages,
        "full_without_model_s": round(full_s, 2),
        "noop_reindex_s": round(noop_s, 3),
        "one_page_reindex_without_model_s": round(incr_s, 3),
        "lexical_rebuild_s": round(lexical_s, 3),
        "parse_all_pages_s": round(scan_s, 3),
    }


def timed(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    """Return (result, seconds)."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - start


def main() -> None:
    """Run the benchmark and print the figures (and one JSON line)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=200, help="pages of the corpus to use (default 200)")
    parser.add_argument("--corpus", type=Path, default=SHARED / "eval" / "articles")
    parser.add_argument("--model", default=str(SHARED / "models" / "multilingual-e5-small-zh-en"))
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/b2/index_speed"))
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--skip-scale", action="store_true", help="skip the whole-corpus run with the model taken out"
    )
    args = parser.parse_args()
    if not args.skip_scale:
        scale = overhead_at_scale(args.corpus, args.workdir)
        print(
            f"whole corpus, model taken out: {scale['pages']} pages, {scale['passages']} passages: full build"
            f" {scale['full_without_model_s']} s, no-op {scale['noop_reindex_s']} s, one page edited"
            f" {scale['one_page_reindex_without_model_s']} s (of which lexical rebuild"
            f" {scale['lexical_rebuild_s']} s, parsing all pages {scale['parse_all_pages_s']} s)"
        )
        print(json.dumps({"scale": scale}))

    pages = pick_pages(args.corpus, args.pages)
    corpus, index_dir = args.workdir / "corpus", args.workdir / "index"
    copy_subset(args.corpus, pages, corpus)
    shutil.rmtree(index_dir, ignore_errors=True)
    encoder = Encoder(args.model, batch_size=args.batch_size)
    model = encoder._load()  # the same SentenceTransformer object the index uses
    prompt = encoder.prompts["passage"]
    model.encode(["预热"] * 8, prompt=prompt, batch_size=args.batch_size)  # warm-up, not timed

    articles = [r.article for r in scan_corpus(corpus) if r.status == "ok" and r.article]
    texts = [p.text for a in articles for p in passages_of(a)]

    def raw() -> float:
        _, seconds = timed(
            model.encode, texts, prompt=prompt, batch_size=args.batch_size, normalize_embeddings=True
        )
        return seconds

    raw_before = raw()
    full, full_s = timed(build_index, corpus, index_dir, encoder, full=True)
    raw_after = raw()
    raw_s = (raw_before + raw_after) / 2
    if full.passages != len(texts):
        print(f"note: the index holds {full.passages} passages, raw encoded {len(texts)}", file=sys.stderr)

    noop, noop_s = timed(build_index, corpus, index_dir, encoder)
    edited = edit_one_page(corpus, pages)
    incremental, incr_s = timed(build_index, corpus, index_dir, encoder)
    page_passages = [p for p in load_passages(current_generation(index_dir)) if p.doc == edited]
    _, page_embed_s = timed(
        model.encode, [p.text for p in page_passages], prompt=prompt, batch_size=args.batch_size
    )
    _, scan_s = timed(lambda: list(scan_corpus(corpus)))

    n = full.passages
    figures = {
        "pages": len(pages),
        "pages_indexed": full.added,
        "passages": n,
        "raw_encode_s": round(raw_s, 2),
        "raw_encode_runs_s": [round(raw_before, 2), round(raw_after, 2)],
        "raw_passages_per_s": round(len(texts) / raw_s, 1),
        "index_full_s": round(full_s, 2),
        "index_passages_per_s": round(n / full_s, 1),
        "throughput_ratio": round((n / full_s) / (len(texts) / raw_s), 3),
        "noop_reindex_s": round(noop_s, 3),
        "incremental_reindex_s": round(incr_s, 3),
        "incremental_report": {"updated": incremental.updated, "unchanged": incremental.unchanged},
        "one_page_embed_s": round(page_embed_s, 3),
        "one_page_passages": len(page_passages),
        "parse_all_pages_s": round(scan_s, 3),
        "incremental_vs_full": round(incr_s / full_s, 4),
    }
    total = len(list_pages(args.corpus))
    raw_rate, rate = len(texts) / raw_s, n / full_s
    ratio = figures["throughput_ratio"]
    print(f"corpus: {len(pages)} of {total} pages of {args.corpus} (--pages {args.pages})")
    print(f"passages: {n} (raw encode: {len(texts)}), batch size {args.batch_size}")
    print(
        f"raw model.encode: {raw_s:8.2f} s {raw_rate:7.1f} passages/s"
        f" (runs {raw_before:.2f}, {raw_after:.2f})"
    )
    print(f"quotebot index:   {full_s:8.2f} s {rate:7.1f} passages/s, ratio {ratio:.3f}x")
    print(f"no-op reindex:    {noop_s:8.3f} s ({noop.unchanged} unchanged)")
    print(
        f"one page edited:  {incr_s:8.3f} s ({incremental.updated} updated,"
        f" {incremental.unchanged} unchanged), {incr_s / full_s:.2%} of the full build"
    )
    print(
        f"  that page: {len(page_passages)} passages, raw encode {page_embed_s:.3f} s;"
        f" parsing all pages {scan_s:.3f} s"
    )
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()

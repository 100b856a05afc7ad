"""Retrieval quality on ../shared/eval and ../shared/eval-news: anchors against the shipped Searcher.

usage: bench/quality.py [--cache DIR] [--sample N] [--encoder NAME] [--segmenters | --calibrate]

Each set's pages are parsed and indexed with bot.indexing.build_index; passage and question vectors
are cached per text under --cache (keyed by model id, prompt and text), so a second run costs seconds.
Prints ans@1/ans@3/MRR@10 per subset for BM25 (the product's index, the question as asked), dense
(exact), RRF (k=60) of those two, the Searcher as shipped (the index's calibration, its quote
margin and abstention included) and, as "no abstention", the same Searcher answering every question
(what its abstention costs), for all questions, the development half and the held-out half
(halves by a hash of the question's page); the share answered per question kind and subset. Then
abstention: each set indexed by halves (questions about the other half are out of corpus), and each
set's questions against the other set's index.
--sample N uses the pages whose second hash byte is below N (256: all of them).
--calibrate derives the fusion weights, the quote margin and the per-kind abstention thresholds on
the development half and writes them to embeddings/calibration/<model>.json (float vectors) or
<model>.<family>.json (--encoder openvino-int8: the float record's fusion weights kept, its margin
and thresholds re-derived), with the sha256 of the model's weights: the record the next build or
reindex with that model and vector family stores with its index.
--segmenters compares BM25 over jieba words, character bigrams and unigrams+bigrams.
--backend qdrant indexes the eval pages (--fraction of them) with both backends from the same cached
vectors and prints the share of questions quoting the same top-3 passages, ans@1/ans@3/MRR@10 of
both, per-question latency and Qdrant's upsert rate (bench/qdrant_parity.py); with --lexical it
compares Qdrant's two lexical representations instead (bench/qdrant_lexical.py).
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.eval_sets import EVAL, EVAL_NEWS, MODEL, CachedEncoder, fmt
from bot.config import Settings
from embeddings import rank
from embeddings.local.lexical import LexicalIndex
from embeddings.search import Searcher
from embeddings.tokens import SEGMENTERS

EVAL_WEB = EVAL.parent / "eval-web"
# The bot's default cap on quotes from one article (QUOTEBOT_MAX_PER_ARTICLE).
SHIPPED_CAP = int(Settings.model_fields["max_per_article"].default)


class CachedReranker:
    """A reranker that remembers each pair's logit, per reranker weights, in one .npz under the cache."""

    def __init__(self, inner: Any, cache: Path) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.digest = inner.digest
        self.path = cache / f"logits-{self.digest[:16]}.npz"
        self.known: dict[str, float] = {}
        if self.path.exists():
            with np.load(self.path) as saved:
                self.known = dict(zip(saved["keys"].tolist(), saved["logits"].tolist(), strict=True))
        self.computed = 0

    def score(self, pairs: Sequence[tuple[str, str]]) -> np.ndarray:
        """Return one logit per pair, from the cache when possible."""
        keys = [hashlib.sha256(f"{q}\x00{p}".encode()).hexdigest()[:20] for q, p in pairs]
        missing = list({k: pair for k, pair in zip(keys, pairs, strict=True) if k not in self.known}.items())
        for start in range(0, len(missing), 2048):
            chunk = missing[start : start + 2048]
            logits = self.inner.score([pair for _, pair in chunk]).tolist()
            self.known.update(zip((k for k, _ in chunk), logits, strict=True))
            self.computed += len(chunk)
            self.save()
        return np.array([self.known[k] for k in keys], dtype=np.float64)

    def save(self) -> None:
        """Write the cache."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = list(self.known)
        np.savez(self.path, keys=np.array(keys), logits=np.array([self.known[k] for k in keys]))


def verifier(args: argparse.Namespace) -> CachedReranker | None:
    """Return the reranker --reranker names (cached per pair), or None for "none"."""
    from embeddings.reranker import CrossEncoderReranker, resolve

    model = resolve(args.reranker)
    if model is None:
        return None
    # A benchmark has the machine to itself: batches on every core.
    inner = CrossEncoderReranker(model, runtime=args.reranker_runtime, batch_threads=os.cpu_count())
    return CachedReranker(inner, args.cache)


def with_verifier(searcher: Searcher, reranker: Any) -> Searcher:
    """Return a copy of the Searcher that verifies with reranker."""
    copied = copy.copy(searcher)
    copied.reranker = reranker
    return copied


SETS = {
    "eval": (EVAL, ("cmrc2018", "drcd", "xquad")),
    "news": (EVAL_NEWS, ("newsqatrain",)),
    # Web-search queries: DuReader-checklist (one gold paragraph) apart from DuReader 2.0 (answers
    # often in several results).
    "web": (EVAL_WEB, ("web", "web-du2")),
}
# A later quote is shown while quotes that far below the best one contain an answer this often.
QUOTE_PRECISION = 0.05
# In-corpus questions of each kind the abstention must answer on the development half. 97.5% left
# translated (XQuAD) questions, which share fewer words with their paragraph, answered only 91% of
# the time; 99% answers 94% of them and still refuses 98.6% of eval questions on the news index.
ANSWERED = 0.99
GRID_LEXICAL = (0.3, 0.5, 0.7)
# The article-level signal (page_weight) needs an article BM25 the backend contract lacks: 0 for now.
GRID_PAGE = (0.0,)


@dataclass(frozen=True)
class Question:
    """One eval question: its set, subset, kind, half (dev/test, by its page), answers and vector."""

    id: str
    text: str
    subset: str
    kind: str
    doc: str
    answers: tuple[str, ...]
    vector: np.ndarray

    @property
    def dev(self) -> bool:
        """Return whether the question belongs to the development half (tuning) or the held-out one."""
        return in_half(self.doc)


def in_half(doc: str) -> bool:
    """Return whether a page belongs to the first half (a stable hash of its file name)."""
    return hashlib.sha256(Path(doc).name.encode()).digest()[0] % 2 == 0


def left_out(doc: str, sample: int) -> bool:
    """Return whether --sample leaves a page out (it keeps sample/256 of ../shared/eval's pages)."""
    return not doc.startswith("newsqa") and hashlib.sha256(Path(doc).name.encode()).digest()[1] >= sample


def norm(text: str) -> str:
    """Return text without whitespace (as score.py compares)."""
    return re.sub(r"\s+", "", text or "")


def corpus(name: str, sample: int, part: str, keep: Callable[[str], bool], work: Path) -> Path:
    """Return a directory with copies of the set's pages that pass keep (and the sample)."""
    root = SETS[name][0] / "articles"
    out = work / f"corpus-{name}-{sample}-{part}"
    for page in sorted(root.glob("*/*.htm*")):
        doc = f"{page.parent.name}/{page.name}"
        target = out / doc
        if target.is_symlink():  # made by an older run: a reindex reads no link leading outside the corpus
            target.unlink()
        if not left_out(doc, sample) and keep(doc) and not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(page, target)
    return out


def index(encoder: CachedEncoder, name: str, args: argparse.Namespace, part: str = "all") -> Searcher:
    """Index a set's pages (all, or half "dev"/"test" of them) and open a Searcher on it."""
    from bot.indexing import build_index, open_searcher
    from embeddings import calibration

    keep = {"all": lambda d: True, "first": in_half, "second": lambda d: not in_half(d)}[part]
    pages = corpus(name, args.sample, part, keep, args.cache)
    target = index_dir(args.cache, name, args.sample, part)
    started = time.monotonic()
    report = build_index(pages, target, encoder, full=not (target / "current").exists())
    print(
        f"index {name} ({part}): {report.passages} passages in {time.monotonic() - started:.0f}s "
        f"({encoder.computed} embedded)",
        flush=True,
    )
    searcher = open_searcher(target, encoder, top_k=10, max_per_article=SHIPPED_CAP)
    # A cached index may store an older record: rank with the one a fresh build would store now.
    searcher.calibration = calibration.for_encoder(encoder.model_id, encoder.family)
    return searcher


def index_dir(cache: Path, name: str, sample: int, part: str = "all") -> Path:
    """Return where the index of a set (sampled, all or one half of its pages) lives under cache."""
    return cache / f"index-{name}-{sample}-{part}"


def build(encoder: CachedEncoder, cache: Path, sample: int = 256) -> Searcher:
    """Index ../shared/eval (its sample) under cache and return a Searcher (for other benchmarks)."""
    return index(encoder, "eval", argparse.Namespace(cache=cache, sample=sample))


def questions(encoder: CachedEncoder, name: str, sample: int) -> list[Question]:
    """Return a set's questions about sampled pages, with their vectors."""
    rows = [json.loads(line) for line in (SETS[name][0] / "questions.jsonl").open(encoding="utf-8")]
    rows = [r for r in rows if not left_out(r["doc"], sample)]
    texts = [rank.check_question(r["question"]) for r in rows]
    vectors = encoder.encode_queries(texts)
    return [
        Question(r["id"], t, subset_of(r["id"]), rank.question_kind(t), r["doc"], tuple(r["answers"]), v)
        for r, t, v in zip(rows, texts, vectors, strict=True)
    ]


def subset_of(question_id: str) -> str:
    """Return the subset a question is reported in: its id's prefix (web-du2 apart from web)."""
    prefix, _, rest = question_id.partition(":")
    return "web-du2" if prefix == "web" and rest.startswith("du2-") else prefix


def answered(hits: Sequence[str], question: Question) -> int | None:
    """Return the rank of the first quote containing an answer (score.py's rule), or None."""
    wanted = [norm(a) for a in question.answers if norm(a)]
    return next((i for i, text in enumerate(hits) if any(a in norm(text) for a in wanted)), None)


def table(qs: Sequence[Question], hits: Sequence[Sequence[str]]) -> dict[str, tuple[float, float, float]]:
    """Return {subset: (ans@1, ans@3, MRR@10)} plus ALL."""
    firsts: dict[str, list[int | None]] = {}
    for q, h in zip(qs, hits, strict=True):
        firsts.setdefault(q.subset, []).append(answered(h[:10], q))
    firsts["ALL"] = [f for subset in list(firsts.values()) for f in subset]
    return {
        s: (
            float(np.mean([f is not None and f < 1 for f in fs])),
            float(np.mean([f is not None and f < 3 for f in fs])),
            float(np.mean([1 / (f + 1) if f is not None else 0.0 for f in fs])),
        )
        for s, fs in firsts.items()
    }


def anchors(searcher: Searcher, qs: Sequence[Question]) -> dict[str, list[list[str]]]:
    """Return each question's top-10 passage texts by BM25 (the question as asked), dense, and RRF."""
    out: dict[str, list[list[str]]] = {"BM25": [], "dense": [], "RRF k=60": []}
    texts = {
        pid: p.text for pid in searcher.index.lexical_index.ids().tolist() if (p := searcher.passage(pid))
    }
    _, dense_ids = searcher.index.dense_index.search(np.stack([q.vector for q in qs]), 50)
    for q, dense in zip(qs, dense_ids, strict=True):
        lexical = searcher.index.lexical_index.search(q.text, 50)[1].tolist()
        rrf: dict[int, float] = {}
        for ranked in (dense.tolist(), lexical):
            for r, pid in enumerate(ranked):
                rrf[pid] = rrf.get(pid, 0.0) + 1 / (rank.RRF_K + 1 + r)
        fused = sorted(rrf, key=lambda pid: (-rrf[pid], pid))
        for name, ids in (("BM25", lexical), ("dense", dense.tolist()), ("RRF k=60", fused)):
            out[name].append([texts[i] for i in ids[:10] if i in texts])
    return out


def shipped(
    searcher: Searcher, qs: Sequence[Question], abstain: bool = True
) -> tuple[list[list[str]], list[bool]]:
    """Return the quotes the Searcher gives (trimming and abstention as shipped) and who was answered.

    abstain=False answers every question (its ranking and quote margin alone: what abstention costs).
    """
    if not abstain:
        searcher = copy.copy(searcher)
        searcher.min_score = -math.inf  # every kind's threshold moves to -inf
    hits, took = [], []
    for q in qs:
        answer = searcher._answer(q.text, q.vector, 10, 0)
        hits.append([h.text for h in answer.hits])
        took.append(answer.answered)
    return hits, took


def report(
    title: str, rows: dict[str, dict[str, tuple[float, float, float]]], subsets: Sequence[str]
) -> None:
    """Print one table: a row per method, a column per subset."""
    print(f"\n{title}\n{'method':14} " + " ".join(f"{s + ' a1/a3/mrr':>24}" for s in subsets))
    for method, cells in rows.items():
        print(f"{method:14} " + " ".join(f"{fmt(cells[s]):>24}" for s in subsets), flush=True)


def quality(args: argparse.Namespace) -> None:
    """Print BM25 / dense / RRF / the shipped Searcher per subset, both halves, and abstention rates."""
    encoder = CachedEncoder(MODEL, args.cache, args.encoder)
    reranker = verifier(args)
    searchers = {name: index(encoder, name, args) for name in SETS}
    sets = {name: questions(encoder, name, args.sample) for name in SETS}
    if args.verifier_only:  # the held-out questions the verifier is judged on, nothing else
        sets = {name: spread([q for q in qs if not q.dev], args.verify_sample) for name, qs in sets.items()}
    for name, qs in sets.items():
        subsets = (*SETS[name][1], "ALL")
        methods = anchors(searchers[name], qs)
        hits, took = shipped(searchers[name], qs)
        methods["Searcher"] = hits
        methods["no abstention"] = shipped(searchers[name], qs, abstain=False)[0]
        held = [i for i, q in enumerate(qs) if not q.dev]
        held = held[:: max(1, math.ceil(len(held) / args.verify_sample))] if args.verify_sample else held
        if reranker is not None:  # judged on the held-out half only: it was trained on the other
            verified = with_verifier(searchers[name], reranker)
            hits_v, took_v = shipped(verified, [qs[i] for i in held])
            answers_all = shipped(verified, [qs[i] for i in held], abstain=False)[0]
        for half, pick in (
            ("all", lambda q: True),
            ("dev", lambda q: q.dev),
            ("held-out", lambda q: not q.dev),
        )[2 if args.verifier_only else 0 :]:
            keep = [i for i, q in enumerate(qs) if pick(q)]
            rows = {m: table([qs[i] for i in keep], [h[i] for i in keep]) for m, h in methods.items()}
            report(f"{name}, {half} questions ({len(keep)})", rows, subsets)
        if reranker is not None:
            rows = {m: table([qs[i] for i in held], [h[i] for i in held]) for m, h in methods.items()}
            rows["+ verifier"] = table([qs[i] for i in held], hits_v)
            rows["verifier, all"] = table([qs[i] for i in held], answers_all)
            report(f"{name}, held-out questions judged with the verifier ({len(held)})", rows, subsets)
        print("answered in-corpus: " + answered_rates(qs, took))
        print("  held-out, as shipped: " + answered_rates([qs[i] for i in held], [took[i] for i in held]))
        if reranker is not None:
            print("  held-out, with the verifier: " + answered_rates([qs[i] for i in held], took_v))
    if not args.verifier_only:
        abstention(encoder, searchers, sets, args)
    if reranker is not None:
        verified_abstention(encoder, searchers, sets, args, reranker)


def answered_rates(qs: Sequence[Question], took: Sequence[bool]) -> str:
    """Return the share of questions answered per kind, then per subset, as one line."""
    groups: dict[str, list[bool]] = {k: [] for k in rank_kinds(qs)}
    groups |= {s: [] for s in sorted({q.subset for q in qs})}
    for q, t in zip(qs, took, strict=True):
        groups[q.kind].append(t)
        groups[q.subset].append(t)
    return ", ".join(f"{g} {np.mean(v):.3f}" for g, v in groups.items())


def rank_kinds(qs: Sequence[Question]) -> list[str]:
    """Return the question kinds present, in a stable order."""
    return sorted({q.kind for q in qs})


def refusals(searcher: Searcher, qs: Sequence[Question]) -> float:
    """Return the share of questions the Searcher refuses."""
    return float(np.mean([not searcher._answer(q.text, q.vector, 3, 0).answered for q in qs]))


def abstention(
    encoder: CachedEncoder,
    searchers: dict[str, Searcher],
    sets: dict[str, list[Question]],
    args: argparse.Namespace,
) -> None:
    """Print answered rates in-corpus and refusal rates on out-of-corpus question sets."""
    print("\nabstention (shipped thresholds)")
    for name, qs in sets.items():
        for part, inside in (("first", lambda q: q.dev), ("second", lambda q: not q.dev)):
            half = index(encoder, name, args, part)
            ins = [q for q in qs if inside(q)]
            outs = [q for q in qs if not inside(q)]
            found = [q for q in outs if answered(shipped(half, [q])[0][0][:3], q) is None]
            print(
                f"  {name} on its {part} half: answers {1 - refusals(half, ins):.3f} of its {len(ins)} "
                f"questions; refuses {refusals(half, outs):.3f} of the other half's {len(outs)} "
                f"({refusals(half, found):.3f} of the {len(found)} whose answer it does not quote)",
                flush=True,
            )
    for a, b in (("eval", "news"), ("news", "eval")):
        print(
            f"  {a} questions on the {b} index: "
            f"refuses {refusals(searchers[b], sets[a]):.3f} of {len(sets[a])}"
        )


def verified_abstention(
    encoder: CachedEncoder,
    searchers: dict[str, Searcher],
    sets: dict[str, list[Question]],
    args: argparse.Namespace,
    reranker: CachedReranker,
) -> None:
    """Print, on held-out questions only, in-corpus answered and out-of-corpus refused, without/with."""
    print("\nabstention on held-out questions (without the verifier / with it)")
    for name, qs in sets.items():
        held = spread([q for q in qs if not q.dev], args.verify_sample)
        lacking = index(encoder, name, args, "first")  # the development pages: held-out pages missing
        holding = index(encoder, name, args, "second")
        print(
            f"  {name}: refuses {refusals(lacking, held):.3f} / "
            f"{refusals(with_verifier(lacking, reranker), held):.3f} of {len(held)} held-out questions "
            f"whose pages are not indexed; answers {1 - refusals(holding, held):.3f} / "
            f"{1 - refusals(with_verifier(holding, reranker), held):.3f} of them when they are",
            flush=True,
        )
    for a, b in (("eval", "news"), ("news", "eval"), ("web", "eval"), ("eval", "web")):
        held = spread([q for q in sets[a] if not q.dev], args.verify_sample // 2)
        print(
            f"  held-out {a} questions on the {b} index: refuses {refusals(searchers[b], held):.3f} / "
            f"{refusals(with_verifier(searchers[b], reranker), held):.3f} of {len(held)}",
            flush=True,
        )


def segmenters(args: argparse.Namespace) -> None:
    """Compare BM25 segmentations on the parsed passages of both sets."""
    encoder = CachedEncoder(MODEL, args.cache, args.encoder)
    for name in SETS:
        searcher = index(encoder, name, args)
        qs = questions(encoder, name, args.sample)
        ids = searcher.index.lexical_index.ids().tolist()
        texts = {i: p.text for i in ids if (p := searcher.passage(i))}
        for segmenter in SEGMENTERS:
            started = time.monotonic()
            lexical = LexicalIndex.build(ids, [texts[i] for i in ids], segmenter)
            built = time.monotonic() - started
            hits = [[texts[i] for i in lexical.search(q.text, 10)[1].tolist()] for q in qs]
            cells = table(qs, hits)
            row = " ".join(f"{s} {fmt(c)}" for s, c in cells.items())
            print(f"{name} {segmenter:10} build {built:5.1f}s  {row}", flush=True)


def rescored(candidates: Sequence[rank.Candidate], lexical: float, page: float) -> list[rank.Candidate]:
    """Return candidates re-ranked with other fusion weights (captions keep their penalty)."""
    moved = [replace(c, relevance=c.dense + lexical * c.lexical + page * c.page) for c in candidates]
    return sorted(moved, key=lambda c: (-c.relevance, c.passage_id))


def top_quotes(
    searcher: Searcher, candidates: Sequence[rank.Candidate], n: int = 3
) -> list[tuple[str, float]]:
    """Return the first n quotes (capped and folded as shipped) with their relevance."""
    passages = {c.passage_id: p for c in candidates if (p := searcher.passage(c.passage_id))}
    hits = rank.select_hits(candidates, passages, top_k=n, max_per_article=searcher.max_per_article)
    return [(h.text, h.score) for h in hits]


def objective(
    pools: Sequence[tuple[Searcher, Question, list[rank.Candidate]]], lexical: float, page: float
) -> float:
    """Return the mean over subsets of (ans@1 + ans@3) / 2 with these fusion weights."""
    qs, hits = [], []
    for searcher, q, candidates in pools:
        qs.append(q)
        hits.append([t for t, _ in top_quotes(searcher, rescored(candidates, lexical, page))])
    cells = table(qs, hits)
    return float(np.mean([(a1 + a3) / 2 for s, (a1, a3, _) in cells.items() if s != "ALL"]))


def quote_margin(
    pools: Sequence[tuple[Searcher, Question, list[rank.Candidate]]], lexical: float, page: float
) -> float:
    """Return the gap to the best quote past which later quotes hold an answer < QUOTE_PRECISION of times."""
    qs = [q for _, q, _ in pools]
    return margin_of(qs, [top_quotes(s, rescored(c, lexical, page)) for s, _, c in pools])


def margin_of(qs: Sequence[Question], quotes: Sequence[Sequence[tuple[str, float]]]) -> float:
    """Return the gap to the best quote past which later quotes hold an answer < QUOTE_PRECISION of times."""
    gaps, right = [], []
    for q, qq in zip(qs, quotes, strict=True):
        for text, score in qq[1:]:
            gaps.append(qq[0][1] - score)
            right.append(answered([text], q) is not None)
    gap, hit = np.array(gaps), np.array(right)
    for start in np.arange(0.0, gap.max(initial=0.0), 0.01):
        window = (gap >= start) & (gap < start + 0.05)
        if window.sum() >= 30 and hit[window].mean() < QUOTE_PRECISION:
            return round(float(start), 3)
    return round(float(gap.max(initial=0.0)), 3)


def kind_thresholds(best: Mapping[str, Sequence[float]], answered: float) -> dict[str, float]:
    """Return per question kind the best relevance that answers that share of its questions."""
    return {kind: float(np.quantile(scores, 1 - answered)) for kind, scores in best.items()}


def calibrate(args: argparse.Namespace) -> None:
    """Derive fusion weights, quote margin and per-kind thresholds on the dev half; store the record."""
    from functools import cache

    from embeddings import calibration

    rank.shingles = cache(rank.shingles)  # the grid folds the same passages many times
    encoder = CachedEncoder(MODEL, args.cache, args.encoder)
    searchers = {name: index(encoder, name, args) for name in SETS}
    pools = [
        (searchers[name], q, searchers[name].candidates(q.text, q.vector))
        for name in SETS
        for q in questions(encoder, name, args.sample)
        if q.dev
    ]
    old = searchers["eval"].calibration
    # A quantised family keeps the float record's fusion weights (it ranks alike; on int8 the grid's
    # best two differed by 0.0003) and re-derives only what its score scale moves: margin, thresholds.
    grid = [(lw, pw) for lw in GRID_LEXICAL for pw in GRID_PAGE]
    if encoder.family != "float":
        grid = [(old.lexical_weight, old.page_weight)]
    scores = {(lw, pw): objective(pools, lw, pw) for lw, pw in grid}
    for (lw, pw), value in sorted(scores.items()):
        print(f"  lexical {lw:.1f} page {pw:.1f}: mean (ans@1+ans@3)/2 over subsets {value:.4f}", flush=True)
    lexical, page = max(scores, key=lambda k: (scores[k], -k[1], -k[0]))
    margin = quote_margin(pools, lexical, page)
    best: dict[str, list[float]] = {}
    for _, q, candidates in pools:
        best.setdefault(q.kind, []).append(max(c.relevance for c in rescored(candidates, lexical, page)))
    thresholds = dict(old.min_relevance)  # kinds without dev questions keep their measured value
    thresholds.update({k: round(t, 4) for k, t in kind_thresholds(best, ANSWERED).items()})
    record = calibration.Calibration(
        model=Path(encoder.model_id).name,
        lexical_weight=lexical,
        page_weight=page,
        caption_penalty=old.caption_penalty,
        quote_margin=margin,
        min_relevance=thresholds,
        model_sha256=calibration.weights_digest(encoder.model_id) or "",
        verification=old.verification,  # --calibrate-verifier's, measured on its own
        measured=(
            f"bench/quality.py --calibrate --sample {args.sample}"
            f"{'' if args.encoder == 'torch' else ' --encoder ' + args.encoder}, "
            f"{time.strftime('%Y-%m-%d')}: dev half of "
            f"{len(pools)} questions ({', '.join(f'{k} {len(v)}' for k, v in sorted(best.items()))}); "
            f"thresholds answer {ANSWERED:.1%} of them, later quotes shown while >= {QUOTE_PRECISION:.0%} "
            "hold an answer; cross-lingual kept from hand-translated questions"
        ),
    )
    text = calibration.to_json(record)
    calibration.PACKAGED.mkdir(exist_ok=True)
    (calibration.PACKAGED / calibration.record_name(MODEL, encoder.family)).write_text(text, encoding="utf-8")
    print(text)


# The verifier's grid (dev half): candidates it reads and the weight of its probability in the score.
VERIFY_DEPTHS = (3, 5)
# Each candidate read costs ~25 ms on the question's path (one thread): the fewest within a point of the best.
VERIFY_DEPTH_TOLERANCE = 0.01
# The speed budget (3x a question without the verifier): depth 3 measured 2.77x-2.81x (bench/query_speed.py,
# AMD EPYC avx2), so depth 5 (~4x) is printed in the grid but never chosen.
MAX_VERIFY_DEPTH = 3
VERIFY_WEIGHTS = (0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.0)
# In-corpus questions of each kind the verifier's abstention answers on the development half.
VERIFIED_ANSWERED = 0.985
# Questions per set the verifier is calibrated on (development half) and judged on (held-out half),
# spread evenly over each set's questions: scoring pairs is the cost (about 30 pairs/s on 2 cores).
VERIFY_SAMPLE = 400


def spread(qs: Sequence[Question], n: int) -> list[Question]:
    """Return about n of the questions, evenly spread (every k-th), all when n is 0."""
    return list(qs) if n <= 0 else list(qs[:: max(1, math.ceil(len(qs) / n))])


def verified_pools(
    searcher: Searcher, qs: Sequence[Question], reranker: CachedReranker, depth: int
) -> list[tuple[Question, list[rank.Candidate], Mapping[int, Any], list[float]]]:
    """Return each question's candidates, their passages and the verifier's logits of the first depth."""
    out = []
    for start in range(0, len(qs), 64):
        batch = qs[start : start + 64]
        pools = searcher._pools([q.text for q in batch], np.stack([q.vector for q in batch]))
        found = [searcher.candidates(q.text, q.vector, pool) for q, pool in zip(batch, pools, strict=True)]
        pairs = [
            (q.text, pool.passages[c.passage_id].text)
            for q, pool, cands in zip(batch, pools, found, strict=True)
            for c in cands[:depth]
        ]
        logits = reranker.score(pairs).tolist()
        at = 0
        for q, pool, cands in zip(batch, pools, found, strict=True):
            n = len(cands[:depth])
            out.append((q, cands, pool.passages, logits[at : at + n]))
            at += n
    return out


def verified_signals(
    pools: Sequence[tuple[Question, list[rank.Candidate], Mapping[int, Any], list[float]]],
    depth: int,
    weight: float,
    cal: Any,
    kinds: Collection[str] | None = None,
) -> tuple[list[list[tuple[str, float]]], dict[str, np.ndarray]]:
    """Return the first 3 quotes (text, score) per question and each abstention signal.

    "relevance" is the best relevance before the verifier, less its kind's threshold: below 0, the
    Searcher without a verifier refuses. A question of a kind not in kinds (when given) is not
    verified: ranked as without the verifier, every signal its relevance.
    """
    quotes, chance, combined, plain = [], [], [], []
    for q, cands, passages, logits in pools:
        verified = kinds is None or q.kind in kinds
        final = rank.verify(cands, logits[:depth], weight) if verified else cands
        hits = rank.select_hits(final, passages, top_k=3, max_per_article=SHIPPED_CAP)
        quotes.append([(h.text, h.score) for h in hits])
        plain.append(max((c.relevance for c in cands), default=0.0) - cal.threshold(q.kind))
        chance.append(
            max((c.verified for c in final if c.verified is not None), default=0.0) if verified else plain[-1]
        )
        combined.append(max((c.relevance for c in final), default=0.0) - cal.threshold(q.kind))
    return quotes, {
        "verifier": np.array(chance),
        "combined": np.array(combined),
        "relevance": np.array(plain),
    }


def calibrate_verifier(args: argparse.Namespace) -> None:
    """Derive the verifier's depth, weight, quote margin and per-kind thresholds on the dev half."""
    from functools import cache

    from embeddings import calibration

    rank.shingles = cache(rank.shingles)
    encoder = CachedEncoder(MODEL, args.cache, args.encoder)
    reranker = verifier(args)
    if reranker is None:
        raise SystemExit("--calibrate-verifier needs a reranker (--reranker)")
    depth = max(VERIFY_DEPTHS)
    inside, outside = [], []
    for name in SETS:
        dev = [q for q in questions(encoder, name, args.sample) if q.dev and q.kind != "cross-lingual"]
        dev = spread(dev, VERIFY_SAMPLE)
        inside += verified_pools(index(encoder, name, args), dev, reranker, depth)
        # The index of the other half lacks these questions' pages: out of corpus.
        outside += verified_pools(index(encoder, name, args, "second"), dev, reranker, depth)
        print(f"{name}: {len(dev)} dev questions scored ({reranker.computed} pairs computed)", flush=True)
    cal = calibration.for_encoder(encoder.model_id, encoder.family)
    qs = [q for q, *_ in inside]
    kinds = sorted({q.kind for q in qs})

    def grid(verified: Collection[str]) -> dict[tuple[int, float], dict[str, float]]:
        """Return per grid point (weight 0: without the verifier) (ans@1+ans@3)/2: for all questions
        ("ALL") the mean over the subsets, for each kind over its questions (a kind's few questions
        of one subset, e.g. traditional web queries, must not weigh as much as a whole subset)."""
        out = {}
        for d, w in ((VERIFY_DEPTHS[0], 0.0), *((d, w) for d in VERIFY_DEPTHS for w in VERIFY_WEIGHTS)):
            quotes = verified_signals(inside, d, w, cal, verified)[0]
            out[d, w] = {}
            for kind in ("ALL", *kinds):
                pick = [i for i, q in enumerate(qs) if kind in ("ALL", q.kind)]
                cells = table([qs[i] for i in pick], [[t for t, _ in quotes[i]] for i in pick])
                halves = [(a1 + a3) / 2 for s, (a1, a3, _) in cells.items() if s != "ALL"]
                out[d, w][kind] = float(np.mean(halves)) if kind == "ALL" else sum(cells["ALL"][:2]) / 2
            label = "without the verifier" if w == 0.0 else f"depth {d} weight {w}"
            cells_text = ", ".join(f"{k} {v:.4f}" for k, v in out[d, w].items())
            print(f"  {label}: (ans@1+ans@3)/2 {cells_text}", flush=True)
        return out

    # A kind the verifier does not help at any grid point on the dev half is not verified.
    first = grid(kinds)
    plain = first[VERIFY_DEPTHS[0], 0.0]
    helped = [k for k in kinds if max(v[k] for (_, w), v in first.items() if w) > plain[k]]
    print(f"  verified kinds: {helped} (of {kinds})", flush=True)
    scored = grid(helped) if helped != kinds else first
    scores = {key: v["ALL"] for key, v in scored.items() if key[1] and key[0] <= MAX_VERIFY_DEPTH}
    top = max(scores.values())
    best_depth = min(d for (d, _), v in scores.items() if v >= top - VERIFY_DEPTH_TOLERANCE)
    weight = max((w for d, w in scores if d == best_depth), key=lambda w: (scores[best_depth, w], -w))
    quotes, inner_signals = verified_signals(inside, best_depth, weight, cal, helped)
    _, outer_signals = verified_signals(outside, best_depth, weight, cal, helped)
    margin = margin_of(qs, quotes)
    chosen: dict[str, Any] = {}
    for signal, inner in inner_signals.items():
        outer = outer_signals[signal]
        cut = kind_thresholds({k: inner[[q.kind == k for q in qs]] for k in kinds}, VERIFIED_ANSWERED)
        # "relevance" is compared at the same share answered; chosen, it keeps the record's thresholds.
        answers = float(np.mean([inner[i] >= cut[q.kind] for i, q in enumerate(qs)]))
        refused = {
            name: float(
                np.mean([outer[i] < cut[q.kind] for i, q in enumerate(qs) if q.id.startswith(prefix)])
            )
            for name, prefix in (("eval", ("cmrc", "drcd", "xquad")), ("news", "newsqa"), ("web", "web"))
        }
        print(
            f"  abstain on {signal}: thresholds {cut}; answers {answers:.3f} in corpus, refuses out of "
            f"corpus (dev) {refused}",
            flush=True,
        )
        chosen[signal] = (float(np.mean(list(refused.values()))), cut)
    signal = max(chosen, key=lambda k: chosen[k][0])
    record = calibration.Verification(
        reranker=Path(reranker.model_id).name,
        sha256=reranker.digest,
        depth=best_depth,
        weight=weight,
        quote_margin=margin,
        abstain_on=signal,
        min_score={
            k: round(v, 4) if signal != "relevance" else 0.0
            for k, v in chosen[signal][1].items()
            if k in helped
        },
        measured=(
            f"bench/quality.py --calibrate-verifier, {time.strftime('%Y-%m-%d')}: {len(qs)} dev questions "
            f"({', '.join(f'{k} {sum(q.kind == k for q in qs)}' for k in kinds)}); of the verifier's "
            f"probability, the combined score and relevance alone, {signal} refused the most dev questions "
            f"whose page is not indexed at {VERIFIED_ANSWERED:.1%} answered"
            + ("; it abstains with the record's relevance thresholds" if signal == "relevance" else "")
            + "; it verifies the kinds it helped at some depth and weight: "
            + (", ".join(helped) or "none")
        ),
    )
    for path in sorted(calibration.PACKAGED.glob(f"{Path(MODEL).name}*.json")):
        stored = replace(calibration.read_record(path), verification=record)
        path.write_text(calibration.to_json(stored), encoding="utf-8")
        print(f"wrote {path}")
    print(calibration.to_json(replace(cal, verification=record)))


def side_bench(doc: str | None) -> tuple[argparse.Namespace, CachedEncoder]:
    """Parse a side bench's --cache/--sample/--encoder (as this bench's) and open its cached encoder."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--cache", type=Path, default=Path("/tmp/b1/quality"), help="bench/quality.py's cache"
    )
    parser.add_argument("--sample", type=int, default=256, help="as bench/quality.py --sample")
    parser.add_argument("--encoder", default="torch", help="encoder backend (default torch)")
    parser.add_argument("--reranker", default="shipped", help="the verifier (QUOTEBOT_RERANKER values)")
    parser.add_argument("--reranker-runtime", default="openvino", help="openvino (default) or torch")
    args = parser.parse_args()
    return args, CachedEncoder(MODEL, args.cache, args.encoder)


def main() -> None:
    """Parse arguments and run the chosen measurement."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cache", type=Path, default=Path("/tmp/b1/quality"), help="vector cache and work dir"
    )
    parser.add_argument(
        "--sample", type=int, default=256, help="use pages whose hash byte is below this (256: all)"
    )
    parser.add_argument(
        "--encoder", default="torch", help="encoder backend (QUOTEBOT_ENCODER values; default torch)"
    )
    parser.add_argument("--segmenters", action="store_true", help="compare BM25 segmentations")
    parser.add_argument(
        "--reranker", default="shipped", help="QUOTEBOT_RERANKER value: shipped (default), none, a directory"
    )
    parser.add_argument("--reranker-runtime", default="openvino", help="openvino (default) or torch")
    parser.add_argument(
        "--verify-sample",
        type=int,
        default=400,
        help="held-out questions per set the verifier is judged on, evenly spread (0: all)",
    )
    parser.add_argument(
        "--verifier-only",
        action="store_true",
        help="only the held-out questions the verifier is judged on (its tables and abstention)",
    )
    parser.add_argument(
        "--calibrate-verifier",
        action="store_true",
        help="derive the verifier's depth, weight, margin and thresholds (dev half) into the records",
    )
    parser.add_argument(
        "--calibrate", action="store_true", help="derive and store the ranking constants (dev half)"
    )
    parser.add_argument(
        "--backend", choices=("local", "qdrant"), default="local", help="qdrant: parity with the local one"
    )
    parser.add_argument("--fraction", type=float, default=1.0, help="--backend qdrant: share of eval pages")
    parser.add_argument(
        "--limit", type=int, default=0, help="--backend qdrant: N questions spread over the pages (0: all)"
    )
    parser.add_argument(
        "--lexical", action="store_true", help="--backend qdrant: compare the two lexical representations"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.backend == "qdrant" and args.lexical:
        from bench.qdrant_lexical import compare

        compare(args)
    elif args.backend == "qdrant":
        from bench.qdrant_parity import parity

        parity(args)
    elif args.segmenters:
        segmenters(args)
    elif args.calibrate_verifier:
        calibrate_verifier(args)
    elif args.calibrate:
        calibrate(args)
    else:
        quality(args)


if __name__ == "__main__":
    main()

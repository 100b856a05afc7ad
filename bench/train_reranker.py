"""Train the answer verifier (a cross-encoder) on the development halves, and save the shipped model.

usage: bench/train_reranker.py [--cache DIR] [--out DIR] [--layers N] [--max-length N] [--seed N]

The model starts from the embedding model's first --layers layers and its word embeddings, with the
vocabulary pruned to the pieces of Chinese and English text (every piece made only of CJK ideographs,
CJK and full-width punctuation, plus the most probable ASCII pieces), so the directory stays small
and self-contained: a tokenizer and fp16 weights that any sentence-transformers CrossEncoder or
transformers AutoModelForSequenceClassification loads.

Training pairs come only from the development halves that bench/quality.py splits (pages by a hash
of their name), mined from the product's own candidate pools on an index of the development pages
alone, so no held-out page or question is ever read:
- ranking: per question, its best-ranked passage that contains an answer (label 1) and the best
  ranked ones that do not (hard negatives, label 0);
- answerability: the same question with its own page left out of the pool: the best remaining
  candidates do not answer (label 0), as for a question about a page the index lacks.
Loss: binary cross-entropy on every pair plus a listwise softmax over each question's group.
Seeded (--seed): the same data, order and initial weights give the same model.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import quality
from bench.quality import SETS, CachedEncoder, Question

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "embeddings" / "rerankers" / "quotebot-verifier-zh"
# Pieces kept beyond CJK and punctuation: the most probable ASCII pieces of the unigram model.
ASCII_PIECES = 10_000
HARD_NEGATIVES = 2
LEFT_OUT_NEGATIVES = 2
# Questions per set used for training at most: every development question of news and web search
# (what the product loses on); eval's three Wikipedia subsets are capped by --eval-questions (they
# are many, and their questions reuse the paragraph's words).
PER_SET = {"eval": 3000, "news": 10_000, "web": 10_000}


@dataclass(frozen=True)
class Pair:
    """One training example: a question, a passage and whether the passage answers it."""

    group: int
    question: str
    passage: str
    label: float


def keep_piece(piece: str) -> bool:
    """Return whether a piece is made only of CJK ideographs, CJK/full-width punctuation or symbols."""
    for c in piece:
        o = ord(c)
        if not (
            0x4E00 <= o <= 0x9FFF
            or 0x3000 <= o <= 0x303F
            or 0xFF00 <= o <= 0xFFEF
            or 0x2000 <= o <= 0x206F
            or o == 0x2581
            or o == 0xB7
        ):
            return False
    return True


def pruned_vocabulary(tokenizer_json: dict) -> list[int]:
    """Return the ids kept: special tokens, CJK and punctuation pieces, the likeliest ASCII pieces."""
    vocab = tokenizer_json["model"]["vocab"]
    special = {t["id"] for t in tokenizer_json["added_tokens"]}
    ascii_ids = [
        i for i, (p, _) in enumerate(vocab) if i not in special and p.replace("\u2581", "").isascii()
    ]
    ascii_ids.sort(key=lambda i: -vocab[i][1])
    singles = {i for i, (p, _) in enumerate(vocab) if len(p.replace("\u2581", "")) <= 1}
    keep = special | singles | set(ascii_ids[:ASCII_PIECES])
    keep |= {i for i, (p, _) in enumerate(vocab) if keep_piece(p)}
    return sorted(keep)


def pruned_tokenizer(tokenizer_json: dict, kept: Sequence[int]) -> dict:
    """Return the tokenizer.json of the kept pieces, with every id renumbered."""
    new_id = {old: new for new, old in enumerate(kept)}
    out = json.loads(json.dumps(tokenizer_json))
    vocab = tokenizer_json["model"]["vocab"]
    out["model"]["vocab"] = [vocab[i] for i in kept]
    out["model"]["unk_id"] = new_id[tokenizer_json["model"]["unk_id"]]
    for token in out["added_tokens"]:
        token["id"] = new_id[token["id"]]

    def renumber(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "ids" and isinstance(value, list):
                    node[key] = [new_id[i] for i in value]
                elif key == "id" and isinstance(value, int) and "content" not in node:
                    node[key] = value
                else:
                    renumber(value)
        elif isinstance(node, list):
            for item in node:
                renumber(item)

    renumber(out.get("post_processor"))
    return out


def initial_model(model_dir: Path, work: Path, layers: int) -> tuple[object, object]:
    """Return (model, tokenizer): a sequence classifier from the first layers and pruned vocabulary."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    source = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    kept = pruned_vocabulary(source)
    work.mkdir(parents=True, exist_ok=True)
    (work / "tokenizer.json").write_text(
        json.dumps(pruned_tokenizer(source, kept), ensure_ascii=False), encoding="utf-8"
    )
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        if (model_dir / name).exists():
            (work / name).write_text((model_dir / name).read_text(encoding="utf-8"), encoding="utf-8")
    tokenizer = AutoTokenizer.from_pretrained(str(work))
    config = BertConfig.from_pretrained(str(model_dir))
    config.num_hidden_layers = layers
    config.vocab_size = len(kept)
    config.num_labels = 1
    config.architectures = ["BertForSequenceClassification"]
    config.pad_token_id = tokenizer.pad_token_id
    model = BertForSequenceClassification(config)
    weights = load_file(str(model_dir / "model.safetensors"))
    state = {}
    for key, value in weights.items():
        name = key.removeprefix("bert.")
        if name.startswith("encoder.layer.") and int(name.split(".")[2]) >= layers:
            continue
        if name == "embeddings.word_embeddings.weight":
            value = value[torch.tensor(kept)]
        state["bert." + name] = value.float()
    torch.nn.init.normal_(model.classifier.weight, std=config.initializer_range)
    torch.nn.init.zeros_(model.classifier.bias)
    # The embedding model's pooler is all zeros (it pools by mean, never by [CLS]): start it at identity.
    state["bert.pooler.dense.weight"] = torch.eye(config.hidden_size)
    state["bert.pooler.dense.bias"] = torch.zeros(config.hidden_size)
    missing, unexpected = model.load_state_dict(state, strict=False)
    print(f"initialised {layers} layers, vocabulary {len(kept):,} pieces; new: {missing}", file=sys.stderr)
    if unexpected:
        raise SystemExit(f"unexpected weights: {unexpected}")
    return model, tokenizer


def contains_answer(text: str, q: Question) -> bool:
    """Return whether text contains one of the question's answers (score.py's rule)."""
    return quality.answered([text], q) is not None


def mine(encoder: CachedEncoder, args: argparse.Namespace) -> list[Pair]:
    """Return the training pairs of the development halves (see the module docstring)."""
    rng = random.Random(args.seed)
    pairs: list[Pair] = []
    group = 0
    for name in args.sets.split(","):
        searcher = quality.index(encoder, name, args, "first")  # the development pages only
        qs = [q for q in quality.questions(encoder, name, args.sample) if q.dev and q.kind != "cross-lingual"]
        rng.shuffle(qs)
        qs = qs[: args.eval_questions if name == "eval" else PER_SET[name]]
        counts = [0, 0, 0]
        for start in range(0, len(qs), 64):
            batch = qs[start : start + 64]
            pools = searcher._pools([q.text for q in batch], np.stack([q.vector for q in batch]))
            for q, pool in zip(batch, pools, strict=True):
                ranked = [
                    pool.passages[c.passage_id]
                    for c in searcher.candidates(q.text, q.vector, pool)
                    if c.passage_id in pool.passages
                ]
                positives = [p.text for p in ranked if contains_answer(p.text, q)]
                if not positives:
                    page = searcher.index.page(q.doc)
                    positives = [p.text for p in page if contains_answer(p.text, q)]
                if not positives:
                    continue
                wrong = [p for p in ranked if not contains_answer(p.text, q)]
                hard = [p.text for p in wrong[:HARD_NEGATIVES]]
                left_out = [p.text for p in wrong if p.doc != q.doc and p.text not in hard]
                group += 1
                pairs.append(Pair(group, q.text, positives[0], 1.0))
                pairs += [Pair(group, q.text, t, 0.0) for t in hard]
                pairs += [Pair(group, q.text, t, 0.0) for t in left_out[:LEFT_OUT_NEGATIVES]]
                counts[0] += 1
                counts[1] += len(hard)
                counts[2] += min(len(left_out), LEFT_OUT_NEGATIVES)
        print(
            f"{name}: {counts[0]} questions, {counts[0]} positives, {counts[1]} hard negatives, "
            f"{counts[2]} left-out-page negatives",
            file=sys.stderr,
            flush=True,
        )
    return pairs


def by_length(order: list[int], groups: dict[int, list[Pair]], window: int = 64) -> list[int]:
    """Return the shuffled groups sorted by length within windows, so a batch pads little."""
    size = {g: max(len(p.question) + len(p.passage) for p in groups[g]) for g in order}
    return [
        g
        for start in range(0, len(order), window)
        for g in sorted(order[start : start + window], key=size.get)
    ]


def train(model: object, tokenizer: object, pairs: list[Pair], args: argparse.Namespace) -> None:
    """Fine-tune on the pairs: BCE on each plus a softmax over each question's group, one epoch."""
    import torch
    from tqdm import tqdm

    groups: dict[int, list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(pair.group, []).append(pair)
    order = list(groups)
    random.Random(args.seed).shuffle(order)
    order = by_length(order, groups)
    steps = math.ceil(len(order) / args.groups_per_step) * args.epochs
    net: torch.nn.Module = model  # type: ignore[assignment]
    if args.freeze_embeddings:  # most of the weights; a small data set may only blur them
        net.bert.embeddings.word_embeddings.weight.requires_grad_(False)  # type: ignore[attr-defined, union-attr, operator]
    head = [p for n, p in net.named_parameters() if n.startswith(("classifier.", "bert.pooler."))]
    body = [
        p
        for n, p in net.named_parameters()
        if p.requires_grad and not n.startswith(("classifier.", "bert.pooler."))
    ]
    optimiser = torch.optim.AdamW(
        [{"params": body, "lr": args.lr}, {"params": head, "lr": args.lr * args.head_lr}], weight_decay=0.01
    )
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / max(1, steps - warmup)))
    )
    bce = torch.nn.BCEWithLogitsLoss()
    net.train()
    bar = tqdm(total=steps, desc="training", unit="step", file=sys.stderr, mininterval=5)
    for epoch in range(args.epochs):
        if epoch:
            random.Random(args.seed + epoch).shuffle(order)
            order = by_length(order, groups)
        for start in range(0, len(order), args.groups_per_step):
            chosen = [groups[g] for g in order[start : start + args.groups_per_step]]
            flat = [p for g in chosen for p in g]
            enc = tokenizer(  # type: ignore[operator]
                [p.question for p in flat],
                [p.passage for p in flat],
                truncation="only_second",
                max_length=args.max_length,
                padding=True,
                return_tensors="pt",
            )
            logits = net(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits[:, 0]
            labels = torch.tensor([p.label for p in flat])
            loss = bce(logits, labels)
            at = 0
            listwise = []
            for g in chosen:
                scores = logits[at : at + len(g)]
                listwise.append(-torch.log_softmax(scores, 0)[0])  # the positive comes first
                at += len(g)
            loss = loss + torch.stack(listwise).mean()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    net.eval()


def save(
    model: object, tokenizer: object, out: Path, args: argparse.Namespace, pairs: int, took: float
) -> None:
    """Write the model as a CrossEncoder directory: fp16 weights, tokenizer, and how it was made."""
    import torch

    net: torch.nn.Module = model  # type: ignore[assignment]
    out.mkdir(parents=True, exist_ok=True)
    net.half()
    net.config.dtype = "float16"  # type: ignore[attr-defined]
    net.config.sentence_transformers = {"activation_fn": "torch.nn.modules.activation.Sigmoid"}  # type: ignore[attr-defined]
    net.save_pretrained(str(out), safe_serialization=True)  # type: ignore[attr-defined]
    tokenizer.save_pretrained(str(out))  # type: ignore[attr-defined]
    compact = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))  # 2 MB indented, 1 MB not
    (out / "tokenizer.json").write_text(json.dumps(compact, ensure_ascii=False), encoding="utf-8")
    meta = {
        "max_length": args.max_length,
        "layers": args.layers,
        "trained": (
            f"bench/train_reranker.py --layers {args.layers} --max-length {args.max_length} "
            f"--seed {args.seed} --lr {args.lr} --head-lr {args.head_lr} --epochs {args.epochs} "
            f"--eval-questions {args.eval_questions}, "
            f"{time.strftime('%Y-%m-%d')}: {pairs} pairs from the development halves of "
            f"../shared/eval, eval-news and eval-web, {took / 60:.0f} min on "
            "2 CPU cores"
        ),
    }
    (out / "quotebot-reranker.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    (out / "README.md").write_text(model_card(meta), encoding="utf-8")


def model_card(meta: dict[str, object]) -> str:
    """Return the shipped model's README: what it is, how it was trained and on what, how to replace it."""
    return f"""# quotebot-verifier-zh: the answer verifier shipped with quotebot

A cross-encoder that reads a question and a passage together and scores whether the passage answers
it. quotebot reads the first candidates of each Chinese question with it (simplified or traditional;
questions without Han characters are not verified): its score orders the quotes and decides "not in
the corpus" (`embeddings/reranker.py`, `embeddings/search.py`; constants in the calibration records,
`embeddings/calibration/*.json`, written by `python bench/quality.py --calibrate-verifier`).

- Architecture: BertForSequenceClassification, one logit; the first {meta["layers"]} layers and the word
  embeddings of multilingual-e5-small (MIT), vocabulary pruned to the pieces of Chinese and English
  text (every piece of CJK ideographs and CJK/full-width punctuation, every single character, the
  10,000 most probable ASCII pieces); fp16 weights, its own tokenizer: it works beside any
  embedding model. Pairs are read up to {meta["max_length"]} tokens (question first).
- Trained: {meta["trained"]}.
- Data: only the development halves that `bench/quality.py` splits (pages by a hash of their name) of
  `../shared/eval` (Wikipedia, CMRC 2018 / DRCD / XQuAD questions), `../shared/eval-news` (agency news
  reports, real questions) and `../shared/eval-web` (web-search passages, real search queries); none
  of their text is in this directory. Per question: the best-ranked passage holding an answer (1), the
  best-ranked ones that do not (0), and, with the question's own page left out of the pool, the best
  remaining candidates (0: a question about a page the index lacks).
- Loss: binary cross-entropy on each pair plus a softmax over each question's group.
- Reproduce: `python bench/quality.py` (builds the vector cache), then `python bench/train_reranker.py`
  and `python bench/quality.py --calibrate-verifier`; figures on the held-out halves in
  `docs/retrieval.md`.

Use another: `QUOTEBOT_RERANKER=/path/to/a/CrossEncoder/directory` (or a hub id already in the local
cache); it re-orders the first candidates, and decides abstention only once `bench/quality.py
--calibrate-verifier --reranker DIR` has measured its constants. `QUOTEBOT_RERANKER=none` turns the
verifier off.
"""


def main() -> None:
    """Mine the pairs, train, save."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cache", type=Path, default=Path("/tmp/b1/quality"), help="bench/quality.py's cache"
    )
    parser.add_argument("--sample", type=int, default=256, help="as bench/quality.py --sample")
    parser.add_argument("--out", type=Path, default=OUT, help="where the model goes")
    parser.add_argument("--layers", type=int, default=4, help="encoder layers kept from the embedding model")
    parser.add_argument("--max-length", type=int, default=160, help="tokens of question + passage")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--lr", type=float, default=6e-5)
    parser.add_argument("--head-lr", type=float, default=1.0, help="the head's learning rate, times --lr")
    parser.add_argument(
        "--freeze-embeddings", action="store_true", help="keep the word embeddings as they are"
    )
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--groups-per-step", type=int, default=4, help="questions per optimiser step")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sets", default=",".join(SETS), help="bench/quality.py sets to train on")
    parser.add_argument(
        "--eval-questions", type=int, default=PER_SET["eval"], help="development questions of eval used"
    )
    parser.add_argument("--limit", type=int, default=0, help="train on the first N groups only (smoke test)")
    args = parser.parse_args()
    import torch

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    started = time.monotonic()
    encoder = CachedEncoder(quality.MODEL, args.cache, "torch")
    pairs = mine(encoder, args)
    if args.limit:
        pairs = [p for p in pairs if p.group <= args.limit]
    print(f"{len(pairs)} pairs mined in {time.monotonic() - started:.0f}s", file=sys.stderr, flush=True)
    model, tokenizer = initial_model(Path(quality.MODEL), args.out, args.layers)
    train(model, tokenizer, pairs, args)
    save(model, tokenizer, args.out, args, len(pairs), time.monotonic() - started)
    print(f"saved {args.out} after {(time.monotonic() - started) / 60:.1f} min", file=sys.stderr)


if __name__ == "__main__":
    main()

"""The answer verifier behind one seam: a cross-encoder that reads a question and a passage together.

Its score orders the first candidates and decides whether anything answers (embeddings.search). The
real one runs like the encoder: converted once per model and runtime into a cache, OpenVINO with its
own thread budgets (one thread for a single question, a batch budget for many), padded shapes. The
test double (HashingReranker) scores by shared character bigrams: deterministic, no model.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from embeddings import calibration
from embeddings.encoder import THREADS as ENCODER_THREADS
from embeddings.errors import RerankerUnavailable
from embeddings.tokens import fold

log = logging.getLogger(__name__)

# The verifier trained here (bench/train_reranker.py), shipped with the package.
SHIPPED = Path(__file__).with_name("rerankers") / "quotebot-verifier-zh"
META = "quotebot-reranker.json"
CONVERTED = "reranker.xml"
CONVERSION = 1
DEFAULT_MAX_LENGTH = 256
SHAPE_STEP = 8  # token counts padded to a multiple of this: the CPU plugin keeps state per shape
RUNTIMES = ("openvino", "torch")
# One question's few pairs: one thread (as a question's encoding); a batch of questions: half the cores.
THREADS = {"single": ENCODER_THREADS["query"], "batch": ENCODER_THREADS["batch"]}
SINGLE_MAX = 32  # pairs up to which a call runs on the single-question budget
# Pairs whose scores are kept (a "More" page, or a question asked again, reads them, not the model):
# a key of 20 bytes and a float each.
RECENT_PAIRS = 4096

Pairs = Sequence[tuple[str, str]]


class Reranker(Protocol):
    """Scores (question, passage) pairs: higher means the passage answers the question more surely."""

    @property
    def model_id(self) -> str:
        """Return the model's id: a directory's absolute path or a hub id."""
        ...

    @property
    def digest(self) -> str:
        """Return the sha256 of the weights (the calibration record's key), "" when unknown."""
        ...

    def score(self, pairs: Pairs) -> np.ndarray:
        """Return one logit per pair (float64)."""
        ...


class HashingReranker:
    """A deterministic test double: the logit grows with the share of question bigrams in the passage."""

    model_id = "hashing-bigram-overlap"
    digest = "hashing-bigram-overlap"

    def score(self, pairs: Pairs) -> np.ndarray:
        """Return 8 * (share of the question's folded character bigrams in the passage) - 4 per pair."""
        out = []
        for question, passage in pairs:
            wanted = _bigrams(question)
            share = len(wanted & _bigrams(passage)) / len(wanted) if wanted else 0.0
            out.append(8.0 * share - 4.0)
        return np.asarray(out, dtype=np.float64)


def _bigrams(text: str) -> set[str]:
    """Return the folded character bigrams of text's non-space characters."""
    chars = "".join(fold(text).split())
    return {chars[i : i + 2] for i in range(len(chars) - 1)}


def resolve(setting: str) -> str | None:
    """Return the model a reranker setting names: "shipped", "none", a directory or a hub id."""
    value = setting.strip()
    if value.lower() in ("", "none", "off"):
        return None
    if value.lower() in ("shipped", "default"):
        return str(SHIPPED)
    path = Path(value).expanduser()
    return str(path.resolve()) if path.is_dir() else value


class CrossEncoderReranker:
    """A sentence-transformers CrossEncoder directory (or hub id), run with OpenVINO or torch."""

    def __init__(
        self,
        model: str,
        *,
        runtime: str = "openvino",
        cache_dir: Path | None = None,
        batch_threads: int | None = None,
    ) -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"unknown reranker runtime {runtime!r}; use one of {', '.join(RUNTIMES)}")
        self.model = model
        path = Path(model).expanduser()
        self.model_id = str(path.resolve()) if path.is_dir() else model
        self.runtime = runtime
        self.cache_dir = cache_dir
        self.threads = THREADS | ({"batch": batch_threads} if batch_threads else {})
        # Whether it re-orders candidates without measured constants: not the shipped verifier.
        self.orders_alone = Path(self.model_id) != SHIPPED.resolve()
        self._digest: str | None = None
        self._loaded: Any = None
        self._lock = threading.Lock()
        self._recent: OrderedDict[bytes, float] = OrderedDict()
        self._recent_lock = threading.Lock()
        meta = path / META
        self.max_length = (
            int(json.loads(meta.read_text(encoding="utf-8")).get("max_length", DEFAULT_MAX_LENGTH))
            if meta.is_file()
            else DEFAULT_MAX_LENGTH
        )

    @property
    def digest(self) -> str:
        """Return the sha256 of the weights, computed once."""
        if self._digest is None:
            self._digest = calibration.weights_digest(self.model_id) or ""
        return self._digest

    def load(self) -> None:
        """Load the model now rather than on the first question (a serving process warms it before it
        is ready); raise RerankerUnavailable when it cannot."""
        self._load()

    def _load(self) -> Any:
        """Load the model once, on first use, converting it for OpenVINO first when not cached."""
        if self._loaded is None:
            with self._lock:
                if self._loaded is None:
                    try:
                        self._loaded = (
                            _OpenVINOScorer(self.model, self.model_id, self.max_length, self.cache_dir)
                            if self.runtime == "openvino"
                            else _TorchScorer(self.model, self.max_length)
                        )
                    except Exception as error:
                        raise RerankerUnavailable(
                            f"cannot load the reranker {self.model!r} ({type(error).__name__}: {error})",
                            model=self.model,
                        ) from error
                    log.info("loaded reranker %s with %s", self.model_id, self.runtime)
        return self._loaded

    def score(self, pairs: Pairs) -> np.ndarray:
        """Return one logit per pair, longest pairs batched together; pairs scored lately are not
        read again (the last RECENT_PAIRS)."""
        keys = [hashlib.blake2b(f"{q}\x00{p}".encode(), digest_size=20).digest() for q, p in pairs]
        with self._recent_lock:
            known = {k: self._recent[k] for k in keys if k in self._recent}
            for k in known:
                self._recent.move_to_end(k)
        missing = list({k: pair for k, pair in zip(keys, pairs, strict=True) if k not in known}.items())
        if missing:
            threads = self.threads["single"] if len(missing) <= SINGLE_MAX else self.threads["batch"]
            logits = self._load().score([pair for _, pair in missing], threads)
            scored = dict(
                zip((k for k, _ in missing), np.asarray(logits, dtype=np.float64).tolist(), strict=True)
            )
            known |= scored
            with self._recent_lock:
                self._recent.update(scored)
                while len(self._recent) > RECENT_PAIRS:
                    self._recent.popitem(last=False)
        return np.array([known[k] for k in keys], dtype=np.float64)


def _batches(tokenizer: Any, pairs: list[tuple[str, str]], max_length: int, size: int = 32) -> Any:
    """Yield (rows, encoding): pairs by length, a batch closed when padding would waste a fifth of it.

    The model's cost is the tokens it reads, padding included: a question's few candidates are of
    very different lengths, so one batch padded to the longest would read far more than they hold.
    """
    enc = tokenizer(
        [q for q, _ in pairs], [p for _, p in pairs], truncation="only_second", max_length=max_length
    )
    lengths = [len(ids) for ids in enc["input_ids"]]
    order = sorted(range(len(pairs)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    for i in order:
        last = batches[-1] if batches else None
        if last is None or len(last) >= size or lengths[i] * 5 < lengths[last[0]] * 4:
            batches.append([i])
        else:
            last.append(i)
    for rows in batches:
        chosen = {k: [enc[k][i] for i in rows] for k in ("input_ids", "attention_mask")}
        yield rows, tokenizer.pad(chosen, pad_to_multiple_of=SHAPE_STEP, return_tensors="np")


class _TorchScorer:
    """The model on torch, on worker threads whose torch thread count is set once."""

    def __init__(self, model: str, max_length: int) -> None:
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(model)
        self.net = AutoModelForSequenceClassification.from_pretrained(model, dtype=torch.float32).eval()
        self.max_length = max_length
        self._workers: dict[int, Any] = {}
        self._guard = threading.Lock()

    def score(self, pairs: list[tuple[str, str]], threads: int) -> np.ndarray:
        """Return one logit per pair, computed on the worker of this thread budget."""
        from concurrent.futures import ThreadPoolExecutor

        with self._guard:
            if threads not in self._workers:
                self._workers[threads] = ThreadPoolExecutor(
                    1, f"reranker-{threads}", initializer=self._torch.set_num_threads, initargs=(threads,)
                )
        return np.asarray(self._workers[threads].submit(self._score, pairs).result())

    def _score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        out = np.empty(len(pairs), dtype=np.float64)
        with self._torch.inference_mode():
            for rows, enc in _batches(self.tokenizer, pairs, self.max_length):
                inputs = {k: self._torch.from_numpy(enc[k]) for k in ("input_ids", "attention_mask")}
                out[rows] = self.net(**inputs).logits[:, 0].float().numpy()
        return out


class _OpenVINOScorer:
    """The model converted to OpenVINO once (cached per model and runtime), compiled per thread budget."""

    def __init__(self, model: str, model_id: str, max_length: int, cache_dir: Path | None) -> None:
        import openvino
        from transformers import AutoTokenizer

        directory = converted(model, model_id, cache_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(str(directory / "tokenizer"))
        self.max_length = max_length
        self._core = openvino.Core()
        self._model = self._core.read_model(str(directory / CONVERTED))
        self._compiled: dict[int, Any] = {}
        self._guard = threading.Lock()
        self._local = threading.local()

    def _request(self, threads: int) -> Any:
        """Return this thread's infer request of the model compiled for this many threads."""
        with self._guard:
            if threads not in self._compiled:
                self._compiled[threads] = self._core.compile_model(
                    self._model,
                    "CPU",
                    {
                        "INFERENCE_NUM_THREADS": threads,
                        "PERFORMANCE_HINT": "LATENCY",
                        "ENABLE_CPU_PINNING": False,
                        "INFERENCE_PRECISION_HINT": "f32",
                    },
                )
        requests = self._local.__dict__.setdefault("requests", {})
        if threads not in requests:
            requests[threads] = self._compiled[threads].create_infer_request()
        return requests[threads]

    def score(self, pairs: list[tuple[str, str]], threads: int) -> np.ndarray:
        """Return one logit per pair."""
        request = self._request(threads)
        out = np.empty(len(pairs), dtype=np.float64)
        for rows, enc in _batches(self.tokenizer, pairs, self.max_length):
            result = request.infer({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})
            out[rows] = np.asarray(result[0])[:, 0]
        return out


def default_cache_dir() -> Path:
    """Return where converted rerankers live unless the caller names a cache directory."""
    from embeddings.openvino_encoder import default_cache_dir as encoders

    return encoders().with_name("rerankers")


def cache_key(model_id: str) -> str:
    """Return the directory name of a converted reranker: model, runtime version and weights."""
    import openvino

    from embeddings.openvino_encoder import model_fingerprint

    slug = "".join(c if c.isalnum() else "-" for c in Path(model_id).name)[:40]
    version = openvino.get_version().split("-")[0]
    return f"{slug}-openvino-{version}-c{CONVERSION}-{model_fingerprint(model_id)}"


def converted(model: str, model_id: str, cache_dir: Path | None = None) -> Path:
    """Return the converted reranker's directory, converting it first if it is not cached yet."""
    from embeddings.openvino_encoder import conversion_lock

    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / cache_key(model_id)
    if (target / CONVERTED).is_file():
        return target
    with conversion_lock(root):
        if (target / CONVERTED).is_file():
            return target
        log.info("converting the reranker %s for OpenVINO into %s; this happens once", model_id, target)
        work = Path(tempfile.mkdtemp(prefix=".convert-", dir=root))
        try:
            with contextlib.redirect_stdout(sys.stderr):
                _convert(model, work)
            os.replace(work, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def _convert(model: str, out: Path) -> None:
    """Convert a sequence-classification model into out (OpenVINO IR in fp32, and its tokenizer)."""
    import openvino
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer = AutoTokenizer.from_pretrained(model)
        net = AutoModelForSequenceClassification.from_pretrained(model, dtype=torch.float32).eval()
        example = tokenizer(["问题"], ["一段文字。"], padding=True, return_tensors="pt")
        inputs = {"input_ids": example["input_ids"], "attention_mask": example["attention_mask"]}
        with torch.no_grad():
            ir = openvino.convert_model(net, example_input=inputs)
    openvino.save_model(ir, str(out / CONVERTED), compress_to_fp16=False)
    tokenizer.save_pretrained(str(out / "tokenizer"))

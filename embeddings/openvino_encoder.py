"""The OpenVINO encoder: converts the sentence-transformers model once, then embeds with OpenVINO."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.errors import ModelUnavailable

log = logging.getLogger(__name__)

MODEL_XML = "model.xml"
META = "quotebot-encoder.json"
# Layout version of a converted directory; bump it when conversion changes.
CONVERSION = 1
# Calibration texts for static int8 (nncf): shipped with the package, so every machine quantises alike.
CALIBRATION = "int8_calibration.txt"
# How many of them to use (None: all); the cache key does not see it, so only tests lower it.
CALIBRATION_LIMIT: int | None = None
POOLING = "sentence_transformers.models.Pooling"
# Token counts are padded to a multiple of this: the CPU plugin keeps state for every input shape it
# meets, so free lengths grew the bot's memory for thousands of questions (a few % more compute).
SHAPE_STEP = 8


def default_cache_dir() -> Path:
    """Return where converted models live unless the caller names a cache directory."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "quotebot" / "encoders"


def model_fingerprint(model_id: str) -> str:
    """Return a short hash of the model's identity and, for a directory, its files' sizes and times."""
    digest = hashlib.sha256(model_id.encode())
    path = Path(model_id)
    if path.is_dir():
        for item in sorted(path.rglob("*")):
            if item.is_file():
                stat = item.stat()
                digest.update(f"{item.relative_to(path)}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def cache_key(model_id: str, precision: str) -> str:
    """Return the directory name of a converted model: model, backend, precision and runtime version."""
    import openvino

    slug = "".join(c if c.isalnum() else "-" for c in Path(model_id).name)[:40]
    version = openvino.get_version().split("-")[0]
    return f"{slug}-openvino-{precision}-{version}-c{CONVERSION}-{model_fingerprint(model_id)}"


def calibration_texts() -> list[tuple[str, str]]:
    """Return the shipped calibration texts as (kind, text): sample-corpus paragraphs and questions."""
    text = resources.files("embeddings").joinpath(CALIBRATION).read_text(encoding="utf-8")
    rows = (line.split("\t", 1) for line in text.splitlines() if line.strip() and not line.startswith("#"))
    return [(kind, body) for kind, body in rows]


@contextmanager
def conversion_lock(root: Path) -> Iterator[None]:
    """Hold an exclusive lock so two processes never convert the same model at once."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / "conversion.lock").open("a") as handle:  # not the index lock: a cache of its own
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def converted_model(model: str, model_id: str, precision: str, cache_dir: Path | None = None) -> Path:
    """Return the converted model's directory, converting it first if it is not cached yet."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / cache_key(model_id, precision)
    if (target / META).is_file():
        return target
    with conversion_lock(root):
        if (target / META).is_file():  # another process converted it while we waited
            return target
        log.info("converting %s for OpenVINO (%s) into %s; this happens once", model_id, precision, target)
        work = Path(tempfile.mkdtemp(prefix=".convert-", dir=root))
        try:
            # nncf draws its progress bars on stdout, where `quotebot search --jsonl` writes data.
            with contextlib.redirect_stdout(sys.stderr):
                _convert(model, model_id, precision, work)
            os.replace(work, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


def _convert(model: str, model_id: str, precision: str, out: Path) -> None:
    """Convert the sentence-transformers model's transformer into out (OpenVINO IR, tokenizer, meta)."""
    import openvino
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    # Tracing warns about the model's Python-level branches, and loading shows a progress bar: a
    # newcomer's first `make run` would read both as errors. The vectors are checked against torch.
    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st = SentenceTransformer(model, device="cpu")
        pooling = _check_pipeline(st, model)
        tokenizer = st.tokenizer
        example = tokenizer(["passage: 示例", "query: example"], padding=True, return_tensors="pt")
        inputs = {"input_ids": example["input_ids"], "attention_mask": example["attention_mask"]}
        with torch.no_grad():
            transformer: Any = st[0].auto_model
            ir = openvino.convert_model(transformer.eval(), example_input=inputs)
    prompts = {k: v for k, v in (getattr(st, "prompts", None) or {}).items() if isinstance(v, str)}
    max_length = int(st.max_seq_length or tokenizer.model_max_length)
    if precision == "int8":
        ir = _quantize(ir, tokenizer, prompts, max_length)
    openvino.save_model(ir, str(out / MODEL_XML), compress_to_fp16=False)
    tokenizer.save_pretrained(str(out / "tokenizer"))
    meta = {
        "model": model_id,
        "precision": precision,
        "dimension": int(_dimension(st)),
        "max_length": max_length,
        "pooling": pooling,
        "prompts": prompts,
        "openvino": openvino.get_version(),
    }
    (out / META).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")


def _dimension(st: Any) -> int:
    """Return the model's vector dimension (sentence-transformers 6 renamed the method)."""
    get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
    return int(get())


def _check_pipeline(st: Any, model: str) -> str:
    """Return the pooling of a Transformer -> mean Pooling [-> Normalize] model; refuse anything else."""
    names = [type(m).__name__ for m in st]
    config = st[1].get_config_dict() if len(names) > 1 and names[1] == "Pooling" else {}
    # sentence-transformers 6 says pooling_mode="mean"; 5 says pooling_mode_mean_tokens=True.
    mean = config.get("pooling_mode") == "mean" or config.get("pooling_mode_mean_tokens") is True
    mode = "mean" if mean else str(config.get("pooling_mode", "other"))
    if (
        names[0] != "Transformer"
        or not mean
        or not config.get("include_prompt", True)
        or names[2:]
        not in (
            [],
            ["Normalize"],
        )
    ):
        raise ModelUnavailable(
            f"the OpenVINO encoder handles Transformer + mean pooling models (prompt included); {model} "
            f"is {names} (pooling {mode}): use the torch encoder backend"
        )
    return mode


def _quantize(ir: Any, tokenizer: Any, prompts: dict[str, str], max_length: int) -> Any:
    """Return the model with weights and activations in int8 (nncf static quantisation)."""
    import nncf

    prefix = {
        "query": prompts.get("query", ""),
        "passage": prompts.get("passage", prompts.get("document", "")),
    }
    samples = []
    for kind, body in calibration_texts()[:CALIBRATION_LIMIT]:
        text = prefix[kind] + body
        enc = tokenizer([text], truncation=True, max_length=max_length, return_tensors="np")
        samples.append({"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]})
    return nncf.quantize(
        ir,
        nncf.Dataset(samples),
        model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(samples),
    )


class OpenVINOBackend:
    """Embeds with a converted model: one compiled model per thread budget, its requests per thread."""

    name = "openvino"

    def __init__(self, directory: Path, precision: str) -> None:
        import openvino
        from transformers import AutoTokenizer

        self.directory = directory
        self.meta = json.loads((directory / META).read_text(encoding="utf-8"))
        self.tokenizer = AutoTokenizer.from_pretrained(str(directory / "tokenizer"))
        self._core = openvino.Core()
        self._model = self._core.read_model(str(directory / MODEL_XML))
        self._hint = "f32" if precision == "fp32" else None
        self._compiled: dict[tuple[int, bool], Any] = {}
        self._compile_lock = threading.Lock()
        self._requests_by_thread = threading.local()
        self.dimension = int(self.meta["dimension"])
        self.prompts: dict[str, str] = dict(self.meta["prompts"])
        # The device's default float precision: bf16 where the CPU has avx512_bf16 or AMX, else f32.
        runs_at = self._hint or str(self._core.get_property("CPU", "INFERENCE_PRECISION_HINT"))
        self.precision = "int8" if precision == "int8" else runs_at_name(runs_at)
        if self.precision == "int8":
            log.info("OpenVINO encoder: int8, other layers at %s (INFERENCE_PRECISION_HINT)", runs_at)
        else:
            log.info("OpenVINO encoder: %s (the CPU's INFERENCE_PRECISION_HINT: %s)", self.precision, runs_at)

    def _compile(self, threads: int, bulk: bool) -> Any:
        """Return the model compiled for this many threads and use (compiled once for each).

        A question: one latency stream. A batch: one stream per thread, each fed its own infer
        request, so the cores compute while the next batch is tokenised; a batch never shares a
        stream with questions (a request waits for its stream). Threads are not
        pinned: on a shared machine a pinned thread waits for its busy core, and the question's
        stream would be pinned to a core the indexing streams use.
        """
        with self._compile_lock:
            if (threads, bulk) not in self._compiled:
                config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads, "ENABLE_CPU_PINNING": False}
                if bulk or threads > 1:
                    config |= {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": threads}
                else:
                    config["PERFORMANCE_HINT"] = "LATENCY"
                if self._hint is not None:
                    config["INFERENCE_PRECISION_HINT"] = self._hint
                self._compiled[threads, bulk] = self._core.compile_model(self._model, "CPU", config)
            return self._compiled[threads, bulk]

    def _requests(self, threads: int, bulk: bool) -> list[Any]:
        """Return this thread's infer requests for the model compiled with this many threads and use."""
        requests: dict[tuple[int, bool], list[Any]] = self._requests_by_thread.__dict__.setdefault(
            "by_threads", {}
        )
        if (threads, bulk) not in requests:
            compiled = self._compile(threads, bulk)
            streams = int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            requests[threads, bulk] = [compiled.create_infer_request() for _ in range(max(1, streams))]
        return requests[threads, bulk]

    def embed(self, texts: Sequence[str], threads: int, batch_size: int, *, bulk: bool) -> np.ndarray:
        """Return L2-normalised mean-pooled vectors of texts (prompts already prefixed).

        Texts go longest first (batches pad little) and a batch of batch_size is shared among the
        streams; each request computes while the next one's batch is tokenised.
        """
        requests = self._requests(threads, bulk)
        per_request = max(1, batch_size // len(requests))
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        running: list[tuple[list[int], np.ndarray] | None] = [None] * len(requests)
        try:
            for n, start in enumerate(range(0, len(order), per_request)):
                slot = n % len(requests)
                self._collect(requests[slot], running[slot], out)
                rows = order[start : start + per_request]
                enc = self.tokenizer(
                    [texts[i] for i in rows],
                    padding=True,
                    pad_to_multiple_of=SHAPE_STEP,
                    truncation=True,
                    max_length=int(self.meta["max_length"]),
                    return_tensors="np",
                )
                requests[slot].start_async(
                    {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}
                )
                running[slot] = (rows, enc["attention_mask"])
        except BaseException:
            for request in requests:  # leave none running for this thread's next call
                with contextlib.suppress(Exception):
                    request.wait()
            raise
        for request, batch in zip(requests, running, strict=True):
            self._collect(request, batch, out)
        return out

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Return each text's token count as the model sees it (truncated to its longest input)."""
        longest = int(self.meta["max_length"])
        return [
            len(row) for row in self.tokenizer(list(texts), truncation=True, max_length=longest)["input_ids"]
        ]

    @staticmethod
    def _collect(request: Any, batch: tuple[list[int], np.ndarray] | None, out: np.ndarray) -> None:
        """Wait for a request's batch (if it has one) and write its pooled vectors into out."""
        if batch is not None:
            request.wait()
            rows, mask = batch
            out[rows] = mean_pool(request.get_output_tensor(0).data, mask)


def runs_at_name(hint: str) -> str:
    """Return fp32, bf16 or fp16 for an INFERENCE_PRECISION_HINT such as "<Type: 'bfloat16'>"."""
    text = hint.lower()
    if "bf16" in text or "bfloat16" in text:
        return "bf16"
    return "fp16" if "f16" in text or "float16" in text else "fp32"


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return token vectors averaged over the attention mask, L2-normalised (as the model's pipeline)."""
    weights = mask[..., None].astype(np.float32)
    summed = (hidden.astype(np.float32) * weights).sum(axis=1)
    pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
    normalised: np.ndarray = pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
    return normalised

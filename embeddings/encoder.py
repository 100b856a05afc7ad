"""The embedding model behind one seam: a backend (torch, OpenVINO, ONNX Runtime) loaded lazily."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from embeddings.cpu import this_cpu
from embeddings.encoder_choice import AUTO, Choice, choose, shipped_table
from embeddings.errors import ModelUnavailable
from embeddings.manifest import vector_family

log = logging.getLogger(__name__)

# E5 models were trained with these prefixes; older hub copies lack them in their config.
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}
SINGLE_THREAD_MAX = 4
# Each use of the model has its own thread budget, fixed when the model loads and never changed per
# call. One question: one thread (on a shared 2-core machine a single query took 26 ms with one
# thread and 968 ms with two). Highlighting embeds a few sentences on the question path: one thread.
# Question batches use half the cores: with neighbours, 256 questions took 15 ms each on one thread
# and 50 ms each on two. Passage batches (indexing) are long texts and do scale: 96 eval paragraphs
# embedded at 12 per second on one thread and 22 per second on two.
THREADS = {
    "query": 1,
    "sentence": 1,
    "batch": max(1, min(4, (os.cpu_count() or 1) // 2)),
    "passage": max(1, min(8, os.cpu_count() or 1)),
}
# Batches (passages, question batches) run on runtime state of their own, apart from single questions,
# even at the same thread count: a question never queues behind a batch on a shared stream or worker.
BULK_USES = frozenset({"passage", "batch"})


def serving_passage_threads() -> int:
    """Return the passage budget of a process that also answers questions: one core left for them."""
    return max(1, THREADS["passage"] - 1)


# Encoder setting values: backend and precision ("openvino" runs at the CPU's best float precision:
# bf16 where it has avx512_bf16/AMX, else fp32). "auto" (AUTO) is none of them: it picks one per index.
ENCODERS = {
    "torch": ("torch", "fp32"),
    "openvino": ("openvino", "auto"),
    "openvino-fp32": ("openvino", "fp32"),
    "openvino-int8": ("openvino", "int8"),
    "onnx": ("onnx", "fp32"),
    "onnx-int8": ("onnx", "int8"),
}
# Passage batches hold at most this many tokens (padding included), whatever their passage count: a
# batch of long passages made the runtimes keep GBs of per-shape buffers (3.58 GB for one long page).
TOKEN_BUDGET = 4096


def model_identity(model: str) -> str:
    """Return the id recorded for a model: the absolute path of a directory, else the hub id."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.is_dir() else model


def resolve_prompts(
    model_id: str,
    configured: dict[str, str],
    query_prompt: str | None,
    passage_prompt: str | None,
) -> dict[str, str]:
    """Return the query and passage prompts: the model's own, else the overrides, else E5 or none."""
    fallback = E5_PROMPTS if "e5" in Path(model_id).name.lower() else {"query": "", "passage": ""}
    query = configured.get("query")
    passage = configured.get("passage", configured.get("document"))
    return {
        "query": query
        if query is not None
        else (query_prompt if query_prompt is not None else fallback["query"]),
        "passage": passage
        if passage is not None
        else (passage_prompt if passage_prompt is not None else fallback["passage"]),
    }


def unavailable_message(model: str, error: BaseException) -> str:
    """Return the message for a model that cannot be loaded (the caller names the setting to fix)."""
    return f"cannot load the embedding model {model!r} ({type(error).__name__}: {error})"


def parse_encoder(value: str) -> tuple[str, str]:
    """Return (backend, precision) of a concrete encoder setting value; ValueError names the choices."""
    try:
        return ENCODERS[value.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown encoder {value!r}; use one of {AUTO}, {', '.join(ENCODERS)}") from None


def check_setting(value: str) -> str:
    """Return an encoder setting value (auto or a concrete one), normalised; ValueError names the choices."""
    value = value.strip().lower()
    if value != AUTO:
        parse_encoder(value)
    return value


def cpu_choice() -> Choice:
    """Return the encoder a new index is built with on this machine's CPU (from the shipped table)."""
    return choose(this_cpu().isa, shipped_table())


def token_batches(lengths: Sequence[int], budget: int, most: int) -> list[list[int]]:
    """Return positions grouped into batches, longest first, each padded size (count x longest) <= budget.

    A text longer than the budget goes alone; no batch has more than most texts.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    for i in order:
        batch = batches[-1] if batches else None
        # Longest first: the batch's first text sets its padded length.
        if batch is not None and len(batch) < most and (len(batch) + 1) * lengths[batch[0]] <= budget:
            batch.append(i)
        else:
            batches.append([i])
    return batches


class Backend(Protocol):
    """What a loaded model offers: vectors of texts (prompts already prefixed) under a thread budget."""

    name: str
    precision: str
    dimension: int
    prompts: dict[str, str]

    def embed(self, texts: Sequence[str], threads: int, batch_size: int, *, bulk: bool) -> np.ndarray: ...

    def token_counts(self, texts: Sequence[str]) -> list[int]: ...


class TorchBackend:
    """sentence-transformers on torch; each thread budget runs on its own long-lived worker thread."""

    name = "torch"
    precision = "fp32"

    def __init__(self, model: str) -> None:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        # The "Loading weights" progress bar is noise in CLI output and logs.
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        self._torch = torch
        self.st = SentenceTransformer(model, device="cpu")
        get: Any = (
            getattr(self.st, "get_embedding_dimension", None) or self.st.get_sentence_embedding_dimension
        )
        self.dimension = int(get())
        configured = getattr(self.st, "prompts", None) or {}
        self.prompts = {k: v for k, v in configured.items() if isinstance(v, str)}
        self._workers: dict[tuple[int, bool], ThreadPoolExecutor] = {}
        self._lock = threading.Lock()

    def _worker(self, threads: int, bulk: bool = False) -> ThreadPoolExecutor:
        """Return the worker whose thread set torch's (per-thread, OpenMP) thread count once."""
        with self._lock:
            if (threads, bulk) not in self._workers:
                self._workers[threads, bulk] = ThreadPoolExecutor(
                    1,
                    f"torch-{'bulk-' if bulk else ''}{threads}",
                    initializer=self._torch.set_num_threads,
                    initargs=(threads,),
                )
            return self._workers[threads, bulk]

    def embed(self, texts: Sequence[str], threads: int, batch_size: int, *, bulk: bool) -> np.ndarray:
        """Return normalised vectors of texts, computed on the worker of this thread budget."""
        run: Callable[[], Any] = lambda: self.st.encode(  # noqa: E731
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(self._worker(threads, bulk).submit(run).result())

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Return each text's token count as the model sees it (truncated to its longest input)."""
        longest = int(self.st.max_seq_length or self.st.tokenizer.model_max_length)
        ids = self.st.tokenizer(list(texts), truncation=True, max_length=longest)["input_ids"]
        return [len(row) for row in ids]


class Encoder:
    """Turns questions and passages into L2-normalised float32 vectors with the model's prompts."""

    def __init__(
        self,
        model: str,
        *,
        encoder: str = "torch",
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        batch_size: int = 32,
        cache_dir: Path | None = None,
        passage_threads: int | None = None,
        token_budget: int = TOKEN_BUDGET,
    ) -> None:
        self.model = model
        self.model_id = model_identity(model)
        self.setting = check_setting(encoder)
        # auto: questions follow each index's own encoder; a new index gets this CPU's choice.
        self.auto = self.setting == AUTO
        self._concrete = cpu_choice().setting if self.auto else self.setting
        self.backend, self.requested_precision = parse_encoder(self._concrete)
        self.batch_size = batch_size
        self.token_budget = token_budget
        self.cache_dir = cache_dir
        self.threads = THREADS | ({"passage": passage_threads} if passage_threads else {})
        self._options: dict[str, Any] = {
            "query_prompt": query_prompt,
            "passage_prompt": passage_prompt,
            "batch_size": batch_size,
            "cache_dir": cache_dir,
            "passage_threads": passage_threads,
            "token_budget": token_budget,
        }
        self._query_prompt = query_prompt
        self._passage_prompt = passage_prompt
        self._loaded: Backend | None = None
        self._prompts: dict[str, str] | None = None
        self._load_lock = threading.Lock()
        self._variants: dict[str, Encoder] = {}

    @property
    def family(self) -> str:
        """Return the vector family (see vector_family), known without loading the model."""
        return vector_family(self.backend, self.requested_precision)

    @property
    def concrete(self) -> str:
        """Return the encoder setting this encoder computes with (auto resolved for this CPU)."""
        return self._concrete

    def for_index(self, setting: str) -> Encoder:
        """Return the encoder for an index built with setting: auto follows its family, others stay.

        Any float encoder queries a float index, so auto keeps this CPU's choice when it is one.
        """
        if not self.auto or setting not in ENCODERS or vector_family(*ENCODERS[setting]) == self.family:
            return self
        return self._variant(setting)

    def for_new_index(self) -> Encoder:
        """Return the encoder a new index is built with: auto takes this CPU's choice and logs why."""
        if not self.auto:
            return self
        choice = cpu_choice()
        log.info("encoder %s for the new index: %s", choice.setting, choice.reason)
        return self if choice.setting == self.concrete else self._variant(choice.setting)

    def _variant(self, setting: str) -> Encoder:
        """Return (made once) an encoder of the same model and options with a concrete setting."""
        with self._load_lock:
            if setting not in self._variants:
                self._variants[setting] = Encoder(self.model, encoder=setting, **self._options)
            return self._variants[setting]

    def _load(self) -> Backend:
        """Load the model once, on first use, even when several threads ask at the same time."""
        if self._loaded is not None:
            return self._loaded
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._open()
            return self._loaded

    def _open(self) -> Backend:
        """Return the loaded backend (converting the model first when it is not cached)."""
        try:
            if self.backend == "torch":
                loaded: Backend = TorchBackend(self.model)
            elif self.backend == "onnx":
                from embeddings.onnx_encoder import OnnxBackend, exported_model

                exported = exported_model(self.model, self.model_id, self.requested_precision, self.cache_dir)
                loaded = OnnxBackend(exported, self.requested_precision)
            else:
                from embeddings.openvino_encoder import OpenVINOBackend, converted_model

                # fp32 and the CPU's best float precision run the same converted (fp32) model.
                stored = "int8" if self.requested_precision == "int8" else "float"
                directory = converted_model(self.model, self.model_id, stored, self.cache_dir)
                loaded = OpenVINOBackend(directory, self.requested_precision)
        except ModelUnavailable:
            raise
        except Exception as error:
            raise ModelUnavailable(unavailable_message(self.model, error), model=self.model) from error
        self._prompts = resolve_prompts(
            self.model_id, loaded.prompts, self._query_prompt, self._passage_prompt
        )
        log.info(
            "loaded embedding model %s with %s %s (prompts %r)",
            self.model_id,
            loaded.name,
            loaded.precision,
            self._prompts,
        )
        return loaded

    @property
    def dimension(self) -> int:
        """Return the vector dimension."""
        return self._load().dimension

    @property
    def precision(self) -> str:
        """Return the precision the model runs at (loads it): fp32, bf16 or int8."""
        return self._load().precision

    @property
    def prompts(self) -> dict[str, str]:
        """Return the prompts prefixed to questions ("query") and passages ("passage")."""
        self._load()
        assert self._prompts is not None
        return dict(self._prompts)

    def _encode(self, texts: Sequence[str], prompt: str, use: str) -> np.ndarray:
        """Encode texts with the prompt of kind under the thread budget of use, normalised float32 (n, d)."""
        loaded = self._load()
        if len(texts) == 0:
            return np.zeros((0, loaded.dimension), dtype=np.float32)
        prefix = self.prompts[prompt]
        prefixed = [prefix + t for t in texts]
        threads, bulk = self.threads[use], use in BULK_USES
        if len(prefixed) == 1:
            return np.ascontiguousarray(loaded.embed(prefixed, threads, 1, bulk=bulk), dtype=np.float32)
        out = np.empty((len(prefixed), loaded.dimension), dtype=np.float32)
        for rows in token_batches(loaded.token_counts(prefixed), self.token_budget, self.batch_size):
            out[rows] = loaded.embed([prefixed[i] for i in rows], threads, len(rows), bulk=bulk)
        return out

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Encode questions with the query prompt (a few: the single-question budget; more: a batch)."""
        return self._encode(texts, "query", "query" if len(texts) <= SINGLE_THREAD_MAX else "batch")

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Encode passages with the passage prompt (the indexing budget)."""
        return self._encode(texts, "passage", "passage")

    def encode_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Encode a hit's sentences with the passage prompt on the question path's budget (highlights)."""
        return self._encode(texts, "passage", "sentence")

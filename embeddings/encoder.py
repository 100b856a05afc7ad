"""The embedding model behind one seam: a backend (torch or OpenVINO) loaded lazily, with its prompts."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

import numpy as np

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
# bf16 where it has avx512_bf16/AMX, else fp32).
ENCODERS = {
    "torch": ("torch", "fp32"),
    "openvino": ("openvino", "auto"),
    "openvino-fp32": ("openvino", "fp32"),
    "openvino-int8": ("openvino", "int8"),
}


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
    """Return (backend, precision) of an encoder setting value; ValueError names the choices."""
    try:
        return ENCODERS[value.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown encoder {value!r}; use one of {', '.join(ENCODERS)}") from None


class Backend(Protocol):
    """What a loaded model offers: vectors of texts (prompts already prefixed) under a thread budget."""

    name: str
    precision: str
    dimension: int
    prompts: dict[str, str]

    def embed(self, texts: Sequence[str], threads: int, batch_size: int, *, bulk: bool) -> np.ndarray: ...


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
    ) -> None:
        self.model = model
        self.model_id = model_identity(model)
        self.backend, self.requested_precision = parse_encoder(encoder)
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.threads = THREADS | ({"passage": passage_threads} if passage_threads else {})
        self._query_prompt = query_prompt
        self._passage_prompt = passage_prompt
        self._loaded: Backend | None = None
        self._prompts: dict[str, str] | None = None
        self._load_lock = threading.Lock()

    @property
    def family(self) -> str:
        """Return the vector family (see vector_family), known without loading the model."""
        return vector_family(self.backend, self.requested_precision)

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
        vectors = loaded.embed(
            [prefix + t for t in texts], self.threads[use], self.batch_size, bulk=use in BULK_USES
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Encode questions with the query prompt (a few: the single-question budget; more: a batch)."""
        return self._encode(texts, "query", "query" if len(texts) <= SINGLE_THREAD_MAX else "batch")

    def encode_passages(self, texts: Sequence[str]) -> np.ndarray:
        """Encode passages with the passage prompt (the indexing budget)."""
        return self._encode(texts, "passage", "passage")

    def encode_sentences(self, texts: Sequence[str]) -> np.ndarray:
        """Encode a hit's sentences with the passage prompt on the question path's budget (highlights)."""
        return self._encode(texts, "passage", "sentence")

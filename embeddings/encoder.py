"""The embedding model: sentence-transformers loaded lazily, with its query and passage prompts."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.backend import Matrix
from embeddings.errors import ModelUnavailable

log = logging.getLogger(__name__)

# E5 models were trained with these prefixes; older hub copies lack them in their config.
E5_PROMPTS = {"query": "query: ", "passage": "passage: "}
SINGLE_THREAD_MAX = 4
# Batches use half the cores: with neighbours on a 2-core machine, 256 questions took 15 ms each
# on one thread and 50 ms each on two.
BATCH_THREADS = max(1, min(4, (os.cpu_count() or 1) // 2))
# Passage batches (indexing) are long texts and do scale: 96 eval paragraphs embedded at 12 per
# second on one thread and 22 per second on two (same run, 2-core machine).
PASSAGE_THREADS = max(1, min(8, os.cpu_count() or 1))


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


class Encoder:
    """Turns questions and passages into L2-normalised float32 vectors with the model's prompts."""

    def __init__(
        self,
        model: str,
        *,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        batch_size: int = 32,
    ) -> None:
        self.model = model
        self.model_id = model_identity(model)
        self.batch_size = batch_size
        self._query_prompt = query_prompt
        self._passage_prompt = passage_prompt
        self._st: Any = None
        self._torch: Any = None
        self._prompts: dict[str, str] | None = None

    def _load(self) -> Any:
        """Load the model once, on first use."""
        if self._st is not None:
            return self._st
        try:
            import torch
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            # The "Loading weights" progress bar is noise in CLI output and logs.
            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
            st = SentenceTransformer(self.model, device="cpu")
            self._torch = torch
        except Exception as error:
            raise ModelUnavailable(unavailable_message(self.model, error), model=self.model) from error
        configured = {k: v for k, v in (getattr(st, "prompts", None) or {}).items() if isinstance(v, str)}
        self._prompts = resolve_prompts(self.model_id, configured, self._query_prompt, self._passage_prompt)
        log.info("loaded embedding model %s (prompts %r)", self.model_id, self._prompts)
        self._st = st
        return st

    @property
    def dimension(self) -> int:
        """Return the vector dimension."""
        st = self._load()
        get = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        return int(get())

    @property
    def prompts(self) -> dict[str, str]:
        """Return the prompts prefixed to questions ("query") and passages ("passage")."""
        self._load()
        assert self._prompts is not None
        return dict(self._prompts)

    def _encode(self, texts: Sequence[str], kind: str) -> Matrix:
        """Encode texts with the prompt of kind, normalised float32 (n, d)."""
        st = self._load()
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # One question: one thread. On a shared 2-core machine a single query took 24 ms with one
        # thread and 360 ms with two (threads wait on each other).
        batch_threads = PASSAGE_THREADS if kind == "passage" else BATCH_THREADS
        self._torch.set_num_threads(1 if len(texts) <= SINGLE_THREAD_MAX else batch_threads)
        vectors = st.encode(
            list(texts),
            prompt=self.prompts[kind],
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def encode_queries(self, texts: Sequence[str]) -> Matrix:
        """Encode questions with the query prompt."""
        return self._encode(texts, "query")

    def encode_passages(self, texts: Sequence[str]) -> Matrix:
        """Encode passages with the passage prompt."""
        return self._encode(texts, "passage")

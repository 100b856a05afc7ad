"""The retrieval contract: what search and reindex need from an index, whatever engine holds it.

Vectors in, (id, score) out, in the spirit of txtai's ``ann/``. A backend keeps generations: the
live one answers queries; a reindex opens a new one on top of it, upserts and deletes passages,
and commits it (it becomes live, the one before it stays for `rollback`) or leaves it (nothing
changes). How a backend stores generations (directories and symlinks, collections and aliases),
its dense index (FAISS, HNSW in a server) and its lexical statistics (bm25s files, a server's own
IDF) is its business: nothing above this module names them. ``embeddings.local`` is the backend
on local files (FAISS + bm25s), ``embeddings.qdrant`` the one in a Qdrant engine. A question costs
one `IndexReader.pools` call: both candidate pools with the calibrated fused score, which the local
backend adds up itself and an engine that keeps its own statistics computes on the server in one
round trip; caps, folding and highlights above are the same for every backend.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from embeddings.manifest import Encoding, Manifest, mismatch
from embeddings.models import Headline, Passage
from embeddings.page_table import PageRecord

Vector = npt.NDArray[np.float32]  # one L2-normalised vector, shape (d,)
Matrix = npt.NDArray[np.float32]  # rows of L2-normalised vectors, shape (n, d)
Ids = npt.NDArray[np.int64]  # passage ids (embeddings.ids.passage_id)
Scores = npt.NDArray[np.float64]  # one score per id (float64: float32 cosines convert exactly)


@dataclass(frozen=True)
class Scored:
    """Passage ids with one score each, best first (ties by index order)."""

    ids: Ids
    scores: Scores

    def __len__(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True)
class Fusion:
    """The calibrated weighted sum: cosine + lexical_weight * coverage - caption_penalty * [caption]."""

    lexical_weight: float
    caption_penalty: float


@dataclass(frozen=True)
class Pool:
    """One query's candidates: the union of its dense and lexical pools, best fused score first."""

    ids: Ids
    cosines: Scores  # the exact cosine of each (also for passages only the lexical pool found)
    coverage: Scores  # lexical coverage in [0, 1] (0: no shared token, or no lexical query)
    fused: Scores  # the Fusion of both, as the engine computed it (ties by id)
    passages: Mapping[int, Passage]  # the candidates' passages

    def __len__(self) -> int:
        return int(self.ids.shape[0])


class TextEncoder(Protocol):
    """Turns questions and passages into L2-normalised float32 vectors (embeddings.encoder, .hashing)."""

    @property
    def model_id(self) -> str:
        """Return the id recorded in the manifest: vectors of other ids never mix."""
        ...

    @property
    def dimension(self) -> int:
        """Return the vector dimension."""
        ...

    @property
    def prompts(self) -> dict[str, str]:
        """Return the prefixes of questions ("query") and passages ("passage")."""
        ...

    @property
    def batch_size(self) -> int:
        """Return how many passages one model call takes."""
        ...

    @property
    def backend(self) -> str:
        """Return the runtime that computes the vectors (torch, openvino, hashing), for the manifest."""
        ...

    @property
    def precision(self) -> str:
        """Return the precision it runs at (fp32, bf16, int8), for the manifest."""
        ...

    @property
    def family(self) -> str:
        """Return which vectors may share an index with this encoder's (manifest.vector_family)."""
        ...

    def for_index(self, setting: str) -> TextEncoder:
        """Return the encoder for an index built with this encoder setting (an automatic one follows it)."""
        ...

    def for_new_index(self) -> TextEncoder:
        """Return the encoder a new index is built with (an automatic one chooses by the CPU)."""
        ...

    def encode_queries(self, texts: Sequence[str]) -> Matrix:
        """Encode questions, one row each."""
        ...

    def encode_passages(self, texts: Sequence[str]) -> Matrix:
        """Encode passages, one row each."""
        ...

    def encode_sentences(self, texts: Sequence[str]) -> Matrix:
        """Encode a hit's sentences like passages, on the question path's thread budget (highlights)."""
        ...


def encoder_mismatch(manifest: Manifest, encoder: TextEncoder) -> str:
    """Return why this encoder cannot query the index's vectors, or "" when it can."""
    # The model and encoder come first: the prompts and dimension of a real model need it loaded.
    return mismatch(manifest, encoder.model_id, None, None, encoder.family) or mismatch(
        manifest, encoder.model_id, encoder.dimension, encoder.prompts
    )


class DenseSearch(Protocol):
    """Nearest passages by inner product of normalised vectors (cosine): the local reader's dense part."""

    def dense(self, queries: Matrix, k: int) -> list[Scored]:
        """Return, per query row, up to k passages with their cosines, best first."""
        ...

    def cosines(self, query: Vector, ids: Sequence[int]) -> Scored:
        """Return the exact cosine of query with each known passage of ids, in the order given."""
        ...


class LexicalSearch(Protocol):
    """Passages sharing words with a query, scored by coverage: BM25 / the most the query can score."""

    def lexical(self, query: str, k: int) -> Scored:
        """Return up to k passages sharing a token with query, coverage in (0, 1], best first."""
        ...

    def lexical_scores(self, query: str, ids: Sequence[int]) -> Scored:
        """Return query's coverage of each known passage of ids (0 when none), in the order given."""
        ...


class IndexReader(Protocol):
    """One committed generation, opened for queries (nothing corpus-wide need be held in memory)."""

    def pools(self, queries: Matrix, lexical: Sequence[str], k: int, fusion: Fusion) -> list[Pool]:
        """Return per query row the union of its top k by cosine and top k by coverage of lexical[row].

        An empty lexical query asks for the dense pool alone. Every candidate comes with its exact
        cosine, its coverage and the fused score, in one round trip to the engine.
        """
        ...

    def passage(self, passage_id: int) -> Passage | None:
        """Return the passage with this id, if indexed."""
        ...

    def page(self, doc: str) -> Sequence[Passage]:
        """Return a page's passages in page order (empty when it is not indexed)."""
        ...

    def headlines(self, n: int) -> tuple[Headline, ...]:
        """Return the headlines of the n newest pages (undated last)."""
        ...

    def date_range(self) -> tuple[str | None, str | None]:
        """Return the oldest and newest page date (None when no page is dated)."""
        ...


class EmbeddingScratch(Protocol):
    """Vectors a reindex has embedded so far, kept so that a killed run's successor need not redo them."""

    def load(self) -> dict[int, Vector]:
        """Return the kept vectors by passage id."""
        ...

    def save(self, ids: Ids, vectors: Matrix) -> None:
        """Keep one chunk of vectors."""
        ...


class GenerationWriter(Protocol):
    """A new generation being built on the live one (or from nothing); the reindex lock is held."""

    @property
    def base(self) -> Manifest | None:
        """Return the manifest of the generation this one starts from (None: it starts empty)."""
        ...

    def base_passages(self, docs: Collection[str] | None = None) -> Sequence[Passage]:
        """Return the base generation's passages of the pages docs (all for None), in page order.

        A backend that writes in place returns every passage stored under those pages, a killed
        run's included, so the reindex deletes what a fresh build would not hold.
        """
        ...

    def base_fingerprints(self) -> Mapping[str, str]:
        """Return each base page's text fingerprint (embeddings.page_diff.page_fingerprints)."""
        ...

    def base_vectors(self, ids: Sequence[int]) -> Matrix:
        """Return the base generation's vectors of the given passage ids, in the order given."""
        ...

    def scratch(self, encoding: Encoding) -> EmbeddingScratch:
        """Return the interrupted-run vectors of this encoding (another encoding's are discarded)."""
        ...

    def delete(self, ids: Sequence[int]) -> None:
        """Remove passages from the new generation."""
        ...

    def upsert(self, passages: Sequence[Passage], vectors: Matrix) -> None:
        """Add passages (or replace those with the same id) with their vectors, rows in passage order."""
        ...

    def commit(
        self,
        pages: Mapping[str, PageRecord],
        encoding: Encoding,
        source: str,
        calibration: Mapping[str, Any] | None = None,
    ) -> Manifest:
        """Make the new generation live, with the calibration record that ranks it; return its manifest.

        A new generation keeps the old one for rollback; an engine that updates its live generation
        in place writes the upserts, then the deletes, then the page records.
        """
        ...


class IndexStore(Protocol):
    """Where generations live: the live one to read, a new one to write, the previous one to return to."""

    @property
    def location(self) -> str:
        """Return where the store is, for messages."""
        ...

    def live(self) -> str | None:
        """Return the name of the live generation, or None when there is none (cheap: poll it)."""
        ...

    def manifest(self, generation: str | None = None) -> Manifest:
        """Return a generation's manifest (the live one by default); raises IndexMissing or IndexCorrupt."""
        ...

    def open(self, generation: str | None = None) -> IndexReader:
        """Open a generation (the live one by default) for queries; raises IndexMissing or IndexCorrupt."""
        ...

    def begin(self, *, fresh: bool = False) -> AbstractContextManager[GenerationWriter]:
        """Lock the store and start a generation on the live one (fresh: on nothing); raises IndexBusy.

        Leaving the block without commit discards the new generation and leaves the live one serving.
        """
        ...

    def rollback(self, check: Callable[[Manifest], None] | None = None) -> Manifest:
        """Make the previous generation live again and return its manifest; raises IndexMissing.

        check(the previous generation's manifest) runs under the lock and may raise to refuse it.
        """
        ...

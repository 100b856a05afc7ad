"""The two ways to give Qdrant OUR lexical tokens, compared with the local bm25s on the same passages.

sparse: a sparse vector per passage (hashed tokens, BM25 tf part as values, Modifier.IDF); the
        question is a sparse vector of its distinct tokens. Used by embeddings/qdrant.
text:   a payload field of space-joined tokens with a text index (word tokenizer, scoring on) and a
        BM25 TextQuery of the question's tokens (k1 1.5, b 0.75 per query).
For each question: does the option return the same top-10 as bm25s, and how far are its scores
(each divided by its maximum, so the two BM25 variants' constant factors cancel)?
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

from bench.qdrant_parity import load_questions, ms


def build(passages: list[Any]) -> Any:
    """Return an in-memory Qdrant holding both representations of the passages."""
    from qdrant_client import QdrantClient, models

    from embeddings.qdrant.points import LEXICAL, average_length, document_terms
    from embeddings.tokens import tokenize

    client = QdrantClient(":memory:")
    client.create_collection(
        "sparse",
        vectors_config={},
        sparse_vectors_config={LEXICAL: models.SparseVectorParams(modifier=models.Modifier.IDF)},
    )
    client.create_collection("text", vectors_config={})
    client.create_payload_index(
        "text",
        "tokens",
        field_schema=models.TextIndexParams(type=models.TextIndexType.TEXT, scoring=True, lowercase=True),
    )
    avgdl = average_length([p.text for p in passages])
    sparse, text = [], []
    for p in passages:
        tokens = tokenize(p.text)
        terms = document_terms(tokens, avgdl)
        vector = models.SparseVector(indices=list(terms.indices), values=list(terms.values))
        sparse.append(models.PointStruct(id=p.id, vector={LEXICAL: vector}, payload={}))
        text.append(models.PointStruct(id=p.id, vector={}, payload={"tokens": " ".join(tokens)}))
    for name, points in (("sparse", sparse), ("text", text)):
        started = time.monotonic()
        for start in range(0, len(points), 256):
            client.upsert(name, points=points[start : start + 256], wait=True)
        print(f"{name:6} upsert {len(points)} points in {time.monotonic() - started:.1f}s")
    return client


def top(client: Any, option: str, question: str) -> list[tuple[int, float]]:
    """Return the option's top-10 (id, score) for a question."""
    from qdrant_client import models

    from embeddings.qdrant.points import LEXICAL, query_terms
    from embeddings.tokens import tokenize

    tokens = tokenize(question)
    if option == "sparse":
        terms = query_terms(tokens)
        query: Any = models.SparseVector(indices=list(terms.indices), values=list(terms.values))
        points = client.query_points("sparse", query=query, using=LEXICAL, limit=10).points
    else:
        scoring = models.Bm25Scoring(bm25=models.Bm25Params(k=1.5, b=0.75))
        query = models.TextQuery(text=models.TextQueryInput(query=" ".join(tokens), scoring=scoring))
        points = client.query_points("text", query=query, using="tokens", limit=10).points
    return [(int(p.id), float(p.score)) for p in points]


def compare(args: argparse.Namespace) -> None:
    """Print, per option, top-10 agreement with bm25s, score error and latency."""
    from bench.qdrant_parity import local_subset

    local = local_subset(args)[3]
    passages = list(local.index.passages)
    docs = {p.doc for p in passages}
    questions = [q for q in load_questions() if q["doc"] in docs][: args.limit or 300]
    client = build(passages)
    for option in ("sparse", "text"):
        same, errors, seconds = 0, [], []
        for q in questions:
            found = local.index.lexical(q["question"], 10)
            scores, want = found.scores, found.ids
            started = time.monotonic()
            got = top(client, option, q["question"])
            seconds.append(time.monotonic() - started)
            if [i for i, _ in got] == want.tolist():
                same += 1
                if got:
                    mine = np.array([s for _, s in got]) / got[0][1]
                    errors.append(float(np.max(np.abs(mine - scores / scores[0]))))
        print(
            f"{option:6} {len(questions)} questions: same top-10 as bm25s {same / len(questions):.1%}; "
            f"max relative score error median {statistics.median(errors or [0]):.2e}, "
            f"max {max(errors or [0]):.2e}; {ms(seconds)}",
            flush=True,
        )

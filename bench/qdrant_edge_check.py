"""Lexical scores of Qdrant's in-process mode against its Rust engine (qdrant-edge-py), around deletes.

usage: PYTHONPATH=.:<dir with qdrant-edge-py 0.9.0> bench/qdrant_edge_check.py [--cache DIR] [--fraction F]

qdrant-edge-py is not a project dependency (`pip install --target DIR qdrant-edge-py==0.9.0`). Both
engines get the same IDF sparse vectors (embeddings/qdrant/points.py) of the parity subset's passages
and the same question vectors; the script prints the largest score difference over every question's
top 10, then deletes a tenth of the passages and compares again (before and after the engine's
optimiser runs). Measured: the two agree to 4e-7 on the same corpus; after deletes the Rust engine
still counts the deleted points in its idf (it matches in-process mode with them filtered out but
present), while in-process mode drops them at once.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.qdrant_parity import load_questions


def engines(passages: list[Any], work: Path) -> tuple[Any, Any]:
    """Return (in-process client, edge shard) holding the same sparse vectors."""
    import qdrant_edge as edge
    from qdrant_client import QdrantClient, models

    from embeddings.qdrant.points import LEXICAL, average_length, document_terms
    from embeddings.tokens import tokenize

    client = QdrantClient(":memory:")
    params = models.SparseVectorParams(modifier=models.Modifier.IDF)
    client.create_collection("c", vectors_config={}, sparse_vectors_config={LEXICAL: params})
    shutil.rmtree(work / "edge", ignore_errors=True)
    config = edge.EdgeConfig(
        sparse_vectors={LEXICAL: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf)}
    )
    shard = edge.EdgeShard.create(str(work / "edge"), config)
    avgdl = average_length([p.text for p in passages])
    terms = [document_terms(tokenize(p.text), avgdl) for p in passages]
    client.upsert(
        "c",
        points=[
            models.PointStruct(
                id=p.id, vector={LEXICAL: models.SparseVector(indices=list(t.indices), values=list(t.values))}
            )
            for p, t in zip(passages, terms, strict=True)
        ],
    )
    shard.update(
        edge.UpdateOperation.upsert_points(
            [
                edge.Point(p.id, {LEXICAL: edge.SparseVector(list(t.indices), list(t.values))})
                for p, t in zip(passages, terms, strict=True)
            ]
        )
    )
    return client, shard


def worst(
    client: Any, shard: Any, questions: list[str], hidden: list[int] | None = None
) -> tuple[float, int]:
    """Return the largest relative score difference over every top 10, and how many top-10 sets differ."""
    import qdrant_edge as edge
    from qdrant_client import models

    from embeddings.qdrant.points import LEXICAL, query_terms
    from embeddings.tokens import tokenize

    largest, differ = 0.0, 0
    # hidden: points filtered out of the results but still counted in the in-process idf.
    only = models.Filter(must_not=[models.HasIdCondition(has_id=list[Any](hidden))]) if hidden else None
    for question in questions:
        t = query_terms(tokenize(question))
        vector = models.SparseVector(indices=list(t.indices), values=list(t.values))
        mine = client.query_points("c", query=vector, using=LEXICAL, limit=10, query_filter=only).points
        query = edge.Query.Nearest(edge.SparseVector(list(t.indices), list(t.values)), using=LEXICAL)
        theirs = shard.query(edge.QueryRequest(limit=10, query=query))
        a = {int(p.id): p.score for p in mine}
        b = {int(p.id): p.score for p in theirs}
        differ += set(a) != set(b)
        largest = max([largest, *(abs(a[i] - b[i]) / max(abs(b[i]), 1e-9) for i in a.keys() & b.keys())])
    return f"largest relative difference {largest:.2e}, top-10 sets differing {differ}"


def main() -> None:
    """Compare, delete a tenth, compare again."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, default=Path("/tmp/b1/quality"))
    parser.add_argument("--fraction", type=float, default=0.05)
    args = parser.parse_args()
    import qdrant_edge as edge

    from bench.qdrant_parity import local_subset

    work, _, _, local = local_subset(args)
    passages = list(local.index.passages)
    docs = {p.doc for p in passages}
    questions = [q["question"] for q in load_questions() if q["doc"] in docs][:200]
    client, shard = engines(passages, work)
    print(f"{len(passages)} passages, {len(questions)} questions")
    print("same corpus:", worst(client, shard, questions))
    doomed = [p.id for p in passages[::10]]
    shard.update(edge.UpdateOperation.delete_points(doomed))
    print(f"edge after deleting {len(doomed)} vs in-process with them hidden but counted:", end=" ")
    print(worst(client, shard, questions, doomed))
    client.delete("c", points_selector=doomed)
    print(f"after deleting {len(doomed)} from both:", worst(client, shard, questions))
    shard.optimize()
    print("after the edge optimiser:", worst(client, shard, questions))


if __name__ == "__main__":
    main()

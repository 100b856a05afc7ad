"""Generations as Qdrant collections: the `<prefix>` alias serves, `<prefix>-previous` is for rollback.

A full rebuild writes `<prefix>-<stamp>` (passages) and `<prefix>-<stamp>-pages` (one point per page,
the manifest of what is indexed), then moves both aliases in one `update_collection_aliases` call,
which Qdrant applies atomically. A collection no alias names is a leftover of a killed run; the next
run deletes it (the caller holds the reindex lock, so no other writer is building one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from embeddings.errors import IndexMissing

log = logging.getLogger(__name__)

PAGES_SUFFIX = "-pages"
PREVIOUS_SUFFIX = "-previous"


@dataclass(frozen=True)
class Layout:
    """Where a deployment's collections live and how new ones are created."""

    prefix: str = "quotebot"
    shards: int = 1
    replicas: int = 1

    @property
    def live(self) -> str:
        """Return the alias questions are answered from."""
        return self.prefix

    @property
    def previous(self) -> str:
        """Return the alias `index --rollback` returns to."""
        return self.prefix + PREVIOUS_SUFFIX

    def new_name(self) -> str:
        """Return a fresh, time-ordered collection name."""
        return f"{self.prefix}-{datetime.now(UTC).strftime('%Y%m%dt%H%M%S%f')}"

    def owns(self, collection: str) -> bool:
        """Return whether a collection is one of this prefix's generations."""
        stem = collection.removeprefix(self.prefix + "-").removesuffix(PAGES_SUFFIX)
        return collection.startswith(self.prefix + "-") and stem[:8].isdigit() and "t" in stem


def aliases(client: Any, layout: Layout) -> dict[str, str]:
    """Return {alias: collection} for this layout's aliases."""
    mine = {layout.live, layout.previous, layout.live + PAGES_SUFFIX, layout.previous + PAGES_SUFFIX}
    return {a.alias_name: a.collection_name for a in client.get_aliases().aliases if a.alias_name in mine}


def live_collection(client: Any, layout: Layout) -> str:
    """Return the collection the live alias names; raises IndexMissing when there is none."""
    name = aliases(client, layout).get(layout.live)
    if name is None:
        raise IndexMissing(f"no Qdrant collection is aliased {layout.live!r}; build the index first")
    return name


def switch(client: Any, layout: Layout, collection: str) -> str | None:
    """Make collection live and the live one previous, atomically; return the one that was live."""
    from qdrant_client import models

    now = aliases(client, layout)
    before = now.get(layout.live)
    actions: list[Any] = []
    pairs = [(layout.live, collection)]
    if before is not None and before != collection:
        pairs.append((layout.previous, before))
    for alias, target in pairs:
        for suffix in ("", PAGES_SUFFIX):
            if alias + suffix in now:
                actions.append(
                    models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias + suffix))
                )
            actions.append(
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(
                        collection_name=target + suffix, alias_name=alias + suffix
                    )
                )
            )
    client.update_collection_aliases(change_aliases_operations=actions)
    log.info("Qdrant alias %s now names %s (previous: %s)", layout.live, collection, before)
    return before


def previous_collection(client: Any, layout: Layout) -> str:
    """Return the collection the previous alias names; raises IndexMissing when there is none."""
    before = aliases(client, layout).get(layout.previous)
    if before is None:
        raise IndexMissing(f"no Qdrant collection is aliased {layout.previous!r} to roll back to")
    return before


def rollback(client: Any, layout: Layout) -> str:
    """Make the previous collection live again (the live one becomes previous); return its name."""
    before = previous_collection(client, layout)
    switch(client, layout, before)
    return before


def metadata(client: Any, name: str) -> dict[str, Any]:
    """Return the metadata of a collection ({} when it has none)."""
    return dict(client.get_collection(name).config.metadata or {})


def prune(client: Any, layout: Layout) -> list[str]:
    """Delete this prefix's collections no alias names (older generations, killed builds)."""
    kept = set(aliases(client, layout).values())
    gone = []
    for description in client.get_collections().collections:
        name = description.name
        if layout.owns(name) and name not in kept:
            client.delete_collection(name)
            gone.append(name)
    if gone:
        log.info("deleted Qdrant collections no alias names: %s", ", ".join(sorted(gone)))
    return gone


def create(client: Any, layout: Layout, name: str, dimension: int, metadata: dict[str, Any]) -> None:
    """Create an empty generation: passages (dense cosine + IDF sparse) and its page records."""
    from qdrant_client import models

    from embeddings.qdrant.points import DENSE, LEXICAL

    spread = {"shard_number": layout.shards, "replication_factor": layout.replicas}
    client.create_collection(
        name,
        vectors_config={DENSE: models.VectorParams(size=dimension, distance=models.Distance.COSINE)},
        sparse_vectors_config={LEXICAL: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        metadata=metadata,
        **spread,
    )
    for field, schema in (
        ("doc", models.PayloadSchemaType.KEYWORD),
        ("kind", models.PayloadSchemaType.KEYWORD),
    ):
        client.create_payload_index(name, field, field_schema=schema)
    client.create_collection(name + PAGES_SUFFIX, vectors_config={}, **spread)
    client.create_payload_index(name + PAGES_SUFFIX, "date", field_schema=models.PayloadSchemaType.KEYWORD)

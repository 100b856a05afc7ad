"""Small records every replica shares through Qdrant: `<prefix>-buttons`, one point (no vectors) per key."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

BUTTONS_SUFFIX = "-buttons"


def point_id(key: str) -> int:
    """Return the point id of a key (a stable positive 63-bit hash)."""
    return (
        int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") & 0x7FFF_FFFF_FFFF_FFFF
    )


class SharedRecords:
    """Payloads by key in one vectorless collection; each has a numeric `created` field for pruning."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.collection = prefix + BUTTONS_SUFFIX
        if not client.collection_exists(self.collection):
            client.create_collection(self.collection, vectors_config={})

    def put(self, key: str, payload: Mapping[str, Any]) -> None:
        """Store payload under key (the key is kept in it, so a hash collision is never read as a hit)."""
        from qdrant_client import models

        point = models.PointStruct(id=point_id(key), payload={**payload, "key": key}, vector={})
        self.client.upsert(self.collection, points=[point], wait=True)

    def get(self, key: str) -> dict[str, Any] | None:
        """Return the payload stored under key, or None."""
        points = self.client.retrieve(self.collection, ids=[point_id(key)], with_payload=True)
        if not points or points[0].payload.get("key") != key:
            return None
        return dict(points[0].payload)

    def prune(self, created_before: float) -> int:
        """Delete the records created before a time; return how many went."""
        from qdrant_client import models

        cutoff = models.Filter(
            must=[models.FieldCondition(key="created", range=models.Range(lt=created_before))]
        )
        gone = int(self.client.count(self.collection, count_filter=cutoff, exact=True).count)
        if gone:
            self.client.delete(
                self.collection, points_selector=models.FilterSelector(filter=cutoff), wait=True
            )
        return gone

"""Bot state for several replicas: button keys live in Qdrant, counters and facts stay per replica.

A "more" or example-question button carries a key; with the Qdrant backend the question it stands
for is stored as a point of `<prefix>-buttons` (no vectors), so whichever replica receives the press
can answer it. The answered counter and the last-reindex fact remain in the replica's SQLite file:
/status reports them for the replica that answers it.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from bot.state import BUTTON_TTL_SECONDS, BotState, QuestionRef, button_key

BUTTONS_SUFFIX = "-buttons"


def _point_id(key: str) -> int:
    """Return the point id of a button key (a stable positive 63-bit hash)."""
    return (
        int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big") & 0x7FFF_FFFF_FFFF_FFFF
    )


class SharedState(BotState):
    """BotState whose button keys are shared through a Qdrant collection."""

    def __init__(self, path: Path | str, client: Any, prefix: str) -> None:
        super().__init__(path)
        self._client = client
        self.collection = prefix + BUTTONS_SUFFIX
        if not client.collection_exists(self.collection):
            client.create_collection(self.collection, vectors_config={})

    def remember(self, question: str, offset: int = 0) -> str:
        """Store a question at an offset in Qdrant and return the key a button carries."""
        from qdrant_client import models

        key = button_key(question, offset)
        payload = {"key": key, "question": question, "offset": offset, "created": time.time()}
        point = models.PointStruct(id=_point_id(key), payload=payload, vector={})
        self._client.upsert(self.collection, points=[point], wait=True)
        return key

    def recall(self, key: str) -> QuestionRef | None:
        """Return the question a button key stands for, asked of Qdrant (None when unknown or expired)."""
        points = self._client.retrieve(self.collection, ids=[_point_id(key)], with_payload=True)
        if not points or points[0].payload.get("key") != key:
            return None
        payload = points[0].payload
        if time.time() - float(payload["created"]) > BUTTON_TTL_SECONDS:
            return None
        return QuestionRef(question=str(payload["question"]), offset=int(payload["offset"]))

    def prune(self) -> int:
        """Drop expired button keys; return how many went."""
        from qdrant_client import models

        cutoff = models.Filter(
            must=[
                models.FieldCondition(key="created", range=models.Range(lt=time.time() - BUTTON_TTL_SECONDS))
            ]
        )
        gone = int(self._client.count(self.collection, count_filter=cutoff, exact=True).count)
        if gone:
            self._client.delete(
                self.collection, points_selector=models.FilterSelector(filter=cutoff), wait=True
            )
        return gone

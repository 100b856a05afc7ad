"""Bot state for several replicas: button keys live in Qdrant, counters and facts stay per replica.

A "more" or example-question button carries a key; with the Qdrant backend the question it stands
for is stored in `<prefix>-buttons` (embeddings.qdrant.buttons), so whichever replica receives the
press can answer it. The answered counter and the last-reindex fact remain in the replica's SQLite
file: /status reports them for the replica that answers it.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bot.state import BUTTON_TTL_SECONDS, BotState, QuestionRef, button_key


class SharedState(BotState):
    """BotState whose button keys are shared through a Qdrant collection."""

    def __init__(self, path: Path | str, client: Any, prefix: str) -> None:
        from embeddings.qdrant.buttons import SharedRecords

        super().__init__(path)
        self._records = SharedRecords(client, prefix)
        self.collection = self._records.collection

    def remember(self, question: str, offset: int = 0) -> str:
        """Store a question at an offset in Qdrant and return the key a button carries."""
        key = button_key(question, offset)
        self._records.put(key, {"question": question, "offset": offset, "created": time.time()})
        return key

    def recall(self, key: str) -> QuestionRef | None:
        """Return the question a button key stands for, asked of Qdrant (None when unknown or expired)."""
        payload = self._records.get(key)
        if payload is None or time.time() - float(payload["created"]) > BUTTON_TTL_SECONDS:
            return None
        return QuestionRef(question=str(payload["question"]), offset=int(payload["offset"]))

    def prune(self) -> int:
        """Drop expired button keys; return how many went."""
        return self._records.prune(time.time() - BUTTON_TTL_SECONDS)

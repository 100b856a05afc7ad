"""The bot's small persistent state in SQLite: button keys, the answered counter, the last reindex."""

from __future__ import annotations

import base64
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Buttons older than this answer "expired"; Telegram keeps messages forever, we do not.
BUTTON_TTL_SECONDS = 90 * 24 * 3600
MAX_BUTTONS = 200_000
PRUNE_EVERY = 1_000  # new keys between prunes while the bot runs, so the table stays bounded

_SCHEMA = """
CREATE TABLE IF NOT EXISTS buttons (
    key TEXT PRIMARY KEY, question TEXT NOT NULL, offset INTEGER NOT NULL, created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS buttons_created ON buttons(created);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS facts (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class QuestionRef:
    """A question and the offset of the results a button asks for."""

    question: str
    offset: int


def button_key(question: str, offset: int) -> str:
    """Return the short stable key (16 base64url characters) of a question at an offset."""
    digest = hashlib.blake2b(f"{offset}\x00{question}".encode(), digest_size=12).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


class BotState:
    """SQLite-backed state that survives restarts; safe to use from any thread."""

    def __init__(
        self, path: Path | str, *, max_buttons: int = MAX_BUTTONS, prune_every: int = PRUNE_EVERY
    ) -> None:
        self.max_buttons = max_buttons
        self.prune_every = prune_every
        self._added = 0  # keys stored since the last prune
        if str(path) != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def add_tables(self, schema: str) -> None:
        """Create a feature's tables in the state database when missing (CREATE ... IF NOT EXISTS)."""
        with self._lock:
            self._db.executescript(schema)

    @contextmanager
    def transaction(self) -> Iterator[Callable[..., list[tuple[Any, ...]]]]:
        """Yield run(sql, params) for statements that commit together when the block ends, or not at all."""

        def run(sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
            return self._db.execute(sql, params).fetchall()

        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")  # another process (quotebot poll) may write the same file
            try:
                yield run
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def remember(self, question: str, offset: int = 0) -> str:
        """Store a question at an offset and return the key a button carries (pruning now and then)."""
        key = button_key(question, offset)
        now = time.time()
        with self._lock:
            self._db.execute(
                "INSERT INTO buttons(key, question, offset, created) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET created = excluded.created",
                (key, question, offset, now),
            )
            self._added += 1
            if self._added >= self.prune_every:
                self._prune_locked()
        return key

    def buttons(self) -> int:
        """Return how many button keys are stored."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM buttons").fetchone()[0])

    def recall(self, key: str) -> QuestionRef | None:
        """Return the question a button key stands for, or None when unknown or expired."""
        with self._lock:
            row = self._db.execute(
                "SELECT question, offset, created FROM buttons WHERE key = ?", (key,)
            ).fetchone()
        if row is None or time.time() - row[2] > BUTTON_TTL_SECONDS:
            return None
        return QuestionRef(question=row[0], offset=int(row[1]))

    def prune(self) -> int:
        """Drop expired button keys (and the oldest beyond max_buttons); return how many went."""
        with self._lock:
            return self._prune_locked()

    def _prune_locked(self) -> int:
        self._added = 0
        cutoff = time.time() - BUTTON_TTL_SECONDS
        gone = self._db.execute("DELETE FROM buttons WHERE created < ?", (cutoff,)).rowcount
        gone += self._db.execute(
            "DELETE FROM buttons WHERE key IN (SELECT key FROM buttons ORDER BY created DESC "
            "LIMIT -1 OFFSET ?)",
            (self.max_buttons,),
        ).rowcount
        return gone

    def count(self, name: str, by: int = 1) -> None:
        """Add to a named counter."""
        with self._lock:
            self._db.execute(
                "INSERT INTO counters(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = value + excluded.value",
                (name, by),
            )

    def counter(self, name: str) -> int:
        """Return a named counter (0 when never counted)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def put_fact(self, name: str, value: object) -> None:
        """Store a small JSON-serialisable fact under a name."""
        with self._lock:
            self._db.execute(
                "INSERT INTO facts(name, value) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (name, json.dumps(value, ensure_ascii=False)),
            )

    def fact(self, name: str) -> object | None:
        """Return a stored fact, or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM facts WHERE name = ?", (name,)).fetchone()
        return json.loads(row[0]) if row else None

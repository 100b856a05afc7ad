"""Example questions for /start: curated ones from the corpus, then headlines, each checked to answer."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bot.telegram.runtime import Runtime
from embeddings.models import Answer

EXAMPLE_COUNT = 3
EXAMPLES_FILE = "examples.json"  # curated example questions shipped with a corpus


def curated_examples(corpus_dir: Path) -> list[str]:
    """Return the questions of corpus_dir/examples.json (a list of {"question": ...}), if any."""
    try:
        entries = json.loads((corpus_dir / EXAMPLES_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    if not isinstance(entries, list):
        return []
    return [
        e["question"].strip() for e in entries if isinstance(e, dict) and isinstance(e.get("question"), str)
    ]


async def examples_for(rt: Runtime) -> tuple[str, ...]:
    """Return up to three example questions the current index really answers (cached per index).

    Curated questions from the corpus's examples.json come first; headlines of the newest articles
    (which find their own article) fill the rest. Each is asked before it is offered.
    """

    def derive() -> tuple[str, tuple[str, ...]]:
        searcher = rt.live.current
        key = searcher.stats.created
        if key in rt.examples:
            return key, rt.examples[key]
        candidates = curated_examples(rt.settings.corpus_dir)
        candidates += [h.title.strip() for h in searcher.headlines(4 * EXAMPLE_COUNT)]
        unique = list(dict.fromkeys(q for q in candidates if q))
        # One batched encode for all candidates instead of a model call per question.
        answers = searcher.search_many(unique)
        found = [q for q, a in zip(unique, answers, strict=True) if isinstance(a, Answer) and a.answered]
        return key, tuple(found[:EXAMPLE_COUNT])

    key, found = await asyncio.to_thread(derive)
    rt.examples = {key: found}
    return found

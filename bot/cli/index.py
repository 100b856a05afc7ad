"""`quotebot index` (build, update or roll back the index) and `quotebot search` (ask from the shell)."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from bot.cli.streams import stdout_for_data
from bot.config import TEST_ENCODER, Settings
from embeddings.models import citation

if TYPE_CHECKING:
    from embeddings.backend import TextEncoder
    from embeddings.errors import BadQuestion
    from embeddings.models import Answer, Hit, ReindexProgress, ReindexReport
    from embeddings.reranker import Reranker
    from embeddings.search import Searcher

log = logging.getLogger(__name__)

# Questions embedded per model call in --jsonl mode: large enough to batch, small enough to stream.
JSONL_CHUNK = 64
# Seconds between plain progress lines when stderr is not a terminal.
LOG_EVERY = 5.0
EXAMPLE = '"谁宣布了这项政策？"'
# One --jsonl input line: (its id, any JSON value echoed back; the question; what is wrong with it).
Request = tuple[object, str | None, str | None]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the index and search subcommands."""
    index = subparsers.add_parser(
        "index",
        help="build or update the index (incremental: only new and changed pages are embedded)",
        description="Build or update the index of CORPUS_DIR. Only new and changed pages are parsed and "
        "embedded, deleted pages are pruned; --full rebuilds everything; --rollback returns to the "
        "previous index.",
    )
    index.add_argument(
        "corpus", nargs="?", metavar="CORPUS_DIR", help="news pages (default QUOTEBOT_CORPUS_DIR)"
    )
    mode = index.add_mutually_exclusive_group()
    mode.add_argument("--full", action="store_true", help="re-embed every page (after changing the model)")
    mode.add_argument("--rollback", action="store_true", help="serve the previous index again")
    index.add_argument("--json", action="store_true", help="print the report as JSON")
    index.set_defaults(func=run_index)

    search = subparsers.add_parser(
        "search",
        help="answer a question with quotes from the index",
        description='Answer QUESTION with verbatim quotes, or with --jsonl read {"id", "question"} lines '
        'from stdin and write {"id", "answered", "hits"} lines.',
    )
    search.add_argument("question", nargs="?", metavar="QUESTION", help="the question (quote it)")
    search.add_argument("--top-k", type=_top_k, help="quotes per answer (default QUOTEBOT_TOP_K)")
    form = search.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print the answer as JSON")
    form.add_argument("--jsonl", action="store_true", help="answer JSON lines from stdin, one JSON line each")
    search.add_argument("--lang", choices=("zh-hans", "zh-hant", "en"), help="language of the plain output")
    search.set_defaults(func=run_search)


def _top_k(value: str) -> int:
    """Parse --top-k: an integer from 1 to 100."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--top-k must be a whole number, not {value!r}") from None
    if not 1 <= number <= 100:
        raise argparse.ArgumentTypeError(f"--top-k must be between 1 and 100, not {number}")
    return number


def make_encoder(settings: Settings, *, serving: bool = False) -> TextEncoder:
    """Return the configured encoder (the model loads on first use).

    A serving process (bot, chat) answers questions while it reindexes: its passages get one core
    fewer, so a /reindex does not slow every question down.
    """
    from embeddings.encoder import Encoder, serving_passage_threads

    if settings.encoder == TEST_ENCODER:
        from embeddings.hashing import HashingEncoder

        return HashingEncoder(batch_size=settings.batch_size)
    return Encoder(
        settings.model,
        encoder=settings.encoder,
        cache_dir=settings.encoder_cache,
        query_prompt=settings.query_prompt,
        passage_prompt=settings.passage_prompt,
        batch_size=settings.batch_size,
        passage_threads=serving_passage_threads() if serving else None,
    )


def make_reranker(settings: Settings, *, serving: bool = False) -> Reranker | None:
    """Return the configured answer verifier, or None for `none`.

    It loads on first use, except in a serving process (bot, chat), which loads it now: a setting
    that cannot load fails at the start, not on every question, and the first question does not pay
    the load (a first OpenVINO conversion takes seconds).
    """
    from embeddings.reranker import CrossEncoderReranker, HashingReranker, resolve

    if settings.reranker.strip().lower() == "hashing":
        return HashingReranker()
    model = resolve(settings.reranker)
    if model is None:
        return None
    reranker = CrossEncoderReranker(model, cache_dir=settings.encoder_cache)
    if serving:
        reranker.load()
    return reranker


# ---------------------------------------------------------------- index


def run_index(args: argparse.Namespace, settings: Settings) -> int:
    """Build, update or roll back the index and print what changed."""
    index_dir = Path(settings.index_dir)
    try:
        return _index(args, settings, index_dir)
    except OSError as exc:  # disk full, read-only directory, a file where the directory should be
        print(f"quotebot: cannot update the index in {index_dir}: {exc}", file=sys.stderr)
        return 2


def _index(args: argparse.Namespace, settings: Settings, index_dir: Path) -> int:
    """Run the index command once the index directory is known."""
    from bot import backends

    if args.rollback:
        print(backends.rollback(settings, make_encoder(settings)))
        return 0
    corpus_dir = Path(args.corpus) if args.corpus else Path(settings.corpus_dir)
    display = ProgressDisplay(sys.stderr)
    with display:
        report = backends.reindex(
            settings, make_encoder(settings), corpus_dir, full=args.full, progress=display
        )
    generation, articles = backends.generation_summary(settings)
    if args.json:
        data = asdict(report) | {"generation": generation, "articles": articles}
        print(json.dumps(data, ensure_ascii=False, indent=1))
    else:
        print(format_report(report, corpus_dir, index_dir, articles))
    return 0


def format_report(report: ReindexReport, corpus_dir: Path, index_dir: Path, articles: int) -> str:
    """Return the human summary of a reindex, one reason per skipped or failed page."""
    first = not (report.unchanged or report.updated or report.removed)
    mode = "full rebuild" if report.full else ("new index" if first else "incremental")
    lines = [
        f"indexed {corpus_dir} into {index_dir} in {report.seconds:.1f} s ({mode})",
        f"  added {report.added}, updated {report.updated}, removed {report.removed}, "
        f"unchanged {report.unchanged}, skipped {report.skipped}, failed {len(report.failed)}",
        f"  now {report.passages:,} passages from {articles:,} articles",
    ]
    lines += [f"  skipped {f.doc}: {f.reason}" for f in report.skipped_reasons]
    lines += [f"  failed  {f.doc}: {f.reason}" for f in report.failed]
    lines += [f"  note    {f.doc}: {f.reason}" for f in report.notes]
    if report.recalibrated:
        lines.append(f"  ranking constants changed: now those recorded for {report.recalibrated}")
    return "\n".join(lines)


def _duration(seconds: float | None) -> str:
    """Return seconds as 1h02m, 3m05s or 42s."""
    if seconds is None:
        return "?"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def progress_line(p: ReindexProgress, rate: float | None) -> str:
    """Return one plain progress line for logs (vectors reused from an earlier run counted apart)."""
    if p.stage == "scan":
        return f"scanned {p.pages_scanned}/{p.pages_total} pages ({p.pages_changed} new or changed)"
    if p.stage == "embed":
        speed = f", {rate:.1f} passages/s" if rate else ""
        eta = f", ETA {_duration(p.eta_seconds)}" if p.eta_seconds is not None else ""
        reused = f" ({p.passages_reused} reused)" if p.passages_reused else ""
        return f"embedded {p.passages_embedded}/{p.passages_total} passages{reused}{speed}{eta}"
    if p.stage == "write":
        reused = f", {p.passages_reused} reused" if p.passages_reused else ""
        return f"writing the index ({p.passages_embedded} passages embedded{reused})"
    return "index done"


class ProgressDisplay:
    """Shows reindex progress: tqdm bars on a terminal, a plain log line every few seconds otherwise."""

    def __init__(self, stream: TextIO, *, tty: bool | None = None) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.bar: Any = None
        self.stage = ""
        self.logged = 0.0
        self.embed_started = 0.0
        self._redirect: contextlib.ExitStack = contextlib.ExitStack()

    def __enter__(self) -> ProgressDisplay:
        if self.tty:
            from tqdm.contrib.logging import logging_redirect_tqdm

            self._redirect.enter_context(logging_redirect_tqdm())
        return self

    def __exit__(self, *exc: object) -> None:
        self._close()
        self._redirect.close()

    def _close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __call__(self, p: ReindexProgress) -> None:
        """Show one progress snapshot."""
        new_stage = p.stage != self.stage
        self.stage = p.stage
        if p.stage == "embed" and new_stage:
            self.embed_started = time.monotonic()
        if self.tty:
            self._bar(p, new_stage)
            return
        now = time.monotonic()
        last_page = p.stage == "scan" and p.pages_scanned == p.pages_total
        if new_stage or last_page or p.stage == "embed" or now - self.logged >= LOG_EVERY:
            self.logged = now
            elapsed = now - self.embed_started
            rate = p.passages_embedded / elapsed if p.stage == "embed" and elapsed > 0 else None
            log.info("%s", progress_line(p, rate))

    def _bar(self, p: ReindexProgress, new_stage: bool) -> None:
        from tqdm import tqdm

        if new_stage:
            self._close()
            if p.stage == "scan":
                self.bar = tqdm(total=p.pages_total, desc="scanning", unit="page", file=self.stream)
            elif p.stage == "embed":
                self.bar = tqdm(total=p.passages_total, desc="embedding", unit="passage", file=self.stream)
            elif p.stage == "write":
                print("writing the index…", file=self.stream)
        if self.bar is None:
            return
        done = p.pages_scanned if p.stage == "scan" else p.passages_embedded
        self.bar.update(done - self.bar.n)
        if p.stage == "scan":
            self.bar.set_postfix(changed=p.pages_changed, refresh=False)


# ---------------------------------------------------------------- search


def run_search(args: argparse.Namespace, settings: Settings) -> int:
    """Answer one question, or every JSON line on stdin with --jsonl."""
    from bot.backends import open_live
    from embeddings.rank import check_question

    top_k = args.top_k or settings.top_k
    if not args.jsonl:
        if args.question is None:
            print(f"quotebot search: give a question, e.g. quotebot search {EXAMPLE}", file=sys.stderr)
            return 2
        check_question(args.question)  # fails fast, before the model loads
    if args.jsonl or args.json:
        with stdout_for_data() as out:
            searcher = open_live(settings, make_encoder(settings), make_reranker(settings)).current
            try:
                if args.jsonl:
                    return answer_jsonl(searcher, _stdin_lines(), out, top_k=top_k)
                answer = searcher.search(args.question, top_k=top_k)
                print(json.dumps(answer_json(answer), ensure_ascii=False, indent=1), file=out)
                return 0
            except BrokenPipeError:  # `quotebot search --jsonl < q.jsonl | head` closed the pipe: stop
                os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
                return 0
    searcher = open_live(settings, make_encoder(settings), make_reranker(settings)).current
    answer = searcher.search(args.question, top_k=top_k)
    from bot.i18n import pick_language
    from bot.render.terminal import render_terminal

    lang = args.lang or pick_language(os.environ.get("LC_ALL") or os.environ.get("LANG") or None)
    print(render_terminal(answer, lang, color=sys.stdout.isatty()))
    return 0


def hit_json(hit: Hit) -> dict[str, Any]:
    """Return a hit as the JSON object of the --json and --jsonl outputs."""
    return {
        "text": hit.text,
        "doc": hit.doc,
        **citation(hit),
        "score": round(float(hit.score), 6),
        "highlight": [[start, end] for start, end in hit.highlight],
        "ordinal": hit.ordinal,
        "also_in": [asdict(s) for s in hit.also_in],
    }


def answer_json(answer: Answer) -> dict[str, Any]:
    """Return an answer as the JSON object of --json."""
    return {
        "question": answer.question,
        "answered": answer.answered,
        "hits": [hit_json(h) for h in answer.hits],
        "nearest": [asdict(h) for h in answer.nearest],
    }


def _stdin_lines() -> Iterator[bytes]:
    """Yield stdin's lines as bytes (each line is decoded on its own, so one bad byte spoils one line)."""
    yield from sys.stdin.buffer


def parse_request(line: bytes | str, number: int) -> Request:
    """Return (id, question, error) for one --jsonl input line (its number stands in for a missing id)."""
    try:
        text = line.decode("utf-8") if isinstance(line, bytes) else line
        # Windows tools start UTF-8 files with a byte-order mark, which json.loads refuses.
        request = json.loads(text.removeprefix("\ufeff") if number == 1 else text)
    except UnicodeDecodeError:
        return number, None, f"line {number} is not UTF-8"
    except json.JSONDecodeError as exc:
        return number, None, f"line {number} is not JSON ({exc.msg})"
    if not isinstance(request, dict):
        return number, None, f'line {number} is not a JSON object like {{"id": 1, "question": "..."}}'
    qid = request.get("id", number)
    question = request.get("question")
    if not isinstance(question, str):
        return qid, None, f'line {number} has no "question" string'
    return qid, question, None


def answer_jsonl(searcher: Searcher, lines: Iterable[bytes | str], out: TextIO, *, top_k: int) -> int:
    """Answer JSON lines in batches, writing one JSON line per input line in input order."""
    started = time.monotonic()
    total = answered = errors = 0
    for chunk in _chunks(_requests(lines), JSONL_CHUNK):
        asked = [q for _, q, err in chunk if err is None and q is not None]
        results = iter(searcher.search_many(asked, top_k=top_k) if asked else [])
        for qid, _question, error in chunk:
            total += 1
            result: Answer | BadQuestion | str = error if error is not None else next(results)
            row = _jsonl_row(qid, result)
            answered += bool(row.get("answered"))
            errors += "error" in row
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        out.flush()
    seconds = time.monotonic() - started
    log.info("answered %d of %d questions (%d errors) in %.1f s", answered, total, errors, seconds)
    return 0


def _requests(lines: Iterable[bytes | str]) -> Iterator[Request]:
    """Yield (id, question, error) for each non-blank input line."""
    for number, line in enumerate(lines, 1):
        if line.strip():
            yield parse_request(line, number)


def _chunks(items: Iterable[Request], size: int) -> Iterator[list[Request]]:
    """Yield lists of up to size items."""
    chunk: list[Request] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _jsonl_row(qid: object, result: Answer | BadQuestion | str) -> dict[str, Any]:
    """Return one --jsonl output object: the answer, or an error saying what was wrong with the line."""
    if isinstance(result, str):
        return {"id": qid, "answered": False, "hits": [], "error": result}
    if isinstance(result, Exception):
        return {"id": qid, "answered": False, "hits": [], "error": str(result)}
    return {"id": qid, "answered": result.answered, "hits": [hit_json(h) for h in result.hits]}

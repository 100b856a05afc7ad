"""`quotebot index` and `quotebot search`: summaries, JSON lines, bad input, kill -9 and the lock."""

from __future__ import annotations

import io
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

import bot.cli.index
from bot.cli import main
from bot.cli.index import ProgressDisplay, parse_request, progress_line
from bot.config import TEST_ENCODER
from bot.indexing import build_index, open_searcher
from embeddings.hashing import HashingEncoder
from embeddings.local.generations import CURRENT, PREVIOUS, read_manifest
from embeddings.models import ReindexProgress
from tests.bot_support import REAL_ENCODER
from tests.test_store import PAGES, CountingEncoder, shared_encoder, write_corpus, write_page

HIT_KEYS = {"text", "doc", "title", "outlet", "url", "date", "score", "highlight"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Return (corpus, index) built once for the read-only tests of this module."""
    root = tmp_path_factory.mktemp("cli")
    corpus = write_corpus(root / "corpus", seed=False)
    build_index(corpus, root / "index", HashingEncoder())
    return corpus, root / "index"


@pytest.fixture(autouse=True)
def hashing_encoder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let in-process commands run on the hashing test encoder (what they print, not which passage)."""
    monkeypatch.setenv("QUOTEBOT_ENCODER", TEST_ENCODER)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run quotebot in this process; return (exit code, stdout, stderr)."""
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# ---------------------------------------------------------------- search


def test_search_json_gives_verbatim_hits_with_sources(
    built: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, index_dir = built
    code, out, err = run(
        capsys, "--index-dir", str(index_dir), "search", "台风在哪里登陆？", "--json", "--top-k", "2"
    )
    assert code == 0, err
    answer = json.loads(out)
    assert answer["answered"] is True and 1 <= len(answer["hits"]) <= 2
    hit = answer["hits"][0]
    assert set(hit) >= HIT_KEYS
    assert hit["doc"] == "news/typhoon.html" and hit["title"] == "强台风海燕登陆福建"
    assert hit["outlet"] == "新华社" and hit["date"] == "2024-07-02"
    assert hit["text"] in PAGES["news/typhoon.html"][3]
    assert all(0 <= s < e <= len(hit["text"]) for s, e in hit["highlight"])


def test_search_prints_quotes_for_people(
    built: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, index_dir = built
    code, out, _ = run(
        capsys, "--index-dir", str(index_dir), "search", "C919 first commercial flight", "--lang", "en"
    )
    assert code == 0
    assert "C919" in out and "国产大飞机完成首次商业飞行" in out


def test_search_jsonl_answers_each_line_and_reports_bad_ones(
    built: tuple[Path, Path], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, index_dir = built
    lines = [
        json.dumps({"id": "q1", "question": "台风在哪里登陆？"}, ensure_ascii=False).encode(),
        b"",  # blank lines are ignored
        b"{not json",
        b'["a list"]',
        json.dumps({"id": "q4", "q": "wrong key"}).encode(),
        json.dumps({"id": "q5", "question": "   "}).encode(),
        json.dumps({"id": "q6", "question": "问" * 10_000}).encode(),
        json.dumps({"id": "q7", "question": "台风\u0000登陆"}).encode(),
        json.dumps({"id": "q8", "question": "😀🎉🔥"}).encode(),
        b'{"id": "q9", "question": "\xff\xfe"}',
        json.dumps({"id": "q11", "question": "台北捷運票價調漲多少？"}, ensure_ascii=False).encode(),
    ]
    stdin = io.TextIOWrapper(io.BytesIO(b"\n".join(lines) + b"\n"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, err = run(capsys, "--index-dir", str(index_dir), "search", "--jsonl", "--top-k", "3")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(lines) - 1
    assert [r["id"] for r in rows] == ["q1", 3, 4, "q4", "q5", "q6", "q7", "q8", 10, "q11"]
    first, last = rows[0], rows[-1]
    assert first["answered"] and first["hits"][0]["doc"] == "news/typhoon.html" and "error" not in first
    assert set(first["hits"][0]) >= HIT_KEYS and len(first["hits"]) <= 3
    assert last["answered"] and last["hits"][0]["doc"] == "tw/metro.html"
    errors = {r["id"]: r["error"] for r in rows[1:-1]}
    assert "not JSON" in errors[3] and "not a JSON object" in errors[4]
    assert '"question"' in errors["q4"]
    assert "empty" in errors["q5"] and "characters long" in errors["q6"]
    assert "control characters" in errors["q7"] and "no words" in errors["q8"]
    assert "not UTF-8" in rows[-2]["error"]
    assert all(r["answered"] is False and r["hits"] == [] for r in rows[1:-1])


def test_search_jsonl_stops_quietly_when_the_reader_closes_the_pipe(
    built: tuple[Path, Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    class ClosedPipe(io.StringIO):
        """stdout piped into `head`, which has exited."""

        def __init__(self, fd: int) -> None:
            super().__init__()
            self.fd = fd

        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

        def fileno(self) -> int:
            return self.fd

    line = json.dumps({"id": "q1", "question": "台风在哪里登陆？"}, ensure_ascii=False).encode() + b"\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(line * 3), encoding="utf-8"))
    with (tmp_path / "stdout").open("w") as target:
        monkeypatch.setattr(sys, "stdout", ClosedPipe(target.fileno()))
        code = main(["--index-dir", str(built[1]), "search", "--jsonl"])
    assert (code, capsys.readouterr().err) == (0, "")


def test_parse_request_keeps_ids_and_numbers_anonymous_lines() -> None:
    assert parse_request('{"id": 7, "question": "问"}', 1) == (7, "问", None)
    assert parse_request('{"question": "问"}', 5) == (5, "问", None)


def test_parse_request_reads_a_first_line_behind_a_byte_order_mark() -> None:
    # Windows editors and PowerShell's Out-File start UTF-8 files with a BOM.
    line = '\ufeff{"id": "q1", "question": "问"}'
    assert parse_request(line.encode(), 1) == ("q1", "问", None)
    assert parse_request(line, 1) == ("q1", "问", None)


@pytest.mark.parametrize(
    ("question", "message"),
    [
        ("", "empty"),
        ("  \t ", "empty"),
        ("问" * 10_000, "characters long"),
        ("台风\x07登陆", "control characters"),
        ("😀😀🎉", "no words"),
    ],
)
def test_bad_questions_get_a_message_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, question: str, message: str
) -> None:
    code, out, err = run(capsys, "--index-dir", str(tmp_path), "search", question)
    assert code == 2 and out == ""
    assert err.startswith("quotebot: ") and message in err and "Traceback" not in err


def test_search_without_a_question_shows_usage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--index-dir", str(tmp_path), "search")
    assert code == 2 and "give a question" in err


def test_missing_index_says_to_run_index(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "--index-dir", str(tmp_path / "nothing"), "search", "台风在哪里登陆？")
    assert code == 2 and "no index in" in err and "quotebot index" in err


def test_corrupt_index_and_other_model_say_to_rebuild(
    built: tuple[Path, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    index_dir = tmp_path / "i"
    shutil.copytree(built[1], index_dir, symlinks=True)
    manifest = index_dir / CURRENT / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    data["model"] = "BAAI/bge-m3"
    manifest.write_text(json.dumps(data), encoding="utf-8")
    code, _, err = run(capsys, "--index-dir", str(index_dir), "search", "台风在哪里登陆？")
    assert code == 2 and "BAAI/bge-m3" in err and "quotebot index --full" in err
    manifest.write_text("{ half a manifest", encoding="utf-8")
    code, _, err = run(capsys, "--index-dir", str(index_dir), "search", "台风在哪里登陆？", "--json")
    assert code == 2 and "cannot read" in err and "quotebot index --full" in err and "Traceback" not in err


def test_bad_input_from_the_real_entry_point_prints_no_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "QUOTEBOT_INDEX_DIR": str(tmp_path / "none")}
    for args in (["search", "   "], ["search", "台风在哪里登陆？"], ["index", str(tmp_path / "no-corpus")]):
        done = subprocess.run(
            [sys.executable, "-m", "bot", *args],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=300,
        )
        assert done.returncode == 2, done.stderr
        assert (
            done.stderr.strip().splitlines()[-1].startswith("quotebot: ") and "Traceback" not in done.stderr
        )


# ---------------------------------------------------------------- index


def test_index_reports_changes_and_rolls_back(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QUOTEBOT_ENCODER", "hashing")  # counts and generations, not answers
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), str(tmp_path / "i")
    (corpus / "empty.html").write_bytes(b"")
    code, out, err = run(capsys, "--index-dir", index_dir, "index", str(corpus))
    assert code == 0, err
    assert "added 4, updated 0, removed 0, unchanged 0, skipped 1, failed 0" in out
    assert "skipped empty.html: " in out and "(new index)" in out

    write_page(
        corpus,
        "news/plane.html",
        "国产大飞机完成首次商业飞行",
        "人民日报",
        None,
        ["C919订单超过一千二百架。"],
    )
    (corpus / "news/volleyball.html").unlink()
    code, out, _ = run(capsys, "--index-dir", index_dir, "index", str(corpus), "--json")
    report = json.loads(out)
    assert report["full"] is False
    assert code == 0 and (report["added"], report["updated"], report["removed"], report["unchanged"]) == (
        0,
        1,
        1,
        2,
    )
    assert report["generation"] == read_manifest(Path(index_dir)).generation

    code, out, _ = run(capsys, "--index-dir", index_dir, "index", "--rollback")
    assert (
        code == 0
        and out.startswith("rolled back")
        and "news/volleyball.html" in read_manifest(Path(index_dir)).pages
    )

    code, out, _ = run(capsys, "--index-dir", index_dir, "index", str(corpus), "--full")
    assert code == 0 and "full rebuild" in out and "unchanged 0" in out


def test_rollback_to_an_index_of_another_model_or_prompts_is_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bot.cli.index, "make_encoder", lambda settings: HashingEncoder())
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    build_index(corpus, index_dir, HashingEncoder())
    write_page(corpus, "news/quake.html", "四川发生地震", "新华社", None, ["四川泸定县发生六点八级地震。"])
    build_index(corpus, index_dir, HashingEncoder())
    live = os.readlink(index_dir / CURRENT)
    manifest = index_dir / os.readlink(index_dir / PREVIOUS) / "manifest.json"
    original = manifest.read_text(encoding="utf-8")
    other_model = {"model": "intfloat/multilingual-e5-large"}
    other_prompts = {"prompts": {"query": "query: ", "passage": "passage: "}}
    quantised = {"encoder": "openvino", "precision": "int8"}
    for change, named in (
        (other_model, "QUOTEBOT_MODEL=intfloat/multilingual-e5-large"),
        (other_prompts, "prompts"),
        (quantised, "QUOTEBOT_ENCODER=openvino-int8"),
    ):
        manifest.write_text(json.dumps(json.loads(original) | change), encoding="utf-8")
        code, out, err = run(capsys, "--index-dir", str(index_dir), "index", "--rollback")
        assert code == 2 and out == "" and err.startswith("quotebot: refusing to roll back"), err
        assert named in err and "quotebot index --full" in err
        assert os.readlink(index_dir / CURRENT) == live
    manifest.write_text(original, encoding="utf-8")
    code, out, _ = run(capsys, "--index-dir", str(index_dir), "index", "--rollback")
    assert code == 0 and out.startswith("rolled back") and os.readlink(index_dir / PREVIOUS) == live


def test_index_of_a_missing_corpus_or_without_previous_index_fails_clearly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(capsys, "--index-dir", str(tmp_path / "i"), "index", str(tmp_path / "nope"))
    assert code == 2 and "does not exist" in err and "QUOTEBOT_CORPUS_DIR" in err
    (tmp_path / "blank").mkdir()
    code, _, err = run(capsys, "--index-dir", str(tmp_path / "i"), "index", str(tmp_path / "blank"))
    assert code == 2 and "no .html or .htm pages" in err
    code, _, err = run(capsys, "--index-dir", str(tmp_path / "i"), "index", "--rollback")
    assert code == 2 and "no previous index" in err
    (tmp_path / "blank" / "empty.html").write_bytes(b"")
    code, _, err = run(capsys, "--index-dir", str(tmp_path / "i"), "index", str(tmp_path / "blank"))
    assert code == 2 and "no page under" in err and "empty.html" in err and "left as it was" in err
    (tmp_path / "a-file").write_text("x", encoding="utf-8")
    code, _, err = run(
        capsys, "--index-dir", str(tmp_path / "a-file" / "i"), "index", str(tmp_path / "blank")
    )
    assert code == 2 and err.startswith("quotebot: cannot update the index in") and "Traceback" not in err


def test_plain_progress_lines_and_terminal_bars(caplog: pytest.LogCaptureFixture) -> None:
    def snapshot(stage: str, scanned: int = 4, embedded: int = 0) -> ReindexProgress:
        return ReindexProgress(stage, scanned, 4, 2, embedded, 10, 5.0 if stage == "embed" else None)

    caplog.set_level("INFO", logger="bot.cli.index")
    with ProgressDisplay(io.StringIO(), tty=False) as plain:
        for p in (snapshot("scan", 1), snapshot("scan"), snapshot("embed"), snapshot("embed", embedded=5)):
            plain(p)
    messages = [r.getMessage() for r in caplog.records]
    assert (
        "scanned 1/4 pages (2 new or changed)" in messages
        and "scanned 4/4 pages (2 new or changed)" in messages
    )
    assert any(re.fullmatch(r"embedded 5/10 passages, [\d.]+ passages/s, ETA 5s", m) for m in messages)

    screen = io.StringIO()
    with ProgressDisplay(screen, tty=True) as bars:
        for p in (snapshot("scan", 2), snapshot("embed"), snapshot("embed", embedded=10), snapshot("write")):
            bars(p)
    shown = screen.getvalue()
    assert "scanning" in shown and "embedding" in shown and "10/10" in shown and "passage/s" in shown


def test_progress_lines_count_reused_vectors_apart() -> None:
    writing = ReindexProgress("write", 4, 4, 1, 2, 2, None, passages_reused=120)
    assert progress_line(writing, None) == "writing the index (2 passages embedded, 120 reused)"
    embedding = ReindexProgress("embed", 4, 4, 1, 1, 2, None, passages_reused=120)
    assert progress_line(embedding, None) == "embedded 1/2 passages (120 reused)"


# ---------------------------------------------------------------- kill -9 and the lock


def stderr_lines(proc: subprocess.Popen[str]) -> queue.Queue[str]:
    """Return a queue that receives the process's stderr lines as they come."""
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_kill_9_mid_embedding_keeps_the_old_index_serving_and_the_rerun_completes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real model: embedding must be slow enough to be killed midway.
    monkeypatch.setenv("QUOTEBOT_ENCODER", REAL_ENCODER)  # for the subprocess
    monkeypatch.setattr(bot.cli.index, "make_encoder", lambda settings: shared_encoder())  # loaded once
    corpus, index_dir = write_corpus(tmp_path / "c", seed=False), tmp_path / "i"
    build_index(corpus, index_dir, shared_encoder())
    old = os.readlink(index_dir / CURRENT)
    for n in range(12):
        paras = [
            f"第{n}号补充报道的第{k}段：市政府公布了第{n}季度的交通建设进度与预算安排。" for k in range(5)
        ]
        write_page(corpus, f"more/{n}.html", f"补充报道{n}", "新华社", None, paras)
    env = {
        **os.environ,
        "QUOTEBOT_INDEX_DIR": str(index_dir),
        "QUOTEBOT_BATCH_SIZE": "4",
        "QUOTEBOT_LOG_LEVEL": "INFO",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "index", str(corpus)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    lines, seen = stderr_lines(proc), []
    try:
        while True:
            line = lines.get(timeout=300)
            seen.append(line)
            found = re.search(r"embedded (\d+)/(\d+) passages", line)
            if found and 0 < int(found[1]) < int(found[2]):
                break
        # Mid-embedding: a second reindex is refused at once, naming the holder.
        code, _, err = run(capsys, "--index-dir", str(index_dir), "index", str(corpus))
        assert code == 2 and f"another reindex of {index_dir} is running (pid {proc.pid})" in err
        assert proc.poll() is None, "the reindex finished before it could be killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert any("scanned 16/16 pages (12 new or changed)" in s for s in seen)

    assert os.readlink(index_dir / CURRENT) == old
    assert list((index_dir / ".partial").glob("chunk-*.npz")), "the chunks embedded so far are kept"
    searcher = open_searcher(index_dir, shared_encoder())
    assert searcher.search("台风在哪里登陆？").hits[0].doc == "news/typhoon.html"
    assert "more/0.html" not in read_manifest(index_dir).pages

    counting = CountingEncoder()
    monkeypatch.setattr(bot.cli.index, "make_encoder", lambda settings: counting)
    code, out, err = run(capsys, "--index-dir", str(index_dir), "index", str(corpus))
    assert code == 0, err
    assert "added 12, updated 0, removed 0, unchanged 4" in out
    assert 0 < len(counting.embedded) < 60  # the killed run's finished chunks were not embedded again
    assert not (index_dir / ".partial").exists()
    assert os.readlink(index_dir / CURRENT) != old
    assert len(read_manifest(index_dir).pages) == 16
    answer = open_searcher(index_dir, shared_encoder()).search("第7号补充报道公布了什么？")
    assert answer.hits and answer.hits[0].doc.startswith("more/")

"""The shipped sample corpus is what it claims: attributed pages that really answer the example questions."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from corpus.load import list_pages
from corpus.parse import parse_article
from tests.conftest import EVAL_DIR, REPO, SEED_PAGE

SAMPLE = REPO / "sample_corpus"
EXAMPLES: list[dict[str, str]] = json.loads((SAMPLE / "examples.json").read_text(encoding="utf-8"))
ATTRIBUTION = (SAMPLE / "ATTRIBUTION.md").read_text(encoding="utf-8")


def test_the_sample_corpus_is_small_and_mixes_the_three_sources() -> None:
    pages = list_pages(SAMPLE)
    assert 30 <= len(pages) <= 40
    sets = {page.split("/")[0] for page in pages if "/" in page}
    assert sets == {"cmrc2018", "drcd", "xquad"}
    assert "seed-article.html" in pages
    assert sum((SAMPLE / p).stat().st_size for p in pages) < 400_000


def test_every_page_is_an_unchanged_copy_of_its_attributed_source() -> None:
    for page in list_pages(SAMPLE):
        source = SEED_PAGE if page == "seed-article.html" else EVAL_DIR / "articles" / page
        assert (SAMPLE / page).read_bytes() == source.read_bytes(), page


def test_the_attribution_names_every_page_and_its_licence_files_exist() -> None:
    for page in list_pages(SAMPLE):
        assert f"`{page}`" in ATTRIBUTION, f"ATTRIBUTION.md does not name {page}"
    linked = re.findall(r"\]\((LICENSES/[^)]+)\)", ATTRIBUTION)
    assert linked, "ATTRIBUTION.md links no licence text"
    for path in set(linked):
        text = (SAMPLE / path).read_text(encoding="utf-8")
        assert "Attribution-ShareAlike 4.0" in text, path
    # DRCD is CC BY-SA 3.0: its licence is given by URI, which the 3.0 licence allows.
    assert "https://creativecommons.org/licenses/by-sa/3.0/legalcode" in ATTRIBUTION
    for source in ("ymcui/cmrc2018", "DRCKnowledgeTeam/DRCD", "google-deepmind/xquad"):
        assert source in ATTRIBUTION


def test_the_examples_cover_each_language_and_their_answers_are_paragraphs_of_their_page() -> None:
    assert len(EXAMPLES) == 3
    assert {e["lang"] for e in EXAMPLES} == {"zh-hans", "zh-hant", "en"}
    for example in EXAMPLES:
        article = parse_article((SAMPLE / example["doc"]).read_bytes(), example["doc"])
        assert article.title == example["title"]
        assert any(example["answer"] in p.text for p in article.body), example


# ------------------------------------------------------------ the real retrieval


@pytest.fixture(scope="session")
def sample_index(tmp_path_factory: pytest.TempPathFactory, model_path: str) -> Path:
    """Build the real index of the whole sample corpus once (about 230 passages)."""
    from bot.indexing import build_index
    from embeddings.encoder import Encoder

    index_dir = tmp_path_factory.mktemp("sample") / "index"
    report = build_index(SAMPLE, index_dir, Encoder(model_path))
    assert not report.failed, report.failed
    assert report.added == len(list_pages(SAMPLE))
    return index_dir


@pytest.mark.slow
def test_each_example_question_is_answered_from_its_page(sample_index: Path, model_path: str) -> None:
    from bot.indexing import open_searcher
    from embeddings.encoder import Encoder

    searcher = open_searcher(sample_index, Encoder(model_path))
    for example in EXAMPLES:
        answer = searcher.search(example["question"])
        assert answer.answered, example["question"]
        top = answer.hits[0]
        assert (top.doc, top.title) == (example["doc"], example["title"]), example["question"]
        assert any(example["answer"] in hit.text for hit in answer.hits), example["question"]


@pytest.mark.slow
def test_a_question_off_the_sample_corpus_is_not_answered(sample_index: Path, model_path: str) -> None:
    from bot.indexing import open_searcher
    from embeddings.encoder import Encoder

    answer = open_searcher(sample_index, Encoder(model_path)).search("2026年诺贝尔化学奖颁给了谁？")
    assert not answer.answered, [h.text for h in answer.hits]


def run_script(index_dir: Path, model_path: str, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run scripts/run.sh the way `make run` does, with the test's index and model."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUOTEBOT_")}
    env |= {
        "QUOTEBOT_INDEX_DIR": str(index_dir),
        "QUOTEBOT_MODEL": model_path,
        "QUOTEBOT_ENCODER": os.environ["QUOTEBOT_ENCODER"],  # the encoder sample_index was built with
        "VENV": str(Path(sys.executable).parent.parent),
        "LANG": "C.UTF-8",
    }
    return subprocess.run(
        [str(REPO / "scripts" / "run.sh"), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )


@pytest.mark.slow
def test_run_sh_updates_the_index_incrementally_and_the_chat_answers_the_example(
    sample_index: Path, model_path: str
) -> None:
    example = EXAMPLES[0]
    done = run_script(sample_index, model_path, example["question"] + "\n")
    assert done.returncode == 0, done.stderr
    assert "added 0, updated 0, removed 0" in done.stdout, done.stdout
    assert "terminal chat" in done.stderr
    assert example["answer"] in done.stdout
    assert example["title"] in done.stdout


def test_run_sh_rejects_an_unknown_mode() -> None:
    done = subprocess.run([str(REPO / "scripts" / "run.sh"), "web"], capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 2
    assert "usage" in done.stderr


def test_run_sh_without_a_token_cannot_serve(tmp_path: Path, model_path: str) -> None:
    # `serve` forced without a token must stop with the setting to fix, after the (empty) index step.
    env: dict[str, Any] = {k: v for k, v in os.environ.items() if not k.startswith("QUOTEBOT_")}
    (tmp_path / "corpus").mkdir()
    env |= {
        "QUOTEBOT_CORPUS_DIR": str(tmp_path / "corpus"),
        "QUOTEBOT_INDEX_DIR": str(tmp_path / "index"),
        "QUOTEBOT_MODEL": model_path,
        "QUOTEBOT_ENCODER": os.environ["QUOTEBOT_ENCODER"],  # the encoder sample_index was built with
        "VENV": str(Path(sys.executable).parent.parent),
    }
    done = subprocess.run(
        [str(REPO / "scripts" / "run.sh"), "serve"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode != 0
    assert "QUOTEBOT_TELEGRAM_TOKEN" in done.stderr

"""Shared fixtures: the local embedding model (never the hub) and the sample pages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI runs the properties on hypothesis' fixed sequence of examples, so a run that passed here passes
# there; locally every run explores new ones (a failure it finds becomes a plain test, as in test_render).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
SHARED_MODEL = SHARED / "models" / "multilingual-e5-small-zh-en"
SEED_PAGE = SHARED / "samples" / "seed-article.html"
EVAL_DIR = SHARED / "eval"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# No test may reach a model hub.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("QUOTEBOT_MODEL", str(SHARED_MODEL))
# The suite runs on the reference encoder (torch); tests/test_encoder.py converts and checks the
# OpenVINO ones once per session in tmp (an int8 conversion on the shipped calibration takes minutes).
os.environ.setdefault("QUOTEBOT_ENCODER", "torch")


@pytest.fixture(scope="session")
def model_path() -> str:
    """Return the configured local model directory, failing loudly when it is absent."""
    path = os.environ["QUOTEBOT_MODEL"]
    if not Path(path).is_dir():
        pytest.fail(f"QUOTEBOT_MODEL={path} is not a directory; point it at a local model copy")
    return path


@pytest.fixture(scope="session")
def seed_bytes() -> bytes:
    """Return the real seed page's bytes."""
    return SEED_PAGE.read_bytes()

"""Typed settings read once at start-up from QUOTEBOT_* variables and an optional .env file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_MODEL = "intfloat/multilingual-e5-small"
# The encoder a new index is built with is chosen by the CPU (embeddings.encoder_choice: the fastest
# variant measured within 0.3 point of torch for its instruction sets); questions follow each index's.
DEFAULT_ENCODER = "auto"
TEST_ENCODER = "hashing"  # embeddings.hashing: deterministic, no model (tests that do not judge answers)
TELEGRAM_API_URL = "https://api.telegram.org"


class ConfigError(Exception):
    """Settings are invalid; the message names the variable and the fix."""


class Settings(BaseSettings):
    """Every setting of quotebot; the field docs are the README's configuration table."""

    model_config = SettingsConfigDict(
        env_prefix="QUOTEBOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    model: str = Field(DEFAULT_MODEL, description="Embedding model: hub id or local directory.")
    encoder: str = Field(
        DEFAULT_ENCODER,
        description="Encoder backend: `auto` (a new index gets the fastest variant measured for this CPU, "
        "questions follow each index's own; see docs/encoders.md), `onnx-int8`, `onnx`, `openvino-int8`, "
        "`openvino` (bf16 where the CPU has it, else fp32), `openvino-fp32`, `torch`, or `hashing` (the test "
        "encoder); a change to or from an int8 one needs `quotebot index --full`.",
    )
    encoder_cache: Path | None = Field(
        None, description="Where converted encoder models are kept (default ~/.cache/quotebot/encoders)."
    )
    query_prompt: str | None = Field(
        None, description="Prefix for questions when the model has no `query` prompt."
    )
    passage_prompt: str | None = Field(
        None, description="Prefix for passages when the model has no `passage`/`document` prompt."
    )
    corpus_dir: Path = Field(Path("sample_corpus"), description="Directory of .html/.htm news pages.")
    index_dir: Path = Field(Path("var/index"), description="Directory holding the live index.")
    max_page_bytes: int = Field(5_000_000, gt=0, description="Pages larger than this are skipped.")
    batch_size: int = Field(32, gt=0, description="Passages embedded per model call.")
    top_k: int = Field(3, ge=1, le=20, description="Quotes per answer.")
    max_per_article: int = Field(3, ge=1, description="Most quotes taken from one article per answer.")
    min_score: float | None = Field(
        None, description="Override the calibrated relevance threshold below which the bot abstains."
    )
    calibration: Path | None = Field(
        None,
        description="A calibration record (JSON, as `bench/quality.py --calibrate` writes) that the next "
        "reindex stores with the index instead of the one shipped for the model; a missing or malformed "
        "file stops the program at start-up.",
    )
    reranker: str = Field(
        "shipped",
        description='Answer verifier that orders the quotes and decides "not in the corpus": `shipped` (the '
        "one trained for quotebot), `none`, `hashing` (the test double), or a sentence-transformers "
        "CrossEncoder directory or hub id (it re-orders the first candidates; only a verifier measured "
        "by `bench/quality.py --calibrate-verifier` also decides abstention).",
    )
    telegram_token: SecretStr | None = Field(None, description="Bot token from @BotFather (serve).")
    admin_ids: Annotated[frozenset[int], NoDecode] = Field(
        frozenset(), description="Comma-separated Telegram user ids allowed to run admin commands."
    )
    telegram_api_url: str = Field(
        TELEGRAM_API_URL, description="Bot API server root; the bot appends /bot<token>/<method>."
    )
    webhook_url: str | None = Field(
        None, description="Public HTTPS URL for webhook mode; long polling when unset."
    )
    webhook_secret: SecretStr | None = Field(
        None, description="Secret token Telegram sends with each webhook request."
    )
    webhook_listen: str = Field("0.0.0.0", description="Address the webhook server listens on.")
    webhook_port: int = Field(8443, ge=1, le=65535, description="Port the webhook server listens on.")
    max_upload_bytes: int = Field(20_000_000, gt=0, description="Largest page or .zip an admin may upload.")
    questions_per_minute: int = Field(20, ge=1, description="Per-user question rate limit.")
    log_level: str = Field("INFO", description="Logging level (DEBUG logs user text).")
    backend: Literal["local", "qdrant"] = Field(
        "local", description="Retrieval backend: `local` (FAISS + bm25s files) or `qdrant`."
    )
    qdrant_url: str | None = Field(
        None, description="Qdrant server or cluster URL, e.g. http://qdrant:6333 (backend `qdrant`)."
    )
    qdrant_api_key: SecretStr | None = Field(
        None, description="API key of the Qdrant server, if it needs one."
    )
    qdrant_path: Path | None = Field(
        None, description="Directory for Qdrant's in-process mode when no URL is set (small data, tests)."
    )
    qdrant_prefix: str = Field(
        "quotebot",
        pattern=r"^[a-z][a-z0-9_]*$",
        description="Name of the Qdrant alias; collections start with it.",
    )
    qdrant_shards: int = Field(
        1, ge=1, description="Shards of a Qdrant collection, set when a full build creates it."
    )
    qdrant_replicas: int = Field(
        1, ge=1, description="Replicas of each shard, set when a full build creates it."
    )

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p for p in value.replace(";", ",").replace(" ", ",").split(",") if p]
            try:
                return frozenset(int(p) for p in parts)
            except ValueError as exc:
                raise ValueError(f"admin ids must be integers separated by commas, got {value!r}") from exc
        return value

    @field_validator("encoder")
    @classmethod
    def _encoder(cls, value: str) -> str:
        from embeddings.encoder import check_setting

        if value.strip().lower() != TEST_ENCODER:
            check_setting(value)  # ValueError names the choices
        return value.strip().lower()

    @field_validator("calibration")
    @classmethod
    def _calibration(cls, value: Path | None) -> Path | None:
        from embeddings.calibration import read_record
        from embeddings.errors import BadCalibration

        if value is not None:
            try:
                read_record(value)
            except BadCalibration as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("telegram_api_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}; use DEBUG, INFO, WARNING or ERROR")
        return level


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment and .env, applying CLI overrides; fail with one clear message."""
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            lines.append(f"QUOTEBOT_{name.upper()}: {err['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None

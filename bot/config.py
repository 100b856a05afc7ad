"""Typed settings read once at start-up from QUOTEBOT_* variables and an optional .env file."""

from __future__ import annotations

import re
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
DEFAULT_OPS_LISTEN = "127.0.0.1:8089"
EVERY_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
EVERY = re.compile(r"(?:(\d+(?:\.\d+)?)([smhd]))+")


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
        "questions follow each index's vector family; see docs/encoders.md), `onnx-int8`, `onnx`, "
        "`openvino-int8`, `openvino` (bf16 where the CPU has it, else fp32), `openvino-fp32`, `torch`, "
        "or `hashing` (the test encoder); a change to or from an int8 one needs `quotebot index --full`.",
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
    poll_minutes: int = Field(
        30,
        ge=1,
        description="Minutes between two polls of a followed source (`quotebot follow --every` overrides it "
        "per source; a feed's TTL and a Retry-After are minimums; a failing source backs off).",
    )
    fetch_allow: Annotated[tuple[str, ...], NoDecode] = Field(
        (),
        description="Comma-separated hosts or CIDRs the fetcher may reach although they are loopback, "
        "private or link-local (empty by default: such addresses are refused).",
    )
    fetch_interval: float = Field(
        1.0, ge=0, description="Seconds between two requests to one host (a site's Crawl-delay may ask more)."
    )
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

    @field_validator("fetch_allow", mode="before")
    @classmethod
    def _split_allow(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p for p in value.replace(";", ",").replace(" ", ",").split(",") if p)
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

    # Operations (docs/operations.md): health and metrics endpoint, watched folder, scheduled reindex.
    ops_listen: str = Field(
        DEFAULT_OPS_LISTEN,
        description="host:port of the health and metrics server of `quotebot serve` (/livez, /readyz, "
        "/metrics); empty or `off` turns it off.",
    )
    watch: bool = Field(
        False, description="Reindex incrementally when pages in QUOTEBOT_CORPUS_DIR appear, change or go."
    )
    watch_interval: float = Field(
        5.0, gt=0, le=3600, description="Seconds between two looks at the watched corpus directory."
    )
    watch_quiet: float = Field(
        5.0, ge=0, le=3600, description="Seconds the watched directory must stay unchanged before a reindex."
    )
    reindex_every: float | None = Field(
        None,
        gt=0,
        description="Run an incremental reindex this often, e.g. `6h`, `30m`, `90s` or `1d`; unset, "
        "empty or `off`: never.",
    )

    @field_validator("ops_listen")
    @classmethod
    def _ops_listen(cls, value: str) -> str:
        parse_listen(value)  # ValueError names the expected form
        return value.strip()

    @field_validator("reindex_every", mode="before")
    @classmethod
    def _every(cls, value: Any) -> Any:
        return parse_every(value) if isinstance(value, str) else value


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


def parse_listen(value: str) -> tuple[str, int] | None:
    """Return (host, port) of a `host:port` (IPv6 as `[::1]:8089`), or None for empty or `off`."""
    text = value.strip()
    if text.lower() in {"", "off"}:
        return None
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected host:port such as 127.0.0.1:8089, or off; got {value!r}")
    return host, int(port)


def parse_every(value: str) -> float | None:
    """Return the seconds of an interval such as `6h`, `30m`, `90s` or `1h30m`; None for empty or `off`."""
    text = value.strip().lower().replace(" ", "")
    if text in {"", "off", "0"}:
        return None
    if not EVERY.fullmatch(text):
        raise ValueError(f"expected a number with a unit s, m, h or d, such as 90s, 30m or 6h; got {value!r}")
    seconds = sum(float(n) * EVERY_UNITS[unit] for n, unit in re.findall(r"(\d+(?:\.\d+)?)([smhd])", text))
    if seconds < 1:
        raise ValueError(f"an interval of at least 1s is needed; got {value!r}")
    return seconds

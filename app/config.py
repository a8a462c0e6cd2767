"""Service configuration, from environment variables prefixed ``SEGMENTS_``."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """All settings of the service; see the configuration table in docs/operations.md."""

    model_config = SettingsConfigDict(env_prefix="SEGMENTS_", env_file=None, extra="ignore")

    model_root: Path = Field(REPO_ROOT / "models", description="only models under this root load")
    model_dir: Path = Field(
        REPO_ROOT / "models" / "online-retail",
        description="model version directory, or a name directory with a LATEST file",
    )
    max_customers: int = Field(10_000, ge=1, description="customers per request")
    max_transactions: int = Field(10_000, ge=1, description="transactions per customer")
    max_lines: int = Field(200_000, ge=1, description="transaction lines per request (all customers)")
    max_body_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="request body size limit")
    max_future_days: float = Field(1.0, ge=0, description="how far past now a timestamp may be")
    inline_body_bytes: int = Field(
        16 * 1024, ge=0, description="JSON assign bodies up to this size are answered on the event loop"
    )
    assign_threads: int = Field(
        1, ge=1, description="larger JSON assign bodies are answered in at most this many threads per worker"
    )
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="keys for /v1, comma-separated or a JSON list (empty: open)"
    )
    admin_key: SecretStr | None = Field(None, description="key for admin endpoints (unset: disabled)")
    model_public_key: Path | None = Field(
        None, description="PEM Ed25519 public key(s); when set, only models whose manifest it signed load"
    )
    log_level: str = "info"
    drift_window: int = Field(10_000, ge=1, description="assigned customers kept for drift")
    drift_threshold: float = Field(0.2, gt=0, description="PSI above which drift is flagged")
    drift_min_customers: int = Field(200, ge=1, description="customers in the window before drift can fire")
    header_timeout_s: float = Field(10.0, gt=0, description="request line and headers must arrive within")
    body_timeout_s: float = Field(30.0, gt=0, description="time spent waiting for a request body, at most")
    shutdown_timeout_s: float = Field(20.0, ge=0, description="on SIGTERM, requests in flight get this long")
    watch_interval_s: float = Field(
        2.0, ge=0, description="how often each worker checks the model dir's LATEST (0: never)"
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        """``SEGMENTS_API_KEYS`` is ``k1,k2`` or a JSON list; blank entries are ignored."""
        if isinstance(value, str):
            items = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
            return [k.strip() for k in items if k.strip()]
        return value

    @field_validator("admin_key", "model_public_key", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


@lru_cache
def get_settings() -> Settings:
    return Settings()

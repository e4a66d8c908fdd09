"""All settings in one place: environment variables with the ``SHOPTRACK_`` prefix.

Every field here is documented in ``shoptrack.example.env`` at the repository root; a test
fails when one is missing there, so the example stays the complete reference.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPTRACK_", env_file=None, extra="ignore")

    # --- server and storage -------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    database_url: str = "sqlite:///./shoptrack.db"
    public_url: str | None = None
    sqlite_synchronous: str = "FULL"
    key_file: Path = Path("./shoptrack.keys")
    encryption_keys: str | None = None
    trust_proxy_headers: bool = False
    log_level: str = "info"
    event_path: str = "/webevent"

    # --- group commit -------------------------------------------------------------------
    commit_interval_ms: float = Field(0.0, ge=0, le=1000)
    commit_max_events: int = Field(2000, ge=1, le=100_000)

    # --- input limits -------------------------------------------------------------------
    max_body_bytes: int = Field(256 * 1024, ge=1024)
    max_import_body_bytes: int = Field(8 * 1024 * 1024, ge=1024)
    max_events_per_batch: int = Field(100, ge=1)
    max_import_events: int = Field(1000, ge=1)
    max_string_length: int = Field(4096, ge=64)
    max_depth: int = Field(12, ge=2, le=64)
    max_list_length: int = Field(1000, ge=1)

    # --- enrichment ---------------------------------------------------------------------
    max_clock_skew_future_s: int = Field(300, ge=0)
    max_event_age_s: int = Field(7 * 24 * 3600, ge=0)
    session_timeout_s: int = Field(30 * 60, ge=60)

    # --- browser tracker ----------------------------------------------------------------
    script_path: str = "/scripts"
    script_max_age_s: int = Field(300, ge=0, le=86400)

    # --- identity and processors ---------------------------------------------------------
    identity_auto_create_contacts: bool = True
    max_contacts_per_request: int = Field(3000, ge=1, le=100_000)
    run_processors: bool = True
    processor_poll_interval_s: float = Field(0.5, gt=0, le=60)
    processor_batch_size: int = Field(500, ge=1, le=100_000)
    processor_gap_wait_s: float = Field(5.0, ge=0, le=3600)
    # An event a processor fails on is tried this many times in all, then skipped (listed at
    # /api/v1/processor-failures until `shoptrack processors replay`); the first retry waits
    # processor_retry_backoff_s, doubling each time (at most 10 minutes). Store errors back the
    # processor off the same way without charging any event an attempt.
    processor_max_attempts: int = Field(3, ge=1, le=1000)
    processor_retry_backoff_s: float = Field(5.0, ge=0, le=600)

    # --- product catalogue ----------------------------------------------------------------
    feed_batch_size: int = Field(2000, ge=1, le=100_000)
    feed_timeout_s: float = Field(30.0, gt=0)
    feed_max_seconds: float = Field(3600.0, gt=0)
    feed_max_bytes: int = Field(2 * 1024**3, ge=1024)
    feed_report_examples: int = Field(100, ge=0, le=10_000)
    feed_timezone: str = "UTC"
    feed_allow_private_hosts: bool = False
    feed_schedule_interval_s: float = Field(30.0, gt=0, le=3600)
    # A browser event changes a known product's price or stock only when this many distinct
    # non-bot visitors reported the same value within the window (catalog/quorum.py).
    catalog_browser_quorum: int = Field(3, ge=1, le=10_000)
    catalog_browser_window_s: int = Field(24 * 3600, ge=60, le=30 * 24 * 3600)

    # --- recommendations ------------------------------------------------------------------
    recs_path: str = "/recs"
    recs_refresh_interval_s: float = Field(5.0, ge=0, le=3600)
    recs_train_interval_s: float = Field(6 * 3600.0, gt=0)
    recs_update_interval_s: float = Field(60.0, gt=0)
    recs_exclude_purchased: bool = False
    recs_history_events: int = Field(100, ge=1, le=10_000)

    # --- recommendation reports -----------------------------------------------------------
    attribution_window_days: int = Field(7, ge=0, le=365)
    # Bot traffic (browser events whose agent is flagged ``is_bot``) in reports and training.
    include_bots: bool = False

    # --- triggers: e-mail and webhook delivery ---------------------------------------------
    # smtp://user:pass@host:587 (STARTTLS, required with a login), smtps://user:pass@host:465
    # (TLS from the first byte), smtp://host:25 (no login). A secret: it holds the password, so
    # its repr is redacted. Checked by triggers/smtp.py when the mailer is built, not here:
    # pydantic's validation errors quote the input, password included.
    smtp_url: SecretStr | None = None
    mail_from: str | None = None
    smtp_timeout_s: float = Field(30.0, gt=0, le=600)
    webhook_timeout_s: float = Field(10.0, gt=0, le=600)
    # Webhook URLs, like feed URLs, may not reach loopback, private or link-local addresses.
    webhook_allow_private_hosts: bool = False

    @field_validator("feed_timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except (ValueError, KeyError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("sqlite_synchronous")
    @classmethod
    def _check_synchronous(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError("must be one of OFF, NORMAL, FULL, EXTRA")
        return upper


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

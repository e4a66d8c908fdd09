"""All settings in one place: environment variables with the ``SHOPTRACK_`` prefix.

Every field here is documented in ``shoptrack.example.env`` at the repository root; a test
fails when one is missing there, so the example stays the complete reference.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOPTRACK_", env_file=None, extra="ignore")

    # --- server and storage -------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    database_url: str = "sqlite:///./shoptrack.db"
    public_url: str | None = None
    # Comma list of the Host names requests may carry ("*.myshop.com" for its subdomains; "*"
    # for any, only with public_url). Unset: public_url's host, the bind host and loopback.
    trusted_hosts: str | None = None
    sqlite_synchronous: str = "FULL"
    # Unset: next to a SQLite database file (``shop.db`` -> ``shop.keys``), else
    # ./shoptrack.keys; see ``key_path``.
    key_file: Path | None = None
    encryption_keys: str | None = None
    # Start although stored ciphertexts name keys the key file lacks (lost for good): those
    # rows answer ``key_missing`` and their contacts can only be erased (identity/keycheck.py).
    allow_missing_keys: bool = False
    trust_proxy_headers: bool = False
    # Bearer token for GET /metrics; unset: only loopback clients, never through a proxy.
    metrics_token: SecretStr | None = None
    log_level: str = "info"
    event_path: str = "/webevent"
    # `shoptrack serve`'s HTTP worker processes on the one port (unset: one per CPU core) and
    # the server they run on (cli/serving.py); the processor worker is one more process.
    workers: int | None = Field(None, ge=1, le=1024)
    http_server: Literal["uvicorn", "granian"] = "uvicorn"

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
    # An erasure first waits for the identity processor to read the site's committed events
    # (no identity of the person may still wait to be linked); past this it answers 503.
    erasure_wait_s: float = Field(30.0, gt=0, le=600)
    # Segments follow the events as they arrive; every this many seconds the worker also
    # evaluates each one in full, as time moves people out of windows.
    segment_refresh_s: float = Field(300.0, ge=5, le=86_400)

    # --- dashboard (/admin) ---------------------------------------------------------------
    # How long a sign-in lasts. Cookies are Secure unless the request came over plain HTTP
    # to a loopback address; plain HTTP to any other host is refused at sign-in unless
    # admin_allow_http is set (a password would cross the network in the clear).
    admin_session_hours: float = Field(12.0, gt=0, le=24 * 90)
    admin_allow_http: bool = False

    # --- product catalogue ----------------------------------------------------------------
    feed_batch_size: int = Field(2000, ge=1, le=100_000)
    feed_timeout_s: float = Field(30.0, gt=0)
    feed_max_seconds: float = Field(3600.0, gt=0)
    feed_max_bytes: int = Field(2 * 1024**3, ge=1024)
    feed_report_examples: int = Field(100, ge=0, le=10_000)
    feed_timezone: str = "UTC"
    feed_allow_private_hosts: bool = False
    feed_schedule_interval_s: float = Field(30.0, gt=0, le=3600)
    # A feed body arriving slower than this (averaged over the window's seconds of waiting)
    # fails, freeing its import thread; 0 turns the floor off.
    feed_min_bytes_per_s: int = Field(1024, ge=0)
    feed_min_rate_window_s: float = Field(30.0, gt=0, le=3600)
    # Import threads shared by all sites; a site uses one at a time (catalog/import_queue.py).
    feed_import_threads: int = Field(4, ge=1, le=64)
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
    # Visitors' recent events kept in memory for serving (recommend/history.py): at most this
    # many events over all visitors (least recently served dropped first; ~0.3 KB each), each
    # visitor re-read from the store after the TTL; 0 reads the store on every request.
    recs_history_items: int = Field(500_000, ge=0, le=100_000_000)
    recs_history_ttl_s: float = Field(600.0, gt=0, le=7 * 86400)
    # How often a serving process reads the log's new events into those histories (0: before
    # every request that uses one).
    recs_history_poll_s: float = Field(0.1, ge=0, le=60)
    # redis://host:6379/0: the histories live in Redis, shared by every serving process, not in
    # each process's memory. A secret: it may hold a password, so never logged or shown.
    redis_url: SecretStr | None = None

    # --- recommendation reports -----------------------------------------------------------
    attribution_window_days: int = Field(7, ge=0, le=365)
    # Bot traffic (browser events whose agent is flagged ``is_bot``) in reports and training.
    include_bots: bool = False

    # --- triggers (abandoned cart, browse …; triggers/) --------------------------------------
    # At most this many trigger messages per contact per 24 hours, all rules together.
    triggers_daily_cap: int = Field(2, ge=1, le=1000)
    # How often the worker decides the due episodes and hands due messages to their channel.
    triggers_tick_interval_s: float = Field(5.0, gt=0, le=15)
    # An attempt with no outcome this long after it started belongs to a worker that died.
    triggers_stale_attempt_s: float = Field(300.0, ge=10, le=86400)

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

    @property
    def key_path(self) -> Path:
        """Where the key file is, as an absolute path (it is named in every key message).

        The default follows the SQLite database file rather than the working directory: the
        old default, ``./shoptrack.keys``, was relative, so a server started from another
        directory made a fresh key file and lost the way to the store's personal data. For
        the default database (``./shoptrack.db``) both defaults name the same file.
        """
        if self.key_file is not None:
            return self.key_file.expanduser().absolute()
        database = _sqlite_file(self.database_url)
        if database is not None:
            return database.with_suffix(".keys")
        return Path("shoptrack.keys").absolute()

    @property
    def http_workers(self) -> int:
        """How many HTTP worker processes serve runs: ``workers``, else one per core."""
        return self.workers or os.cpu_count() or 1

    @field_validator("key_file", "workers", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("feed_timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        try:
            ZoneInfo(value)
        except (ValueError, KeyError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("trusted_hosts")
    @classmethod
    def _check_trusted_hosts(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        for pattern in _split_hosts(value):
            if pattern != "*" and not _HOST_PATTERN.match(pattern):
                raise ValueError(f"{pattern!r} is not a host name, an IP address, *.domain or *")
        return value

    @model_validator(mode="after")
    def _any_host_needs_public_url(self) -> Settings:
        # With any Host accepted, only public_url keeps redirects and the tracker's endpoint
        # from following whatever Host a request (or a cache-poisoning one) sends.
        if "*" in self.trusted_host_patterns() and not self.public_url:
            raise ValueError("SHOPTRACK_TRUSTED_HOSTS=* needs SHOPTRACK_PUBLIC_URL")
        return self

    def trusted_host_patterns(self) -> frozenset[str]:
        """The Host names (lower case, without port) requests may carry, wildcards included."""
        if self.trusted_hosts:
            return frozenset(_split_hosts(self.trusted_hosts))
        names = {"localhost", "127.0.0.1", "[::1]"}
        if self.public_url:
            public_host = urlsplit(self.public_url).hostname
            if public_host:
                names.add(_bracketed(public_host))
        if self.host not in _ANY_ADDRESS:
            names.add(_bracketed(self.host.lower()))
        return frozenset(names)

    @field_validator("sqlite_synchronous")
    @classmethod
    def _check_synchronous(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError("must be one of OFF, NORMAL, FULL, EXTRA")
        return upper


_ANY_ADDRESS = frozenset({"0.0.0.0", "::", ""})
# A DNS name or IPv4 address, optionally "*." before it, or a bracketed IPv6 address.
_HOST_PATTERN = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_.-]{0,252})$|^\[[0-9a-f:.]{2,45}\]$")


def _split_hosts(value: str) -> list[str]:
    return [_bracketed(part.strip().lower()) for part in value.split(",") if part.strip()]


def _bracketed(host: str) -> str:
    """IPv6 literals as the Host header writes them: ``[::1]``."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _sqlite_file(database_url: str) -> Path | None:
    """The database file of a SQLite URL (absolute); None for other stores and ``:memory:``."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        return None
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(str(url.database)).expanduser().absolute()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()

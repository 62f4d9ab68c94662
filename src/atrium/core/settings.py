"""Runtime configuration: every knob is an ``ATRIUM_*`` environment variable (or `.env`)."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "atrium-development-secret-key-change-me"


class InsecureConfiguration(RuntimeError):
    """Raised at start-up when a setting is unsafe for the chosen environment."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ATRIUM_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = Field(
        "development", description="`production` refuses insecure defaults."
    )
    secret_key: SecretStr = Field(SecretStr(DEVELOPMENT_SECRET_KEY), description="Signs cookies and derives keys.")
    data_dir: Path = Field(Path("./var"), description="Embedded stores: SQLite files, objects, mailbox.")
    database_url: str | None = Field(
        None, description="Platform database; `postgresql://…` or `sqlite:///…`. Default: SQLite in the data dir."
    )
    broker_url: str = Field("memory://", description="`memory://` (in-process) or `amqp://…` (RabbitMQ).")
    redis_url: str | None = Field(None, description="Redis for caches and rate limits; unset means in-memory.")
    regions: dict[str, str] = Field(
        default_factory=dict,
        description='Region → server URL for database-mode tenants, e.g. {"eu": "postgresql://host/postgres"}. '
        "The region `default` is always the platform database's own server.",
    )
    default_region: str = Field("default", description="Region used when a tenant names none.")
    pool_size: int = Field(10, ge=1, description="Platform engine pool size.")
    pool_max_overflow: int = Field(10, ge=0)
    db_pool_pre_ping: bool = Field(
        False,
        description="Test each pooled PostgreSQL connection before use (one more round trip per checkout). "
        "Off by default: a dead connection fails one request and is replaced; connections are recycled.",
    )
    db_pool_recycle_seconds: int = Field(1800, ge=-1, description="Replace pooled connections older than this.")
    tenant_engine_cache_size: int = Field(32, ge=1, description="Database-mode engines kept open (LRU).")
    tenant_pool_size: int = Field(2, ge=1, description="Pool size of each database-mode tenant engine.")
    tenant_pool_max_overflow: int = Field(2, ge=0)
    tenant_cache_ttl_seconds: float = Field(10.0, ge=0, description="How long a resolved tenant is cached.")
    sqlite_busy_timeout_ms: int = Field(10_000, ge=0)
    app_role: str = Field("atrium_app", description="PostgreSQL role (no BYPASSRLS) that tenant sessions run as.")
    audit_signing_key: SecretStr | None = Field(
        None, description="Base64 Ed25519 seed for audit checkpoints; derived from the secret key in development."
    )
    audit_checkpoint_interval_seconds: int = Field(300, ge=1)
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted.")
    event_max_attempts: int = Field(5, ge=1, description="Deliveries of an event to a consumer before dead-lettering.")
    event_retry_base_seconds: float = Field(0.2, ge=0)
    relay_batch_size: int = Field(200, ge=1)
    smtp_url: str | None = Field(
        None, description="`smtp://user:pass@host:port` (`smtps://` for TLS); unset writes mail to the local mailbox."
    )
    mail_from: str = Field("Atrium <no-reply@atrium.local>", description="Sender of platform mail.")
    public_url: str = Field("http://127.0.0.1:8000", description="Base URL used in links sent by mail.")
    sms_provider: Literal["off", "file", "webhook"] = Field(
        "off",
        description="SMS second factor: `off` (not offered), `file` (development: messages written under "
        "`<data dir>/sms`) or `webhook` (POST `{to, text}` as JSON to `sms_webhook_url`).",
    )
    sms_webhook_url: str | None = Field(None, description="Where the `webhook` SMS provider posts each message.")
    sms_webhook_token: SecretStr | None = Field(
        None, description="Sent as `Authorization: Bearer …` to the SMS webhook, when set."
    )
    signup_mode: Literal["open", "invite_only"] = Field("open", description="`invite_only` disables self-serve signup.")
    terms_version: str = Field("2026-11", description="Version of the terms and DPA accepted at signup.")
    email_token_ttl_minutes: int = Field(60 * 24, ge=1, description="Lifetime of an email verification token.")
    session_idle_minutes: int = Field(30, ge=1, description="A browser session ends after this long unused.")
    session_absolute_hours: int = Field(12, ge=1, description="A browser session ends this long after sign-in.")
    outbound_private_networks: bool = Field(
        False,
        description="In production, may IdP metadata/discovery URLs a tenant enters point at private networks? "
        "Off: such fetches are refused (SSRF guard); turn on for IdPs on the platform's internal network.",
    )
    password_hash_time_cost: int = Field(3, ge=1, description="Argon2id passes (about 100 ms per hash at 3 × 64 MiB).")
    password_hash_memory_kib: int = Field(65536, ge=8, description="Argon2id memory in KiB.")
    trusted_device_days: int = Field(
        30, ge=0, le=90, description="Days a browser may skip the second factor for people in no tenant (0: never)."
    )
    password_reset_ttl_minutes: int = Field(15, ge=1, description="Lifetime of a password-reset token.")
    api_key_cache_seconds: float = Field(
        5.0,
        ge=0,
        description="How long a verified API key is trusted without a query (revocation elsewhere: at most this).",
    )
    oauth_token_minutes: int = Field(
        10,
        ge=1,
        le=60,
        description="Lifetime of an OAuth access token (JWT). Kept short: a token issued before its client "
        "was revoked works until it expires in processes that have not heard of the revocation.",
    )
    login_max_failures: int = Field(5, ge=1, description="Failed sign-ins (per account, per IP) before backoff.")
    login_failure_window_minutes: int = Field(15, ge=1)
    log_level: str = "INFO"
    log_json: bool = True

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def platform_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'platform.db'}"

    def region_server_url(self, region: str) -> str | None:
        """The server that holds a region's database-mode tenants, or None when none is configured."""
        if region in self.regions:
            return self.regions[region]
        if region == "default":
            return self.platform_database_url
        return None

    @property
    def known_regions(self) -> list[str]:
        return sorted({"default", *self.regions})

    def check(self) -> None:
        """Refuse to start with the development secret anywhere but development mode."""
        if self.env != "development" and self.secret_key.get_secret_value() == DEVELOPMENT_SECRET_KEY:
            raise InsecureConfiguration("ATRIUM_SECRET_KEY must be set to a unique secret outside development")
        if self.env == "production" and len(self.secret_key.get_secret_value()) < 32:
            raise InsecureConfiguration("ATRIUM_SECRET_KEY must be at least 32 characters in production")
        if self.env == "production" and (self.password_hash_memory_kib < 19456 or self.password_hash_time_cost < 2):
            raise InsecureConfiguration("Argon2id below OWASP's floor (19 MiB, 2 passes) is refused in production")
        if self.sms_provider == "webhook":
            schemes = ("https://",) if self.env == "production" else ("https://", "http://")
            if not (self.sms_webhook_url or "").startswith(schemes):
                raise InsecureConfiguration("ATRIUM_SMS_WEBHOOK_URL must be https:// (http:// outside production)")


@functools.cache
def get_settings() -> Settings:
    return Settings()

"""Delivery settings from the environment (prefix PATRON_): SMTP, webhook secrets, retries."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NotifySettings(BaseSettings):
    """How the worker reaches each channel and how hard it retries."""

    model_config = SettingsConfigDict(env_prefix="PATRON_", extra="ignore")

    smtp_host: str = "localhost"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "patron@localhost"
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    # Signs generic webhook bodies; the receiver checks X-Patron-Signature with it.
    webhook_secret: str | None = None
    # Where a rule's `notify` with channel webhook goes.
    webhook_url: str | None = None
    # Where customers reach Patron's public pages (survey links in messages).
    public_url: str = "http://127.0.0.1:8000"
    dingtalk_secret: str | None = None
    feishu_secret: str | None = None
    notify_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    notify_max_attempts: int = Field(default=8, ge=1, le=100)
    notify_backoff_seconds: int = Field(default=30, ge=1)
    notify_backoff_cap_seconds: int = Field(default=6 * 3600, ge=1)
    notify_lease_seconds: int = Field(default=300, ge=5)
    notify_batch_size: int = Field(default=20, ge=1, le=1000)


@lru_cache
def get_notify_settings() -> NotifySettings:
    """The process-wide delivery settings, read once."""
    return NotifySettings()

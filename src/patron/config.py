"""Settings from the environment (prefix PATRON_), refusing default secrets outside development."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from patron.errors import ConfigError

DEFAULT_DATABASE_URL = "sqlite:///patron.db"
DEVELOPMENT_SECRET = "development-only-secret-change-me"


class Settings(BaseSettings):
    """Everything Patron reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="PATRON_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = DEVELOPMENT_SECRET
    default_region: str = "CN"
    timezone: str = "Asia/Shanghai"
    locale: Literal["zh_CN", "en"] = "zh_CN"
    import_batch_size: int = 100_000
    # SQLite page cache of an import's connection, MiB: the index pages a batch writes into
    # stay in memory (used as needed, given back when the import ends).
    import_cache_mib: int = 2048
    # On SQLite, `patron import` commits batches together up to this many rows (or 10 s).
    import_commit_rows: int = 1_000_000
    # Files uploaded to /api/v1/imports and their rejects (default: the system's temp folder).
    import_dir: str | None = None
    import_max_bytes: int = 200 * 1024 * 1024

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment == "production" and self.secret_key == DEVELOPMENT_SECRET:
            raise ConfigError(
                "PATRON_SECRET_KEY is the development default: set a long random secret "
                "before running in production."
            )
        if self.environment == "production" and len(self.secret_key) < 32:
            raise ConfigError("PATRON_SECRET_KEY must be at least 32 characters in production.")
        return self


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()

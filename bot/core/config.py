"""Settings from `LOTSE_*` environment variables and `.env`; a wrong value stops startup with one line."""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TELEGRAM_TOKEN = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,200}")
MATRIX_USER_ID = re.compile(r"@[a-z0-9._=/+-]{1,255}:[A-Za-z0-9.:\[\]-]{1,255}")


class SettingsError(Exception):
    """One line for the operator naming the setting that is wrong."""


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lotse"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOTSE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None
    network_file: Path | None = None
    idle_minutes: int = Field(default=60, ge=1, le=7 * 24 * 60)
    log_level: str = "INFO"

    telegram_token: str | None = None
    telegram_base_url: str | None = None
    telegram_webhook_url: str | None = None
    telegram_bot_username: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
    """Only for the invite links `lotse invite` prints (t.me/NAME?start=CODE)."""
    telegram_webhook_listen: str = "127.0.0.1:8443"
    """Where webhook mode listens (host:port), behind the reverse proxy that serves the public URL."""
    telegram_webhook_secret: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,256}$")
    matrix_homeserver: str | None = None
    matrix_user_id: str | None = None
    matrix_password: str | None = None
    matrix_access_token: str | None = None
    matrix_store_dir: Path | None = None
    matrix_allowed_homeservers: str | None = None
    """Comma-separated server names (e.g. `matrix.org,example.org`) whose users may invite Lotse to a direct chat;
    unset: anyone's."""

    # The Montagsrunde digest (issue 8)
    digest_schedule: str = "mon 07:30"
    """Weekday and time (Europe/Berlin) when coordinators get the week's digest."""
    digest_room: str | None = Field(default=None, pattern=r"^[a-z]+:\S+$")
    """The coordinators' room that also gets the digest for all districts, as TRANSPORT:CHAT."""

    @field_validator("digest_schedule")
    @classmethod
    def _digest_schedule(cls, value: str) -> str:
        from bot.core.schedule import Schedule

        Schedule.parse(value)
        return value
    # Several processes on one PostgreSQL (docs/operations.md)
    outbox_lease_seconds: float = Field(default=15.0, ge=1.0, le=600.0)
    """A claimed outbox row is another process's after this long, when its claimer died before marking it."""
    health_listen: str | None = None
    """Serve /healthz and /metrics on this host:port (e.g. 127.0.0.1:9464); unset: off."""
    # Privacy and abuse limits (docs/privacy.md)
    inbound_per_minute: int = Field(default=30, ge=5, le=10_000)
    """Messages one person may send within a minute; more get one notice, then `flood_pause_minutes` of silence."""
    flood_pause_minutes: int = Field(default=5, ge=1, le=24 * 60)
    retention_closed_question_days: int = Field(default=90, ge=1, le=3650)
    """Closed questions, their messages and attachments are deleted this long after closing."""
    retention_message_days: int = Field(default=30, ge=1, le=3650)
    """Copies of handled inbound and delivered outbound messages (the inbox and outbox) are deleted after this."""
    retention_warning_days: int = Field(default=30, ge=1, le=180)
    """Inactive people are told this long before their data is deleted (the period is the network file's
    `retention_months`, the one the privacy notice promises)."""
    retention_unconsented_days: int = Field(default=30, ge=1, le=3650)
    """People who never agreed, or withdrew their consent, are deleted after this long without a message."""
    retention_audit_months: int = Field(default=24, ge=1, le=120)

    # Machine translation (docs/translation.md); off unless set here and allowed by the network file
    translation_engine: Literal["libretranslate", "deepl"] | None = None
    translation_url: str | None = None
    """LibreTranslate: your server. DeepL: optional; by default the free or pro host, chosen by the key."""
    translation_key: str | None = None
    translation_timeout: float = Field(default=10.0, ge=0.5, le=120)
    """Seconds one background translation may take; a conversation never waits more than 2 s."""
    translation_external_ok: bool = False
    """An engine outside the operator's own servers (DeepL) receives participants' text: allowed only if true."""

    @field_validator("translation_engine", "translation_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and value.strip() == "" else value

    @field_validator("translation_url")
    @classmethod
    def _translation_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not value.strip().startswith(("http://", "https://")):
            raise ValueError("must be the engine's URL, like http://127.0.0.1:5000")
        return value.strip().rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must start with sqlite+aiosqlite:// or postgresql+asyncpg://")
        return value

    @field_validator("telegram_token")
    @classmethod
    def _telegram_token_shape(cls, value: str | None) -> str | None:
        """Catches a pasted-wrong token before any network call: BotFather's tokens are `<bot id>:<secret>`."""
        if value is None or value.strip() == "":
            return None
        if not TELEGRAM_TOKEN.fullmatch(value.strip()):
            raise ValueError("is not a bot token from @BotFather (expected digits, a colon, then letters, "
                             "digits, - or _)")
        return value.strip()

    @field_validator("telegram_webhook_listen", "health_listen")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be HOST:PORT, e.g. 127.0.0.1:8443")
        return value

    @property
    def telegram_webhook_address(self) -> tuple[str, int]:
        host, _, port = self.telegram_webhook_listen.rpartition(":")
        return host.strip("[]"), int(port)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level

    @field_validator("network_file")
    @classmethod
    def _existing_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.data_dir / 'lotse.sqlite3'}"

    @property
    def matrix_allowed_servers(self) -> frozenset[str] | None:
        if not self.matrix_allowed_homeservers or not self.matrix_allowed_homeservers.strip():
            return None
        return frozenset(part.strip().lower() for part in self.matrix_allowed_homeservers.split(",") if part.strip())

    @property
    def resolved_matrix_store_dir(self) -> Path:
        """Access token, device id and the encryption keys; losing it means a new device and unreadable history."""
        return self.matrix_store_dir or self.data_dir / "matrix"

    @field_validator("matrix_user_id")
    @classmethod
    def _matrix_user_id_shape(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not MATRIX_USER_ID.fullmatch(value.strip()):
            raise ValueError("must be a full Matrix user id like @lotse:example.org")
        return value.strip()

    @field_validator("matrix_homeserver")
    @classmethod
    def _matrix_homeserver_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        if not value.strip().startswith(("http://", "https://")):
            raise ValueError("must be the homeserver's URL, like https://matrix.example.org")
        return value.strip().rstrip("/")


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        first = error.errors()[0]
        name = "LOTSE_" + "_".join(str(part) for part in first["loc"]).upper()
        raise SettingsError(f"setting {name}: {first['msg']}") from None


# ---------------------------------------------------------------------------------------------------------------
# Secrets never reach the logs: every handler redacts the configured ones, whoever logs them


def secrets_of(settings: Settings) -> list[str]:
    """The values that must never appear in a log line or an export."""
    import hashlib
    import hmac

    from sqlalchemy.engine import make_url

    found = [settings.matrix_password, settings.matrix_access_token, settings.telegram_webhook_secret,
             settings.translation_key]
    if settings.telegram_token:
        found += [settings.telegram_token, settings.telegram_token.partition(":")[2],
                  hmac.new(settings.telegram_token.encode(), b"lotse-webhook", hashlib.sha256).hexdigest()]
    if settings.database_url:
        found.append(make_url(settings.database_url).password)
    return sorted({str(value) for value in found if value and len(str(value)) >= 6}, key=len, reverse=True)


class RedactSecrets(logging.Filter):
    """Replaces each secret in a record (message, arguments and traceback) with `***`."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = secrets

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info:
            record.exc_text = self._clean(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


def install_secret_filter(settings: Settings) -> None:
    secret_filter = RedactSecrets(secrets_of(settings))
    for handler in logging.getLogger().handlers:
        handler.addFilter(secret_filter)

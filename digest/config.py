"""Settings read from ``DIGEST_*`` environment variables.

Only the application factory calls :func:`load_settings`; nothing reads the
environment at import time. With nothing set, the service runs on embedded
defaults: SQLite and a mail outbox in the data folder, and Celery tasks run in
the calling process instead of through a broker.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from email.utils import parseaddr
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from digest.errors import ConfigError

PREFIX = "DIGEST_"
MAIL_BACKENDS = ("outbox", "sendgrid", "smtp")
INSECURE_SECRET_KEY = "insecure-development-key"
BROKER_SCHEMES = ("redis", "rediss", "sentinel", "amqp", "amqps", "pyamqp", "memory")
DATABASE_BACKENDS = ("postgresql", "sqlite")
_TIME_OF_DAY = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Settings:
    """Every setting of one running service, with its embedded default."""

    data_dir: Path
    database_url: str
    broker_url: str | None
    base_url: str
    secret_key: str
    mail_backend: str
    mail_from: str
    outbox_dir: Path
    sendgrid_api_key: str | None = None
    sendgrid_host: str = "https://api.sendgrid.com"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    feeds: tuple[str, ...] = ()
    max_papers: int = 20
    nightly_at: tuple[int, int] = (5, 0)
    site_name: str = "Paper Digest"

    @property
    def eager_tasks(self) -> bool:
        """True when no broker is configured, so tasks run in the calling process."""
        return self.broker_url is None


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from ``DIGEST_*`` variables, raising ConfigError on a bad value."""
    env = os.environ if environ is None else environ

    def get(name: str) -> str | None:
        value = env.get(PREFIX + name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    data_dir = Path(get("DATA_DIR") or "instance").resolve()
    database_url = get("DATABASE_URL") or f"sqlite:///{data_dir / 'digest.sqlite3'}"
    _check_database_url(database_url)
    broker_url = get("BROKER_URL")
    if broker_url is not None:
        _check_url("BROKER_URL", broker_url, BROKER_SCHEMES)
    mail_from = get("MAIL_FROM") or "Paper Digest <digest@localhost>"
    if "@" not in parseaddr(mail_from)[1]:
        raise ConfigError(
            f"{PREFIX}MAIL_FROM={mail_from!r} has no email address: write it as 'Name <address@example.org>'."
        )
    base_url = (get("BASE_URL") or "http://127.0.0.1:5000").rstrip("/")
    _check_url("BASE_URL", base_url, ("http", "https"))

    mail_backend = (get("MAIL_BACKEND") or "outbox").lower()
    if mail_backend not in MAIL_BACKENDS:
        raise ConfigError(
            f"{PREFIX}MAIL_BACKEND={mail_backend!r} is not a known mail backend: "
            f"set it to one of {', '.join(MAIL_BACKENDS)}."
        )
    sendgrid_api_key = get("SENDGRID_API_KEY")
    if mail_backend == "sendgrid" and sendgrid_api_key is None:
        raise ConfigError(
            f"{PREFIX}MAIL_BACKEND='sendgrid' needs an API key: set {PREFIX}SENDGRID_API_KEY."
        )
    sendgrid_host = (get("SENDGRID_HOST") or "https://api.sendgrid.com").rstrip("/")
    _check_url("SENDGRID_HOST", sendgrid_host, ("http", "https"))

    # NOTE: the fallback key is public, so links signed with it can be forged. It only
    # suits a trial on one's own machine, and create_app logs a warning when it is used.
    secret_key = get("SECRET_KEY") or INSECURE_SECRET_KEY

    feeds = tuple(part for part in re.split(r"[\s,]+", get("FEEDS") or "") if part)

    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        broker_url=broker_url,
        base_url=base_url,
        secret_key=secret_key,
        mail_backend=mail_backend,
        mail_from=mail_from,
        outbox_dir=Path(get("OUTBOX_DIR") or data_dir / "outbox").resolve(),
        sendgrid_api_key=sendgrid_api_key,
        sendgrid_host=sendgrid_host,
        smtp_host=get("SMTP_HOST") or "127.0.0.1",
        smtp_port=_int_setting(get, "SMTP_PORT", 25, minimum=1, maximum=65535),
        smtp_username=get("SMTP_USERNAME"),
        smtp_password=get("SMTP_PASSWORD"),
        smtp_starttls=_bool_setting(get, "SMTP_STARTTLS", False),
        feeds=feeds,
        max_papers=_int_setting(get, "MAX_PAPERS", 20, minimum=1, maximum=200),
        nightly_at=_time_setting(get, "NIGHTLY_AT", "05:00"),
        site_name=get("SITE_NAME") or "Paper Digest",
    )


def _check_url(name: str, value: str, schemes: tuple[str, ...]) -> None:
    try:
        parts = urlsplit(value)
        valid = parts.scheme in schemes and bool(parts.netloc)
    except ValueError:
        valid = False
    if not valid:
        raise ConfigError(
            f"{PREFIX}{name}={_hide_password(value)!r} is not a valid URL: write it as "
            f"{schemes[0]}://host[:port][/path], with a scheme among {', '.join(schemes)}."
        )


def _check_database_url(value: str) -> None:
    try:
        backend = make_url(value).get_backend_name()
    except ArgumentError:
        backend = None
    if backend not in DATABASE_BACKENDS:
        raise ConfigError(
            f"{PREFIX}DATABASE_URL={_hide_password(value)!r} is not a PostgreSQL or SQLite URL: write it as "
            "postgresql+psycopg://user:password@host/name or sqlite:////absolute/path.sqlite3."
        )


def _hide_password(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``, for error messages."""
    return re.sub(r"(://[^/:@]*:)[^/]*@", r"\1***@", url)


def _int_setting(get, name: str, default: int, *, minimum: int, maximum: int) -> int:
    raw = get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not minimum <= value <= maximum:
        raise ConfigError(
            f"{PREFIX}{name}={raw!r} is invalid: set a whole number from {minimum} to {maximum}."
        )
    return value


def _bool_setting(get, name: str, default: bool) -> bool:
    raw = get(name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{PREFIX}{name}={raw!r} is invalid: set it to true or false.")


def _time_setting(get, name: str, default: str) -> tuple[int, int]:
    raw = get(name) or default
    match = _TIME_OF_DAY.match(raw)
    if match is None:
        raise ConfigError(
            f"{PREFIX}{name}={raw!r} is not a time of day: write it as HH:MM in UTC, such as 05:30."
        )
    return int(match.group(1)), int(match.group(2))

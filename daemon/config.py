"""Configuration: read from the environment once, into a frozen, typed object.

Only this module reads ``os.environ``. Every bad value raises ConfigError naming
the variable; the CLI turns that into one line on stderr and exit status 2.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

from calsync.errors import ConfigError

DEFAULT_LISTEN: Final = "127.0.0.1:8080"
DEFAULT_DATABASE_URL: Final = "sqlite:///./calsync.db"
DEFAULT_GOOGLE_API_URL: Final = "https://www.googleapis.com/calendar/v3"
DEFAULT_GOOGLE_TOKEN_URL: Final = "https://oauth2.googleapis.com/token"
DEFAULT_GRAPH_API_URL: Final = "https://graph.microsoft.com/v1.0"
DEFAULT_GRAPH_TOKEN_URL: Final = "https://login.microsoftonline.com/common/oauth2/v2.0/token"

LogFormat = Literal["json", "console"]


@dataclass(frozen=True, slots=True)
class Settings:
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    database_url: str = DEFAULT_DATABASE_URL
    kafka_bootstrap: tuple[str, ...] = ()
    kafka_enable_idempotence: bool = True
    kafka_partitions: int = 8
    kafka_replication_factor: int = 1
    secret_keys: tuple[str, ...] = ()
    google_api_url: str = DEFAULT_GOOGLE_API_URL
    google_token_url: str = DEFAULT_GOOGLE_TOKEN_URL
    graph_api_url: str = DEFAULT_GRAPH_API_URL
    graph_token_url: str = DEFAULT_GRAPH_TOKEN_URL
    smtp_url: str | None = None
    log_format: LogFormat = "json"
    log_level: str = "info"
    shutdown_timeout: float = 6.0
    bus_max_attempts: int = 5
    auto_migrate: bool = True

    @property
    def uses_kafka(self) -> bool:
        return bool(self.kafka_bootstrap)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _listen(raw: str) -> tuple[str, int]:
    host, sep, port_text = raw.rpartition(":")
    if not sep or not host:
        raise ConfigError("CALSYNC_LISTEN", f"expected host:port, got {raw!r}")
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError("CALSYNC_LISTEN", f"port {port_text!r} is not a number") from None
    if not 0 <= port <= 65535:
        raise ConfigError("CALSYNC_LISTEN", f"port {port} is out of range 0-65535")
    return host, port


def _http_url(variable: str, raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(variable, f"expected an http(s) URL, got {raw!r}")
    try:
        _ = parts.port
    except ValueError as err:
        raise ConfigError(variable, f"bad port in {raw!r}: {err}") from None
    return raw.rstrip("/")


def _database_url(raw: str) -> str:
    scheme = urlsplit(raw).scheme
    if scheme.startswith("sqlite"):
        if not raw.startswith(("sqlite:///", "sqlite+aiosqlite:///")):
            raise ConfigError("CALSYNC_DATABASE_URL", f"expected sqlite:///PATH, got {raw!r}")
        return raw
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        if not urlsplit(raw).hostname and "host=" not in raw:
            raise ConfigError("CALSYNC_DATABASE_URL", f"no host in {raw!r}")
        return raw
    raise ConfigError(
        "CALSYNC_DATABASE_URL",
        f"unsupported scheme {scheme!r}; use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
    )


def _bootstrap(raw: str) -> tuple[str, ...]:
    servers = tuple(s.strip() for s in raw.split(",") if s.strip())
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) <= 65535:
            raise ConfigError("CALSYNC_KAFKA_BOOTSTRAP", f"expected host:port[,host:port...], got {raw!r}")
    return servers


def _secret_keys(raw: str) -> tuple[str, ...]:
    """Comma-separated Fernet keys, newest first (MultiFernet order: encrypt with the first)."""
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    for key in keys:
        try:
            decoded = base64.urlsafe_b64decode(key.encode())
        except (binascii.Error, ValueError):
            decoded = b""
        if len(decoded) != 32:
            raise ConfigError(
                "CALSYNC_SECRET_KEY",
                "each key must be 32 url-safe base64-encoded bytes (generate one with `calsync secret-key`)",
            )
    return keys


def _smtp_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError("CALSYNC_SMTP_URL", f"expected smtp://[user:pass@]host:port, got {raw!r}")
    try:
        _ = parts.port
    except ValueError as err:
        raise ConfigError("CALSYNC_SMTP_URL", f"bad port: {err}") from None
    return raw


def _bool(variable: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(variable, f"expected true or false, got {raw!r}")


def _int(variable: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(variable, f"expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(variable, f"{value} is out of range {low}-{high}")
    return value


def _float(variable: str, raw: str, low: float, high: float) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(variable, f"expected a number, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(variable, f"{value} is out of range {low}-{high}")
    return value


def load_settings(env: Mapping[str, str]) -> Settings:
    """Parse every CALSYNC_* variable; unset or empty means the documented default."""

    def get(name: str) -> str | None:
        value = env.get(name)
        return value if value not in (None, "") else None

    host, port = _listen(get("CALSYNC_LISTEN") or DEFAULT_LISTEN)
    display_host = f"[{host}]" if ":" in host else host
    public = get("CALSYNC_PUBLIC_URL")
    database_url = _database_url(get("CALSYNC_DATABASE_URL") or DEFAULT_DATABASE_URL)
    log_format = get("CALSYNC_LOG_FORMAT") or "json"
    if log_format not in ("json", "console"):
        raise ConfigError("CALSYNC_LOG_FORMAT", f"expected json or console, got {log_format!r}")
    log_level = (get("CALSYNC_LOG_LEVEL") or "info").lower()
    if log_level not in ("debug", "info", "warning", "error"):
        raise ConfigError("CALSYNC_LOG_LEVEL", f"expected debug, info, warning or error, got {log_level!r}")
    smtp = get("CALSYNC_SMTP_URL")
    auto_migrate_raw = get("CALSYNC_AUTO_MIGRATE")
    return Settings(
        listen_host=host,
        listen_port=port,
        public_url=_http_url("CALSYNC_PUBLIC_URL", public) if public else f"http://{display_host}:{port}",
        database_url=database_url,
        kafka_bootstrap=_bootstrap(get("CALSYNC_KAFKA_BOOTSTRAP") or ""),
        kafka_enable_idempotence=_bool(
            "CALSYNC_KAFKA_IDEMPOTENCE", get("CALSYNC_KAFKA_IDEMPOTENCE") or "true"
        ),
        kafka_partitions=_int("CALSYNC_KAFKA_PARTITIONS", get("CALSYNC_KAFKA_PARTITIONS") or "8", 1, 1024),
        kafka_replication_factor=_int(
            "CALSYNC_KAFKA_REPLICATION_FACTOR", get("CALSYNC_KAFKA_REPLICATION_FACTOR") or "1", 1, 16
        ),
        secret_keys=_secret_keys(get("CALSYNC_SECRET_KEY") or ""),
        google_api_url=_http_url(
            "CALSYNC_GOOGLE_API_URL", get("CALSYNC_GOOGLE_API_URL") or DEFAULT_GOOGLE_API_URL
        ),
        google_token_url=_http_url(
            "CALSYNC_GOOGLE_TOKEN_URL", get("CALSYNC_GOOGLE_TOKEN_URL") or DEFAULT_GOOGLE_TOKEN_URL
        ),
        graph_api_url=_http_url(
            "CALSYNC_GRAPH_API_URL", get("CALSYNC_GRAPH_API_URL") or DEFAULT_GRAPH_API_URL
        ),
        graph_token_url=_http_url(
            "CALSYNC_GRAPH_TOKEN_URL", get("CALSYNC_GRAPH_TOKEN_URL") or DEFAULT_GRAPH_TOKEN_URL
        ),
        smtp_url=_smtp_url(smtp) if smtp else None,
        log_format=log_format,  # type: ignore[arg-type]  # checked above
        log_level=log_level,
        shutdown_timeout=_float(
            "CALSYNC_SHUTDOWN_TIMEOUT", get("CALSYNC_SHUTDOWN_TIMEOUT") or "6", 0.5, 600.0
        ),
        bus_max_attempts=_int("CALSYNC_BUS_MAX_ATTEMPTS", get("CALSYNC_BUS_MAX_ATTEMPTS") or "5", 1, 100),
        auto_migrate=(
            _bool("CALSYNC_AUTO_MIGRATE", auto_migrate_raw)
            if auto_migrate_raw
            else database_url.startswith("sqlite")
        ),
    )

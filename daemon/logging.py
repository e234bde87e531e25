"""structlog set-up: one processor chain, JSON by default, secrets and e-mail addresses redacted.

The chain is built by ``build_processors`` so tests can run the very same chain
through structlog's CapturingLoggerFactory (``capture_logs()`` skips processors
and so cannot prove redaction). Standard-library loggers (aiohttp, aiokafka,
alembic) are routed through the same chain via ProcessorFormatter.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Final

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED: Final = "[redacted]"

# Field names whose values are secrets or personal data, whatever they contain.
SENSITIVE_KEYS: Final = frozenset(
    {
        "access_token",
        "refresh_token",
        "id_token",
        "token",
        "channel_token",
        "x-goog-channel-token",
        "client_state",
        "clientstate",
        "client_secret",
        "secret",
        "secret_key",
        "webhook_secret",
        "password",
        "authorization",
        "api_key",
        "apikey",
        "key_plaintext",
        "validation_token",
        "validationtoken",
        "email",
        "client_email",
        "to",
        "recipient",
    }
)

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_BEARER = re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+")
_API_KEY = re.compile(r"\bcsk_[A-Za-z0-9_-]+")
_FERNET = re.compile(r"\bgAAAAA[A-Za-z0-9_=-]{20,}")
_QUERY_SECRET = re.compile(r"(?i)((?:validationToken|access_token|refresh_token|token|code)=)[^&\s\"']+")


def _scrub_text(text: str) -> str:
    text = _BEARER.sub(r"\1 " + REDACTED, text)
    text = _API_KEY.sub(REDACTED, text)
    text = _FERNET.sub(REDACTED, text)
    text = _QUERY_SECRET.sub(r"\1" + REDACTED, text)
    return _EMAIL.sub("[email]", text)


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 6:
        return value
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, MutableMapping):
        return {
            k: (REDACTED if isinstance(k, str) and k.lower() in SENSITIVE_KEYS else _scrub(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value]
    if isinstance(value, BaseException):
        return _scrub_text(f"{type(value).__name__}: {value}")
    return value


def redact(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """Replace secret fields and scrub secrets/e-mail addresses out of every string value."""
    for key in list(event_dict):
        if key.lower() in SENSITIVE_KEYS:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(event_dict[key])
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,  # after exceptions are formatted (tracebacks may quote secrets), before rendering
    ]


def _renderer(fmt: str) -> Processor:
    if fmt == "console":
        return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    return structlog.processors.JSONRenderer()


def build_processors(fmt: str) -> list[Processor]:
    """The full chain for structlog loggers, renderer last."""
    return [*_shared_processors(), _renderer(fmt)]


def configure_logging(fmt: str = "json", level: str = "info", stream: Any = None) -> None:
    """Configure structlog and the standard library once, at start-up."""
    numeric = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,  # drop disabled levels before any work is done
            *_shared_processors()[:-1],  # stdlib formatter below applies redact + render once
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors()[:-1],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            redact,
            _renderer(fmt),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for noisy in _QUIET_LOGGERS:
        logging.getLogger(noisy).setLevel(max(numeric, logging.WARNING))


_QUIET_LOGGERS: Iterable[str] = ("aiokafka", "alembic", "googleapiclient", "httpx", "aiohttp.access", "kiota")


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name)

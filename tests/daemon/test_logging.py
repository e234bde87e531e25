"""Redaction proven through the real processor chain (capture_logs() would skip it)."""

from __future__ import annotations

import io
import json
import logging

import pytest
import structlog
from structlog.testing import CapturingLoggerFactory

from daemon.logging import build_processors, configure_logging

SECRETS = [
    "ya29.a0AfH6SMBsecretaccesstoken",
    "1//0gRefreshTokenValue",
    "csk_abcd1234_S3cr3tS3cr3tS3cr3t",
    "client-state-0123456789abcdef0123456789abcdef",
    "coach.jane@example.com",
    "gAAAAABlZ4x0c2VjcmV0LWZlcm5ldC10b2tlbi12YWx1ZQ==",
]


@pytest.fixture
def captured() -> CapturingLoggerFactory:
    factory = CapturingLoggerFactory()
    structlog.configure(
        processors=build_processors("json"), logger_factory=factory, cache_logger_on_first_use=False
    )
    yield factory
    structlog.reset_defaults()


def _output(factory: CapturingLoggerFactory) -> str:
    return "\n".join(str(call.args[0]) for call in factory.logger.calls)


def test_secret_fields_and_embedded_secrets_are_redacted(captured: CapturingLoggerFactory) -> None:
    log = structlog.get_logger()
    log.info(
        "token_refreshed",
        access_token=SECRETS[0],
        refresh_token=SECRETS[1],
        client_state=SECRETS[3],
        email=SECRETS[4],
    )
    log.info("request", headers={"Authorization": f"Bearer {SECRETS[2]}", "X-Goog-Channel-Token": "chan-tok"})
    log.warning(f"sending cancellation to {SECRETS[4]} with key {SECRETS[2]}")
    log.info("url", url=f"https://host/webhooks/graph?validationToken={SECRETS[3]}&x=1")
    log.info("stored", value=SECRETS[5], nested={"list": [{"client_email": SECRETS[4]}]})
    out = _output(captured)
    for secret in [*SECRETS, "chan-tok"]:
        assert secret not in out, secret
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["access_token"] == "[redacted]" and lines[0]["event"] == "token_refreshed"
    assert lines[1]["headers"]["Authorization"] == "[redacted]"
    assert "[email]" in lines[2]["event"]


def test_exception_text_is_redacted(captured: CapturingLoggerFactory) -> None:
    log = structlog.get_logger()
    try:
        raise RuntimeError(f"refresh failed for {SECRETS[4]}: Bearer {SECRETS[0]}")
    except RuntimeError:
        log.exception("boom")
    out = _output(captured)
    assert SECRETS[0] not in out and SECRETS[4] not in out
    assert "RuntimeError" in out


def test_request_id_from_contextvars_reaches_every_line(captured: CapturingLoggerFactory) -> None:
    log = structlog.get_logger()
    with structlog.contextvars.bound_contextvars(request_id="req-123456"):
        log.info("one")
        log.info("two")
    lines = [json.loads(line) for line in _output(captured).splitlines()]
    assert [line["request_id"] for line in lines] == ["req-123456", "req-123456"]


def test_stdlib_loggers_go_through_the_same_redaction() -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    try:
        logging.getLogger("aiokafka.some").warning("connect failed for %s", SECRETS[4])
        structlog.get_logger("calsync.test").info("hello", refresh_token=SECRETS[1])
        out = stream.getvalue()
        assert SECRETS[4] not in out and SECRETS[1] not in out
        parsed = [json.loads(line) for line in out.splitlines()]
        assert parsed[-1]["refresh_token"] == "[redacted]" and parsed[-1]["level"] == "info"
    finally:
        logging.getLogger().handlers.clear()
        structlog.reset_defaults()

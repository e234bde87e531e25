"""Standard Webhooks signing and verification: the reference vector and the spec's test matrix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from handlers.host_webhook import InvalidSignature, new_secret, sign, signature, verify

# The vector published with the Standard Webhooks reference libraries.
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
STAMP = 1614265330
BODY = b'{"test": 2432232314}'
NOW = datetime.fromtimestamp(STAMP, UTC)


def test_reference_vector() -> None:
    assert signature(SECRET, MSG_ID, STAMP, BODY) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signed_headers_verify() -> None:
    verify(SECRET, sign(SECRET, MSG_ID, STAMP, BODY), BODY, NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_missing_header(missing: str) -> None:
    headers = sign(SECRET, MSG_ID, STAMP, BODY)
    del headers[missing]
    with pytest.raises(InvalidSignature):
        verify(SECRET, headers, BODY, NOW)


@pytest.mark.parametrize(
    ("change", "now"),
    [
        ({"webhook-timestamp": "soon"}, NOW),
        ({"webhook-signature": "v1,Zm9v"}, NOW),
        ({}, NOW + timedelta(seconds=301)),  # too old
        ({}, NOW - timedelta(seconds=301)),  # from the future
    ],
)
def test_rejected(change: dict[str, str], now: datetime) -> None:
    with pytest.raises(InvalidSignature):
        verify(SECRET, {**sign(SECRET, MSG_ID, STAMP, BODY), **change}, BODY, now)


def test_tampered_body_or_other_secret_fails() -> None:
    headers = sign(SECRET, MSG_ID, STAMP, BODY)
    with pytest.raises(InvalidSignature):
        verify(SECRET, headers, BODY + b" ", NOW)
    with pytest.raises(InvalidSignature):
        verify(new_secret(), headers, BODY, NOW)


def test_one_valid_signature_among_several_is_enough() -> None:
    headers = sign(SECRET, MSG_ID, STAMP, BODY)
    headers["webhook-signature"] = f"v1,Zm9v v2,abc {headers['webhook-signature']}"
    verify(SECRET, headers, BODY, NOW)


def test_new_secrets_have_the_prefix_and_differ() -> None:
    a, b = new_secret(), new_secret()
    assert a.startswith("whsec_") and a != b

"""Graph notification batches, sans-IO: mixed batches, clientState, validation tokens."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.secrets import hash_secret
from handlers.webhooks.graph_notifications import (
    ChangeItem,
    ItemVerdict,
    KnownSubscription,
    MalformedBatch,
    judge_item,
    parse_change_batch,
    parse_lifecycle_batch,
    validation_token,
)

STATE = "client-state-secret-value-0123456789"
KNOWN = {"sub-1": KnownSubscription("cal-1", hash_secret(STATE), stopped=False)}


def item(sub: str = "sub-1", state: str | None = STATE, change: str = "updated") -> dict[str, object]:
    return {
        "subscriptionId": sub,
        "subscriptionExpirationDateTime": "2026-01-08T09:00:00.0000000Z",
        "changeType": change,
        "resource": "Users/u1/Events/AAMk1",
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": "Users/u1/Events/AAMk1",
            "@odata.etag": 'W/"1"',
            "id": "AAMk1",
        },
        "clientState": state,
        "tenantId": "t1",
    }


def test_mixed_batch_keeps_valid_items() -> None:
    body = json.dumps({"value": [item(), item(state="bad"), item(sub="sub-x"), {"nonsense": 1}, 7]}).encode()
    parsed = parse_change_batch(body)
    verdicts = [judge_item(i, KNOWN.get(i.subscription_id) if i else None) for i in parsed]
    assert verdicts == [
        ItemVerdict.ACCEPTED,
        ItemVerdict.FORGED,
        ItemVerdict.UNKNOWN_SUBSCRIPTION,
        ItemVerdict.MALFORMED,
        ItemVerdict.MALFORMED,
    ]
    first = parsed[0]
    assert isinstance(first, ChangeItem) and first.resource_id == "AAMk1" and first.change_type == "updated"


def test_missing_client_state_is_forged() -> None:
    (parsed,) = parse_change_batch(json.dumps({"value": [item(state=None)]}).encode())
    assert judge_item(parsed, KNOWN["sub-1"]) is ItemVerdict.FORGED


def test_stopped_subscription_counts_as_unknown() -> None:
    (parsed,) = parse_change_batch(json.dumps({"value": [item()]}).encode())
    assert (
        judge_item(parsed, KnownSubscription("cal-1", hash_secret(STATE), True))
        is ItemVerdict.UNKNOWN_SUBSCRIPTION
    )


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"value": 3}', b"\xff\xfe"])
def test_malformed_batches(body: bytes) -> None:
    with pytest.raises(MalformedBatch):
        parse_change_batch(body)


def test_lifecycle_batch() -> None:
    body = json.dumps(
        {
            "value": [
                {
                    "subscriptionId": "sub-1",
                    "clientState": STATE,
                    "lifecycleEvent": "missed",
                    "tenantId": "t",
                },
                {"subscriptionId": "sub-1", "clientState": STATE, "lifecycleEvent": "exploded"},
            ]
        }
    ).encode()
    first, second = parse_lifecycle_batch(body)
    assert first is not None and first.lifecycle_event == "missed" and second is None
    assert judge_item(first, KNOWN["sub-1"]) is ItemVerdict.ACCEPTED


def test_validation_tokens() -> None:
    assert validation_token({}) is None
    assert validation_token({"validationToken": "Validation: Testing client application"}) == (
        "Validation: Testing client application"
    )
    for bad in ["", "<script>alert(1)</script>", "a" * 2000, "line\nbreak"]:
        with pytest.raises(ValueError):
            validation_token({"validationToken": bad})


@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(body: bytes) -> None:
    try:
        parsed = parse_change_batch(body)
    except MalformedBatch:
        return
    for i in parsed:
        judge_item(i, None)

"""Pure pieces of the Graph channel: wire bodies, recurrence, token responses, error mapping."""

from __future__ import annotations

from datetime import UTC, date, datetime

import httpx
import pytest
from kiota_abstractions.api_error import APIError

from calsync.errors import (
    AuthorizationRevoked,
    PermanentProviderError,
    PreconditionFailed,
    RateLimited,
    ResourceGone,
    SyncTokenExpired,
    TransientProviderError,
)
from channels.base import EventDraft
from channels.graph.credential import parse_token_response
from channels.graph.errors import Unauthorized, translate
from channels.graph.marker import MARKER_PROPERTY_ID
from channels.graph.wire import (
    event_body,
    exdates,
    graph_instant,
    patterned_recurrence,
    transaction_id,
)
from channels.model import Marker

START = datetime(2026, 1, 7, 14, tzinfo=UTC)
NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)


def test_event_body_has_marker_and_stable_transaction_id() -> None:
    draft = EventDraft(Marker("a1", 3), "T", START, START.replace(hour=15), "Europe/Berlin")
    body = event_body(draft, idempotency_key="a1:create")
    assert body["transactionId"] == transaction_id("a1:create") != transaction_id("a1:other")
    assert body["start"] == {"dateTime": "2026-01-07T15:00:00", "timeZone": "Europe/Berlin"}
    assert body["singleValueExtendedProperties"][0]["id"] == MARKER_PROPERTY_ID
    assert "transactionId" not in event_body(draft)
    assert graph_instant(START) == "2026-01-07T14:00:00.0000000Z"


DAILY = ("RRULE:FREQ=DAILY;COUNT=4", {"type": "daily"}, {"type": "numbered", "numberOfOccurrences": 4})
WEEKLY = (
    "RRULE:FREQ=WEEKLY;BYDAY=MO,WE;INTERVAL=2",
    {"type": "weekly", "interval": 2, "daysOfWeek": ["monday", "wednesday"]},
    {"type": "noEnd"},
)
LAST_TUESDAY = ("RRULE:FREQ=MONTHLY;BYDAY=TU;BYSETPOS=-1", {"type": "relativeMonthly", "index": "last"}, {})
UNTIL = (
    "RRULE:FREQ=MONTHLY;UNTIL=20260601T000000Z",
    {"type": "absoluteMonthly", "dayOfMonth": 7},
    {"type": "endDate", "endDate": "2026-06-01"},
)


@pytest.mark.parametrize(("rule", "pattern", "rng"), [DAILY, WEEKLY, LAST_TUESDAY, UNTIL])
def test_recurrence_subset(rule: str, pattern: dict[str, object], rng: dict[str, object]) -> None:
    got = patterned_recurrence(rule, START, "UTC")
    assert pattern.items() <= got["pattern"].items() and rng.items() <= got["range"].items()
    assert got["range"]["startDate"] == date(2026, 1, 7).isoformat()


def test_unsupported_recurrence_and_exdates() -> None:
    with pytest.raises(PermanentProviderError):
        patterned_recurrence("RRULE:FREQ=HOURLY", START, "UTC")
    assert exdates(("RRULE:FREQ=DAILY", "EXDATE:20260108T140000Z,20260109T140000Z")) == [
        datetime(2026, 1, 8, 14, tzinfo=UTC),
        datetime(2026, 1, 9, 14, tzinfo=UTC),
    ]


def test_token_responses() -> None:
    ok = parse_token_response(200, b'{"access_token":"at","expires_in":3600,"refresh_token":"rt2"}', NOW)
    assert ok.refresh_token == "rt2" and (ok.expires_at - NOW).total_seconds() == 3600
    with pytest.raises(AuthorizationRevoked):
        parse_token_response(400, b'{"error":"invalid_grant"}', NOW)
    with pytest.raises(RateLimited) as limited:
        parse_token_response(429, b"", NOW, "12")
    assert limited.value.retry_after == 12
    with pytest.raises(TransientProviderError):
        parse_token_response(503, b"<html>", NOW)


def api_error(status: int, retry_after: str | None = None) -> APIError:
    headers = httpx.Headers({"Retry-After": retry_after} if retry_after else {})
    return APIError("x", status, headers)  # type: ignore[arg-type]


def test_translate() -> None:
    limited = translate(api_error(429, "9"))
    assert isinstance(limited, RateLimited) and limited.retry_after == 9
    assert isinstance(translate(api_error(503)), TransientProviderError)
    assert isinstance(translate(api_error(410), delta=True), SyncTokenExpired)
    assert isinstance(translate(api_error(410)), ResourceGone)
    assert isinstance(translate(api_error(404)), ResourceGone)
    assert isinstance(translate(api_error(412)), PreconditionFailed)
    assert isinstance(translate(api_error(401)), Unauthorized)
    assert isinstance(translate(api_error(400)), PermanentProviderError)
    assert isinstance(translate(httpx.ConnectTimeout("t")), TransientProviderError)

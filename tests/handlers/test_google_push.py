"""Google push verification, sans-IO: every header case and verdict."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from calsync.secrets import hash_secret, new_channel_secret
from handlers.webhooks.google_push import (
    KnownChannel,
    MalformedNotification,
    Verdict,
    judge,
    parse_headers,
)

TOKEN = new_channel_secret()


def headers(**changes: str | None) -> dict[str, str]:
    base = {
        "X-Goog-Channel-ID": "chan-1",
        "X-Goog-Message-Number": "1234",
        "X-Goog-Resource-ID": "res-1",
        "X-Goog-Resource-State": "exists",
        "X-Goog-Resource-URI": "https://www.googleapis.com/calendar/v3/calendars/primary/events?alt=json",
        "X-Goog-Channel-Token": TOKEN,
        "X-Goog-Channel-Expiration": "Tue, 19 Nov 2013 01:13:52 GMT",
    }
    for key, value in changes.items():
        name = key.replace("_", "-")
        if value is None:
            base.pop(name, None)
        else:
            base[name] = value
    return base


CHANNEL = KnownChannel(calendar_id="cal-1", resource_id="res-1", token_hash=hash_secret(TOKEN), stopped=False)


def test_exists_is_a_change() -> None:
    n = parse_headers(headers())
    assert n.message_number == 1234 and n.channel_id == "chan-1"
    assert judge(n, CHANNEL) is Verdict.CHANGED


def test_sync_marks_the_channel_live() -> None:
    assert judge(parse_headers(headers(**{"X-Goog-Resource-State": "sync"})), CHANNEL) is Verdict.CHANNEL_LIVE


@pytest.mark.parametrize(
    "missing",
    [
        "X-Goog-Channel-ID",
        "X-Goog-Message-Number",
        "X-Goog-Resource-ID",
        "X-Goog-Resource-State",
        "X-Goog-Resource-URI",
    ],
)
def test_missing_required_header(missing: str) -> None:
    with pytest.raises(MalformedNotification):
        parse_headers(headers(**{missing: None}))


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Goog-Message-Number", "abc"),
        ("X-Goog-Resource-State", "deleted"),
        ("X-Goog-Channel-ID", "x" * 3000),
    ],
)
def test_unusable_header(name: str, value: str) -> None:
    with pytest.raises(MalformedNotification):
        parse_headers(headers(**{name: value}))


@pytest.mark.parametrize(
    "changes",
    [{"X-Goog-Channel-Token": "wrong"}, {"X-Goog-Channel-Token": None}, {"X-Goog-Resource-ID": "other"}],
)
def test_forgeries(changes: dict[str, str | None]) -> None:
    assert judge(parse_headers(headers(**changes)), CHANNEL) is Verdict.FORGED


def test_unknown_and_stopped_channels() -> None:
    n = parse_headers(headers())
    assert judge(n, None) is Verdict.UNKNOWN_CHANNEL
    stopped = KnownChannel("cal-1", "res-1", hash_secret(TOKEN), stopped=True)
    assert judge(n, stopped) is Verdict.STOPPED_CHANNEL
    # A forger cannot even learn that a channel was stopped.
    assert judge(parse_headers(headers(**{"X-Goog-Channel-Token": "x"})), stopped) is Verdict.FORGED


@given(st.dictionaries(st.sampled_from(list(headers())), st.text(max_size=50)))
def test_any_header_soup_parses_or_is_malformed(soup: dict[str, str]) -> None:
    try:
        n = parse_headers(soup)
    except MalformedNotification:
        return
    assert judge(n, CHANNEL) in set(Verdict)

"""The Graph cursor carries its delta window so a long-running daemon rolls it forward."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from channels.graph import cursor


def test_round_trip_and_legacy_cursors() -> None:
    end = datetime(2027, 1, 5, tzinfo=UTC)
    link = "https://graph/v1.0/me/calendarView/delta()?$deltatoken=abc|def"
    assert cursor.decode(cursor.encode(link, end)) == (link, end)
    assert cursor.decode(link) == (link, None)  # stored before the window was recorded


def test_drift_rolls_after_a_day() -> None:
    end = datetime(2027, 1, 5, tzinfo=UTC)
    assert not cursor.drifted(end, end + timedelta(hours=23))
    assert cursor.drifted(end, end + timedelta(days=1, seconds=1))
    assert not cursor.drifted(None, end + timedelta(days=400))

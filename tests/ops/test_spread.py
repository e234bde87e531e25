"""Spreading (pure): channels that expire together become due over the spread window, stably."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from channels.renewal import ChannelView
from handlers.renewal_scheduler import renew_due, spread_fraction

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
MARGIN, SPREAD = timedelta(hours=24), timedelta(hours=6)


def test_ten_thousand_channels_expiring_together_spread_over_six_hours() -> None:
    expiry = NOW + timedelta(hours=36)
    views = [ChannelView(uuid.uuid4().hex, "c", "active", NOW, expiry) for _ in range(10_000)]
    first_due: Counter[int] = Counter()
    for view in views:
        hour = next(h for h in range(0, 13) if renew_due(view, NOW + timedelta(hours=h), MARGIN, SPREAD))
        first_due[hour] += 1
    # Due from expiry - 30 h (hour 6) to expiry - 24 h (hour 12); about a sixth per hour.
    assert set(first_due) <= set(range(6, 13))
    assert sum(first_due.values()) == 10_000
    assert max(first_due[h] for h in range(7, 13)) < 2_000  # no hour gets more than ~1/5


def test_due_point_is_stable_and_never_later_than_the_margin() -> None:
    view = ChannelView("abc", "c", "active", NOW, NOW + timedelta(hours=30))
    assert spread_fraction("abc") == spread_fraction("abc")
    assert renew_due(view, NOW + timedelta(hours=6), MARGIN, SPREAD)  # 24 h left: always due
    assert not renew_due(view, NOW - timedelta(hours=1), MARGIN, SPREAD)  # 31 h left: never

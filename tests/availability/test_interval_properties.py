"""Property tests of the pure interval algebra against a brute-force minute grid.

Instants are whole minutes here (times 60 for seconds); the oracle is the set of covered
minutes. DST cases use Europe/London and America/New_York around their 2026 transitions.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.availability.hours import WorkingHours, windows
from handlers.availability.intervals import (
    Interval,
    Timeline,
    fitting_slots,
    intersect,
    merge,
    subtract,
    to_epoch,
)
from handlers.availability.slots import SlotQuery, profile_slots

M = 60
spans = st.lists(
    st.tuples(st.integers(0, 300), st.integers(0, 60)).map(lambda p: (p[0], p[0] + p[1])), max_size=12
)


def minutes(intervals: list[Interval]) -> set[int]:
    return {m for s, e in intervals for m in range(s, e)}


def normalized(intervals: list[Interval]) -> bool:
    return all(s < e for s, e in intervals) and all(a[1] < b[0] for a, b in pairwise(intervals))


@given(spans)
def test_merge_covers_exactly_the_union(xs: list[Interval]) -> None:
    out = merge(xs)
    assert normalized(out)
    assert minutes(out) == minutes(xs)


@given(spans, spans)
def test_subtract_and_intersect_match_the_grid(a: list[Interval], b: list[Interval]) -> None:
    ma, mb = merge(a), merge(b)
    diff = subtract(ma, mb)
    assert normalized(diff) and minutes(diff) == minutes(a) - minutes(b)
    both = intersect(ma, mb)
    assert minutes(both) == minutes(a) & minutes(b)


@given(spans, st.integers(0, 360), st.integers(0, 120))
def test_timeline_lookups(xs: list[Interval], lo: int, width: int) -> None:
    line = Timeline(xs)
    hi = lo + width
    assert minutes(line.window(lo, hi)) == minutes(xs) & set(range(lo, hi))
    assert line.is_free(lo, hi) == (not minutes(xs) & set(range(lo, hi)))
    # Zero-length queries and intervals never conflict.
    assert line.overlapping(lo, lo) == []


@given(spans, spans, st.integers(1, 60), st.integers(1, 45), st.integers(0, 20), st.integers(0, 20))
def test_fitting_slots_match_brute_force(
    busy: list[Interval], work: list[Interval], duration: int, step: int, before: int, after: int
) -> None:
    free = subtract([(-100, 500)], merge(busy))
    wins = merge(work)
    got = fitting_slots(free, wins, duration=duration, step=step, buffer_before=before, buffer_after=after)
    taken = minutes(busy)
    expected = []
    for w0, w1 in wins:
        t = w0
        while t + duration <= w1:
            if not taken & set(range(t - before, t + duration + after)):
                expected.append((t, t + duration))
            t += step
    assert got == expected


# --- working hours across DST -------------------------------------------------------------

ZONES = {
    "Europe/London": [datetime(2026, 3, 29), datetime(2026, 10, 25)],
    "America/New_York": [datetime(2026, 3, 8), datetime(2026, 11, 1)],
}
# Boundaries avoid 01:00-03:00, where local times are skipped or repeated (documented fold=0 rule).
boundary = st.sampled_from([0, 3 * 60, 6 * 60 + 30, 9 * 60, 12 * 60, 17 * 60 + 15, 23 * 60 + 45, 24 * 60])
day_spans = st.lists(st.tuples(boundary, boundary), max_size=2).map(
    lambda ps: tuple(merge([(min(p), max(p)) for p in ps if p[0] != p[1]]))
)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted(ZONES)),
    st.integers(0, 1),
    st.lists(day_spans, min_size=7, max_size=7),
    st.integers(-2, 1),
)
def test_working_windows_follow_local_wall_time(name: str, which: int, week: list, shift: int) -> None:  # type: ignore[type-arg]
    tz = ZoneInfo(name)
    day = ZONES[name][which] + timedelta(days=shift)
    hours = WorkingHours({d: week[d] for d in range(7)}, {}, configured=True)
    start = to_epoch(day.replace(tzinfo=UTC)) - 12 * 3600
    end = start + 4 * 86400
    got = windows(hours, start, end, tz)
    expected = set()
    for m in range(start // M, end // M):
        local = datetime.fromtimestamp(m * M, UTC).astimezone(tz)
        minute_of_day = local.hour * 60 + local.minute
        if any(s <= minute_of_day < e for s, e in hours.spans_on(local.date())):
            expected.add(m)
    assert {m for s, e in got for m in range(s // M, e // M)} == expected


def test_nine_to_five_is_eight_hours_on_dst_days() -> None:
    hours = WorkingHours({d: ((9 * 60, 17 * 60),) for d in range(7)}, {}, configured=True)
    for name, days in ZONES.items():
        for day in days:
            start = to_epoch(day.replace(tzinfo=UTC))
            [(s, e)] = windows(hours, start, start + 86400, ZoneInfo(name))
            assert e - s == 8 * 3600
            assert datetime.fromtimestamp(s, UTC).astimezone(ZoneInfo(name)).hour == 9
    # A whole-day window is 23 h on the spring day and 25 h on the autumn day.
    full = WorkingHours({d: ((0, 24 * 60),) for d in range(7)}, {}, configured=True)
    london = ZoneInfo("Europe/London")
    lengths = []
    for day in ZONES["Europe/London"]:
        lo = to_epoch(datetime.combine(day.date(), datetime.min.time(), london))
        [(s, e)] = windows(full, lo, lo + 86400 + 3600, london)
        lengths.append(
            min(e, to_epoch(datetime.combine(day.date() + timedelta(days=1), datetime.min.time(), london)))
            - s
        )
    assert lengths == [23 * 3600, 25 * 3600]


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(sorted(ZONES)),
    st.lists(st.tuples(st.integers(0, 3 * 24 * 4), st.integers(0, 16)), max_size=8),
    st.sampled_from([15, 30, 60]),
    st.sampled_from([15, 30]),
    st.sampled_from([0, 15]),
)
def test_slots_match_brute_force_across_dst(
    name: str, raw_busy: list[tuple[int, int]], duration: int, step: int, buffer: int
) -> None:
    tz = ZoneInfo(name)
    origin = to_epoch(ZONES[name][0].replace(tzinfo=UTC)) - 86400
    busy = merge((origin + q * 900, origin + (q + n) * 900) for q, n in raw_busy)
    hours = WorkingHours({d: ((9 * 60, 12 * 60), (13 * 60, 17 * 60)) for d in range(7)}, {}, configured=True)
    query = SlotQuery(origin, origin + 3 * 86400, duration * M, step * M, buffer * M, buffer * M)
    got = profile_slots(query, busy, hours, tz)
    taken = {m for s, e in busy for m in range(s // M, e // M)}
    expected = []
    for w0, w1 in windows(hours, query.start, query.end, tz, cut=False):
        t = w0
        while t + query.duration <= w1:
            lo, hi = (t - query.buffer_before) // M, (t + query.duration + query.buffer_after) // M
            if t >= query.start and t + query.duration <= query.end and not taken & set(range(lo, hi)):
                expected.append((t, t + query.duration))
            t += query.step
    assert got == expected
    for s, _ in got:  # every slot starts at a local quarter hour inside 09-12 or 13-17
        local = datetime.fromtimestamp(s, UTC).astimezone(tz)
        assert 9 <= local.hour < 17 and local.hour != 12

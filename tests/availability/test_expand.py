"""Recurrence expansion: wall-clock recurrence over DST, exdates, UNTIL forms, all-day in the profile zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from handlers.availability.expand import Source, expand
from handlers.availability.intervals import from_epoch, to_epoch

LONDON, NEW_YORK, BERLIN = ZoneInfo("Europe/London"), ZoneInfo("America/New_York"), ZoneInfo("Europe/Berlin")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def window(a: str, b: str) -> tuple[int, int]:
    return to_epoch(utc(a)), to_epoch(utc(b))


def starts(intervals: list[tuple[int, int]]) -> list[str]:
    return [from_epoch(s).strftime("%m-%dT%H:%M") for s, _ in intervals]


def test_daily_series_keeps_local_time_across_london_spring_forward() -> None:
    src = Source(
        utc("2026-03-26T09:00"), utc("2026-03-26T09:30"), time_zone="Europe/London", rrule="RRULE:FREQ=DAILY"
    )
    got = expand(src, *window("2026-03-27T00:00", "2026-03-31T00:00"), LONDON)
    assert starts(got) == ["03-27T09:00", "03-28T09:00", "03-29T08:00", "03-30T08:00"]
    assert all(e - s == 1800 for s, e in got)


def test_exdates_until_and_count_forms() -> None:
    base = {"time_zone": "America/New_York", "exdates": frozenset({"2026-03-10T13:00:00+00:00"})}
    for rule in ("FREQ=DAILY;UNTIL=20260312T130000Z", "FREQ=DAILY;UNTIL=20260312", "FREQ=DAILY;COUNT=5",
                 "RRULE:FREQ=DAILY;UNTIL=20260312T090000"):  # fmt: skip
        src = Source(utc("2026-03-08T13:00"), utc("2026-03-08T14:00"), rrule=rule, **base)  # type: ignore[arg-type]
        got = expand(src, *window("2026-03-01T00:00", "2026-04-01T00:00"), NEW_YORK)
        assert starts(got) == ["03-08T13:00", "03-09T13:00", "03-11T13:00", "03-12T13:00"], rule


def test_overlap_at_window_edges_and_unparseable_rules() -> None:
    src = Source(utc("2026-01-05T23:00"), utc("2026-01-06T01:00"), rrule="FREQ=WEEKLY")
    assert starts(expand(src, *window("2026-01-13T00:00", "2026-01-13T00:30"), BERLIN)) == ["01-12T23:00"]
    assert expand(src, *window("2026-01-13T01:00", "2026-01-19T23:00"), BERLIN) == []
    broken = Source(utc("2026-01-05T10:00"), utc("2026-01-05T11:00"), rrule="FREQ=SOMETIMES")
    assert starts(expand(broken, *window("2026-01-01T00:00", "2026-02-01T00:00"), BERLIN)) == ["01-05T10:00"]


def test_all_day_blocks_whole_local_days_in_the_profile_zone() -> None:
    # Stored as UTC midnights of the dates; blocks the profile's local days, 23 h on the spring-forward day.
    src = Source(utc("2026-03-29T00:00"), utc("2026-03-30T00:00"), all_day=True, start_date=date(2026, 3, 29))
    [(s, e)] = expand(src, *window("2026-03-01T00:00", "2026-04-30T00:00"), BERLIN)
    assert (from_epoch(s), from_epoch(e)) == (utc("2026-03-28T23:00"), utc("2026-03-29T22:00"))
    series = Source(
        utc("2026-01-05T00:00"), utc("2026-01-06T00:00"), all_day=True, start_date=date(2026, 1, 5), days=2,
        rrule="RRULE:FREQ=WEEKLY;UNTIL=20260126", exdates=frozenset({"2026-01-12"}),
    )  # fmt: skip
    got = expand(series, *window("2026-01-01T00:00", "2026-03-01T00:00"), NEW_YORK)
    assert starts(got) == ["01-05T05:00", "01-19T05:00", "01-26T05:00"]
    assert all(e - s == 2 * 86400 for s, e in got)


@given(st.integers(0, 400), st.integers(1, 60), st.sampled_from(["Europe/London", "America/New_York"]))
def test_weekly_series_matches_naive_enumeration(offset_days: int, span_days: int, name: str) -> None:
    tz = ZoneInfo(name)
    first = datetime(2026, 1, 6, 8, 30, tzinfo=tz)
    begin = first.astimezone(UTC)
    src = Source(begin, begin + timedelta(minutes=50), time_zone=name, rrule="FREQ=WEEKLY;COUNT=60")
    duration = to_epoch(src.end_utc) - to_epoch(src.start_utc)
    lo = to_epoch(datetime(2026, 1, 1, tzinfo=UTC)) + offset_days * 86400
    hi = lo + span_days * 86400
    naive = []
    for week in range(60):
        local = datetime.combine(
            first.date().fromordinal(first.date().toordinal() + 7 * week), first.time(), tz
        )
        s = to_epoch(local)
        if s < hi and s + duration > lo:
            naive.append((s, s + duration))
    assert expand(src, lo, hi, tz) == naive

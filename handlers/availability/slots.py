"""Bookable slots for one profile and for teams (pure): working hours minus busy time and buffers."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from handlers.availability.hours import WorkingHours, windows
from handlers.availability.intervals import Interval, fitting_slots, intersect, merge, subtract


@dataclass(frozen=True, slots=True)
class SlotQuery:
    start: int
    end: int
    duration: int  # seconds
    step: int  # seconds
    buffer_before: int = 0
    buffer_after: int = 0

    @property
    def busy_range(self) -> Interval:
        """The range whose busy time matters: buffers reach outside the window."""
        return self.start - self.buffer_before, self.end + self.buffer_after


def _fit(query: SlotQuery, busy: Sequence[Interval], work: Sequence[Interval]) -> list[Interval]:
    if not work:
        return []
    lo = min(work[0][0], query.start) - query.buffer_before
    hi = max(work[-1][1], query.end) + query.buffer_after
    free = subtract([(lo, hi)], merge(busy))
    found = fitting_slots(
        free,
        work,
        duration=query.duration,
        step=query.step,
        buffer_before=query.buffer_before,
        buffer_after=query.buffer_after,
    )
    return [(s, e) for s, e in found if s >= query.start and e <= query.end]


def profile_slots(
    query: SlotQuery, busy: Sequence[Interval], hours: WorkingHours, tz: ZoneInfo
) -> list[Interval]:
    """Slots on a ``step`` grid anchored at each working-hours start (not at the query's start)."""
    return _fit(query, busy, windows(hours, query.start, query.end, tz, cut=False))


@dataclass(frozen=True, slots=True)
class Member:
    busy: Sequence[Interval]
    hours: WorkingHours
    tz: ZoneInfo


def all_free_slots(query: SlotQuery, members: Sequence[Member]) -> list[Interval]:
    """Slots where every member works and is free (busy times united, working hours intersected)."""
    if not members:
        return []
    work: list[Interval] | None = None
    for m in members:
        own = windows(m.hours, query.start, query.end, m.tz, cut=False)
        work = own if work is None else intersect(work, own)
    busy = merge(i for m in members for i in m.busy)
    return _fit(query, busy, work or [])


def any_free_slots(query: SlotQuery, members: Mapping[str, Member]) -> list[tuple[Interval, list[str]]]:
    """Slots where at least one member is free, each with the members free then (sorted ids)."""
    who: dict[Interval, list[str]] = {}
    for member_id in sorted(members):
        m = members[member_id]
        for slot in profile_slots(query, m.busy, m.hours, m.tz):
            who.setdefault(slot, []).append(member_id)
    return sorted(who.items())

"""In-memory availability index: per profile, busy time pre-expanded, merged and bisectable.

Invalidation (simple and correct across replicas, no writer has to cooperate): every
lookup first reads ``store.availability.fingerprint`` — per table the row count and the
newest ``updated_at`` of the profile's busy blocks, appointments, overrides and
calendars, plus the profile row's ``updated_at`` — in one round trip. Writers always set
``updated_at = now``, so any insert/update raises a max and any delete lowers a count;
an unchanged fingerprint means the snapshot is current (appointments and overrides also
add the sum of their versions, so same-tick writes show too). On a change the profile's
rows are reloaded, and only rows whose content changed are expanded again (expansions
are cached by row content). Caveat: a busy block rewritten within the same clock tick
as the newest stamp, or by a replica whose clock lags, leaves count and max unchanged;
``MAX_AGE`` bounds that (a snapshot is rebuilt at least that often regardless).

A snapshot covers a span of time (by default a week back and ``AHEAD`` forward); a
query outside it widens the span. Snapshots are immutable once built, so concurrent
requests share them without locks; two concurrent rebuilds just do the work twice.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from typing import Any, Final
from zoneinfo import ZoneInfo

from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.errors import NotFound
from handlers.availability.expand import Source, expand, zone
from handlers.availability.hours import WorkingHours, stored_working_hours
from handlers.availability.intervals import Interval, Timeline, merge, to_epoch
from handlers.profile_settings import ProfileSettings
from store import availability as queries

DAY: Final = 86_400
BEHIND: Final = 7 * DAY
AHEAD: Final = 120 * DAY
MAX_SPAN: Final = 800 * DAY  # wider queries are computed for themselves and not cached
MAX_AGE: Final = 60.0  # seconds; the clock-skew safety net described above
Owned = tuple[int, int, str]  # (start, end, appointment id)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything the availability API needs about one profile, for ``span``."""

    profile_id: str
    organization_id: str
    fingerprint: tuple[Any, ...]
    span: Interval
    time_zone: str
    hours: WorkingHours
    blocks: Timeline  # foreign busy blocks, policy applied
    appointments: tuple[Owned, ...]  # own appointments' occurrences, sorted by start
    longest: int  # longest appointment interval, bounds the look-back of ``_owned``
    busy: Timeline  # blocks and appointments together
    built_at: float
    cache: dict[Hashable, list[Interval]] = field(repr=False, compare=False)

    @property
    def zone(self) -> ZoneInfo:
        return zone(self.time_zone)

    def covers(self, lo: int, hi: int) -> bool:
        return self.span[0] <= lo and hi <= self.span[1]

    def _owned(self, lo: int, hi: int) -> list[Owned]:
        starts_at = bisect_left(self.appointments, (lo - self.longest, lo - self.longest, ""))
        out: list[Owned] = []
        for item in self.appointments[starts_at:]:
            if item[0] >= hi:
                break
            if item[1] > lo:
                out.append(item)
        return out

    def conflicts(self, lo: int, hi: int, exclude: str | None = None) -> list[Interval]:
        """Merged busy intervals overlapping ``[lo, hi)``; ``exclude`` ignores one appointment."""
        if exclude is None:
            return self.busy.overlapping(lo, hi)
        pieces = self.blocks.overlapping(lo, hi) + [(s, e) for s, e, a in self._owned(lo, hi) if a != exclude]
        return merge(pieces)


def _block_source(row: queries.BlockRow) -> Source:
    days = max(1, round((row.end_utc - row.start_utc).total_seconds() / DAY))
    return Source(
        row.start_utc, row.end_utc, row.all_day, row.start_utc.date() if row.all_day else None, days,
        row.time_zone, row.rrule, frozenset(row.exdates),
    )  # fmt: skip


def _appointment_source(row: queries.AppointmentRow, skipped: Sequence[str]) -> Source:
    first = date.fromisoformat(row.start_date) if row.all_day and row.start_date else None
    days = 1
    if first is not None and row.end_date:
        days = max(1, (date.fromisoformat(row.end_date) - first).days)
    return Source(
        row.start_utc, row.end_utc, row.all_day, first, days, row.time_zone, row.rrule,
        frozenset((*row.exdates, *skipped)),
    )  # fmt: skip


class AvailabilityIndex:
    """Per-profile snapshots, refreshed on demand against the store's fingerprint."""

    def __init__(self) -> None:
        self._snapshots: dict[str, Snapshot] = {}
        self.rebuilds = 0  # for tests and the bench

    def forget(self, profile_id: str) -> None:
        self._snapshots.pop(profile_id, None)

    async def snapshot(
        self, session: AsyncSession, profile_id: str, lo: int, hi: int, now: datetime
    ) -> Snapshot:
        """A snapshot current as of this transaction, covering ``[lo, hi)``; NotFound if no live profile."""
        fp = await queries.fingerprint(session, profile_id)
        if fp is None:
            raise NotFound(f"no profile {profile_id!r}")
        old = self._snapshots.get(profile_id)
        fresh = old is not None and time.monotonic() - old.built_at < MAX_AGE
        if old is not None and fresh and old.fingerprint == fp and old.covers(lo, hi):
            return old
        base = to_epoch(now)
        span = (min(lo, base - BEHIND), max(hi, base + AHEAD))
        if old is not None and old.fingerprint == fp:
            span = (min(span[0], old.span[0]), max(span[1], old.span[1]))
        cacheable = span[1] - span[0] <= MAX_SPAN
        if not cacheable:
            span = (lo, hi)
        built = await self._build(session, profile_id, fp, span, old)
        if cacheable:
            self._snapshots[profile_id] = built
        return built

    async def _build(
        self,
        session: AsyncSession,
        profile_id: str,
        fp: tuple[Any, ...],
        span: Interval,
        old: Snapshot | None,
    ) -> Snapshot:
        self.rebuilds += 1
        basics = await queries.profile_basics(session, profile_id)
        if basics is None:
            raise NotFound(f"no profile {profile_id!r}")
        organization_id, tz_name, raw_settings, raw_hours = basics
        settings = ProfileSettings.from_stored(raw_settings)
        tz = zone(tz_name)
        # Expansions depend on the span and, for all-day sources, on the profile's zone.
        reusable = old is not None and old.span == span and old.time_zone == tz_name
        previous = old.cache if old is not None and reusable else {}
        cache: dict[Hashable, list[Interval]] = {}

        # Keyed by the rows' content (frozen records), so a reused expansion is exact by construction.
        def expanded(key: Hashable, source: Callable[[], Source]) -> list[Interval]:
            hit = previous.get(key)
            cache[key] = hit if hit is not None else expand(source(), span[0], span[1], tz)
            return cache[key]

        blocks: list[Interval] = []
        for row in await queries.load_blocks(session, profile_id):
            if (row.tentative and not settings.tentative_blocks) or (
                row.all_day and not settings.all_day_blocks
            ):
                continue
            blocks += expanded(row, partial(_block_source, row))
        appts, overrides = await queries.load_appointments(session, profile_id)
        skipped: dict[str, list[str]] = {}
        owned: list[Owned] = []
        for o in overrides:
            skipped.setdefault(o.appointment_id, []).append(o.original_start.isoformat())
            if not o.cancelled:
                owned.append((to_epoch(o.start_utc), to_epoch(o.end_utc), o.appointment_id))
        for a in appts:
            # The key includes the overrides: moving an occurrence bumps the appointment's updated_at.
            key = ("a", a.id, a.updated_at.isoformat())
            owned += [
                (s, e, a.id) for s, e in expanded(key, partial(_appointment_source, a, skipped.get(a.id, ())))
            ]
        owned.sort()
        block_line = Timeline(blocks)
        return Snapshot(
            profile_id=profile_id,
            organization_id=organization_id,
            fingerprint=fp,
            span=span,
            time_zone=tz_name,
            hours=stored_working_hours(raw_hours),
            blocks=block_line,
            appointments=tuple(owned),
            longest=max((e - s for s, e, _ in owned), default=0),
            busy=Timeline([*block_line.intervals, *((s, e) for s, e, _ in owned)]),
            built_at=time.monotonic(),
            cache=cache,
        )

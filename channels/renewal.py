"""Channel renewal planning, pure: channel states and ``now`` in, actions out.

Providers' channels expire (Google: no renewal at all, a new channel must overlap
the old one; Graph: PATCH the expiry). Every tick the renewal loop hands the
current picture to ``plan`` and carries out what it returns:

- a calendar that should be watched but has no live channel -> ``Watch``
- the calendar's newest live channel within ``margin`` of expiry -> ``Renew``
- older live channels beside a newer one (a crash between renew and retire) -> ``Retire``
- live channels already past expiry -> ``Expire`` (nothing to ask the provider)
- retiring channels whose overlap or backoff is over -> ``Stop``

Failed attempts are pushed back with ``retry_delay`` (full-jitter exponential).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

LIVE = frozenset({"active", "error"})


@dataclass(frozen=True, slots=True)
class RenewalPolicy:
    margin: timedelta = timedelta(hours=24)  # renew this long before expiry
    ttl: timedelta = timedelta(days=7)  # requested lifetime (Google's default and cap)
    overlap: timedelta = timedelta(minutes=5)  # old and new channel both live this long
    retry_base: timedelta = timedelta(seconds=30)
    retry_cap: timedelta = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class ChannelView:
    id: str
    calendar_id: str
    state: str
    created_at: datetime
    expires_at: datetime
    retry_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Watch:
    calendar_id: str


@dataclass(frozen=True, slots=True)
class Renew:
    channel_id: str
    calendar_id: str


@dataclass(frozen=True, slots=True)
class Retire:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Expire:
    channel_id: str


@dataclass(frozen=True, slots=True)
class Stop:
    channel_id: str


Action = Watch | Renew | Retire | Expire | Stop


def _ready(view: ChannelView, now: datetime) -> bool:
    return view.retry_at is None or view.retry_at <= now


def plan(
    watched: Iterable[str],
    channels: Iterable[ChannelView],
    now: datetime,
    policy: RenewalPolicy,
    watch_not_before: Mapping[str, datetime] | None = None,
) -> list[Action]:
    """Actions for this tick; ``watch_not_before`` holds back calendars whose watch just failed."""
    held = watch_not_before or {}
    by_calendar: dict[str, list[ChannelView]] = {}
    actions: list[Action] = []
    for view in channels:
        if view.state in LIVE and view.expires_at <= now:
            actions.append(Expire(view.id))
        elif view.state in LIVE:
            by_calendar.setdefault(view.calendar_id, []).append(view)
        elif view.state == "retiring" and _ready(view, now):
            actions.append(Stop(view.id))
    wanted = set(watched)
    for calendar_id in sorted(wanted | set(by_calendar)):
        live = sorted(by_calendar.get(calendar_id, []), key=lambda v: (v.created_at, v.id))
        if calendar_id not in wanted:
            actions.extend(Retire(v.id) for v in live)  # no longer synced: let them go
            continue
        if not live:
            not_before = held.get(calendar_id)
            if not_before is None or not_before <= now:
                actions.append(Watch(calendar_id))
            continue
        *older, newest = live
        actions.extend(Retire(v.id) for v in older)
        if newest.expires_at - policy.margin <= now and _ready(newest, now):
            actions.append(Renew(newest.id, calendar_id))
    return actions


def retry_delay(failures: int, policy: RenewalPolicy, rng: random.Random) -> timedelta:
    """Full-jitter exponential backoff after the n-th consecutive failure (n >= 1)."""
    ceiling = min(policy.retry_cap, policy.retry_base * (1 << min(30, max(0, failures - 1))))
    return timedelta(seconds=ceiling.total_seconds() * rng.uniform(0.5, 1.0))

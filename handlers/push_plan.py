"""Pure push planning: from what the store says to the provider writes that make it true.

The planner sees plain values (the appointment's version and status, its overrides,
its links, the profile's current push calendar) and returns an ordered list of
actions; it reads no clock and does no I/O, so it is tested exhaustively without a
network. Run it again after the actions succeeded and it returns nothing: that is the
push worker's whole idempotency story (a redelivered message plans an empty list).

Rules, in order:
- Cancelled appointment: delete its series/single event wherever it is still linked.
- Other calendars (the push calendar changed): delete there, but only while the
  appointment is still in the future; history stays where it was written. These deletes
  come after the push calendar's writes, so our event is never missing from every calendar
  at once (the reconciler's look for a moved event relies on it).
- Push calendar: create once (idempotency key ``"{appointment}:{calendar}"``); update
  when the version moved past ``written_version`` — unless only occurrences changed
  since, then just advance the link; then one instance write per override that the
  links do not show yet (never a second event per occurrence).
- A link the provider reported gone (``unknown``) is left to the reconciler, unless the
  reason says to put our version back (restore / push calendar changed, or a revert of a
  move to another calendar: see ``restores``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

# Reasons of ``appointment.push_requested`` that mean "our version wins, recreate if needed".
RESTORE_REASONS: Final = frozenset({"restore", "push_calendar_changed"})
# Reasons that rewrite even what the links say is up to date (an external edit to undo).
REWRITE_REASONS: Final = frozenset({"restore", "revert"})


@dataclass(frozen=True, slots=True)
class OverrideState:
    instance_key: str  # original start, ``YYYYMMDDTHHMMSSZ``
    original_start: datetime
    cancelled: bool
    version: int


@dataclass(frozen=True, slots=True)
class LinkState:
    calendar_id: str
    instance_key: str  # "" for the series / single event
    event_id: str
    etag: str | None
    written_version: int
    state: str  # live | deleted | unknown


@dataclass(frozen=True, slots=True)
class PushInput:
    appointment_id: str
    version: int
    cancelled: bool
    recurring: bool
    future: bool  # some occurrence still ends after now (the caller computes it)
    push_calendar_id: str | None
    links: tuple[LinkState, ...] = ()
    overrides: tuple[OverrideState, ...] = ()
    reason: str = ""


@dataclass(frozen=True, slots=True)
class CreateEvent:
    calendar_id: str
    idempotency_key: str


@dataclass(frozen=True, slots=True)
class UpdateEvent:
    calendar_id: str
    event_id: str
    etag: str | None


@dataclass(frozen=True, slots=True)
class AdvanceLink:
    """The series event already shows everything but occurrences: record the version only."""

    calendar_id: str


@dataclass(frozen=True, slots=True)
class WriteInstance:
    calendar_id: str
    instance_key: str
    original_start: datetime
    cancel: bool  # True: cancel that occurrence; False: write its own times


@dataclass(frozen=True, slots=True)
class DeleteEvent:
    """Delete the series/single event; its instance links go with it."""

    calendar_id: str
    event_id: str


Action = CreateEvent | UpdateEvent | AdvanceLink | WriteInstance | DeleteEvent


def idempotency_key(appointment_id: str, calendar_id: str) -> str:
    return f"{appointment_id}:{calendar_id}"


def _only_overrides_since(written: int, current: int, overrides: Sequence[OverrideState]) -> bool:
    """Whether every version in ``(written, current]`` was an occurrence change.

    An override keeps only its latest version, so an earlier bump of a re-moved
    occurrence looks unaccounted for: the answer is then False and the series is
    rewritten, which is always safe (never the other way round).
    """
    accounted = {o.version for o in overrides}
    return all(v in accounted for v in range(written + 1, current + 1))


def _deletes_elsewhere(p: PushInput) -> list[Action]:
    actions: list[Action] = []
    for link in p.links:
        if link.instance_key or link.state == "deleted":
            continue
        if p.cancelled or (link.calendar_id != p.push_calendar_id and p.future):
            actions.append(DeleteEvent(link.calendar_id, link.event_id))
    return actions


def restores(p: PushInput) -> bool:
    """Whether a push-calendar event the provider no longer has is to be created again.

    ``revert`` undoes an external move: it recreates only what a move to another calendar took
    away (our event then lives on there, linked, and is removed after), never an event the owner
    deleted meanwhile, whose deletion the reconciler still has to see.
    """
    if p.reason in RESTORE_REASONS:
        return True
    return p.reason == "revert" and any(
        link.calendar_id != p.push_calendar_id and not link.instance_key and link.state == "live"
        for link in p.links
    )


def blocked(p: PushInput) -> bool:
    """The series/single event vanished at the provider and nothing says to put it back."""
    if p.cancelled or p.push_calendar_id is None:
        return False
    master = next(
        (link for link in p.links if link.calendar_id == p.push_calendar_id and not link.instance_key), None
    )
    return master is not None and master.state == "unknown" and not restores(p)


def plan(p: PushInput) -> list[Action]:
    """The writes that bring the provider to ``p``'s state; empty when it is there already."""
    deletes = _deletes_elsewhere(p)
    if p.cancelled or p.push_calendar_id is None:
        return deletes
    return _push_calendar_writes(p, p.push_calendar_id) + deletes


def _push_calendar_writes(p: PushInput, calendar: str) -> list[Action]:
    actions: list[Action] = []
    links = {link.instance_key: link for link in p.links if link.calendar_id == calendar}
    master = links.get("")
    restoring = restores(p)
    if master is None or master.state == "deleted" or (master.state == "unknown" and restoring):
        elsewhere = any(
            link.calendar_id != calendar and not link.instance_key and link.state != "deleted"
            for link in p.links
        )
        if master is None and elsewhere and not p.future:
            return actions  # a past appointment stays in the calendar it was written to
        actions.append(CreateEvent(calendar, idempotency_key(p.appointment_id, calendar)))
        fresh = True  # a (re)created series: none of its instances carry our overrides yet
    elif master.state == "unknown":
        return actions  # gone at the provider: the reconciler decides, we do not recreate blindly
    else:
        fresh = False
        stale = master.written_version < p.version
        if p.reason in REWRITE_REASONS or (
            stale
            and not (p.recurring and _only_overrides_since(master.written_version, p.version, p.overrides))
        ):
            actions.append(UpdateEvent(calendar, master.event_id, master.etag))
        elif stale:
            actions.append(AdvanceLink(calendar))
    if not p.recurring:
        return actions
    for override in p.overrides:
        link = links.get(override.instance_key)
        behind = link is None or link.written_version < override.version
        if fresh or behind or p.reason in REWRITE_REASONS:
            if link is not None and link.state == "unknown" and not (fresh or restoring):
                continue
            actions.append(
                WriteInstance(calendar, override.instance_key, override.original_start, override.cancelled)
            )
    return actions

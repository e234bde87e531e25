"""The pure reconcile rules, case by case (the properties are in test_rules_properties.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from channels.model import EventStatus, ExternalEvent, Marker, Provider, Response
from handlers.profile_settings import ProfileSettings
from handlers.reconcile_rules import (
    AppointmentFacts,
    CalendarFacts,
    CancelAppointment,
    CancelOccurrence,
    DropBusy,
    Facts,
    Ignore,
    LinkFacts,
    LookElsewhere,
    MarkLink,
    MoveOccurrence,
    Reassign,
    RequestPush,
    Reschedule,
    UpsertBusy,
    Verify,
    decide,
    instance_key,
)

T0 = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
CAL = CalendarFacts("cal-a", "push", "prof-a", "org")
LINK = LinkFacts(1, "appt-1", "cal-a", "", "etag-1", 1, "live")
APPT = AppointmentFacts("appt-1", 1, "confirmed", "prof-a", "org", T0, T0 + timedelta(hours=1))


def ev(**changes: Any) -> ExternalEvent:
    base = ExternalEvent(
        Provider.GOOGLE, "cal-a", "evt-1", EventStatus.CONFIRMED, start=T0, end=T0 + timedelta(hours=1),
        etag="etag-2", marker=Marker("appt-1", 1),
    )  # fmt: skip
    return replace(base, **changes)


def tomb(**changes: Any) -> ExternalEvent:
    return replace(
        ExternalEvent(Provider.GOOGLE, "cal-a", "evt-1", EventStatus.CANCELLED, etag="etag-9"), **changes
    )


def facts(**changes: Any) -> Facts:
    base = Facts(CAL, ProfileSettings(), link=LINK, appointment=APPT)
    return replace(base, **changes)


def policy(**settings: str) -> ProfileSettings:
    return ProfileSettings.model_validate(settings)


def test_echo_of_our_write_is_ignored() -> None:
    assert decide(ev(etag="etag-1", start=T0 + timedelta(hours=5)), facts()) == Ignore("echo")


def test_google_tombstone_of_our_event_cancels_by_default() -> None:
    assert decide(tomb(), facts()) == CancelAppointment("appt-1", 1, 1)


@pytest.mark.parametrize(
    ("setting", "expected"),
    [("restore", RequestPush("appt-1", "restore")), ("ignore", MarkLink(1, "deleted"))],
)
def test_delete_policies(setting: str, expected: object) -> None:
    assert decide(tomb(), facts(settings=policy(on_external_delete=setting))) == expected


def test_graph_removed_needs_a_direct_get_and_only_a_404_cancels() -> None:
    removed = tomb(provider=Provider.MICROSOFT, verify_deletion=True)
    assert decide(removed, facts()) == Verify("evt-1")
    assert decide(removed, facts(gone=False)) == Ignore("not deleted")
    assert decide(removed, facts(gone=True)) == CancelAppointment("appt-1", 1, 1)


def test_cancelled_appointment_or_dead_link_is_not_cancelled_again() -> None:
    assert isinstance(decide(tomb(), facts(appointment=replace(APPT, status="cancelled"))), Ignore)
    assert isinstance(decide(tomb(), facts(link=replace(LINK, state="deleted"))), Ignore)


@pytest.mark.parametrize(
    ("setting", "kind"), [("accept", Reschedule), ("revert", RequestPush), ("ignore", Ignore)]
)
def test_move_policies(setting: str, kind: type) -> None:
    moved = ev(start=T0 + timedelta(days=1), end=T0 + timedelta(days=1, hours=1))
    assert isinstance(decide(moved, facts(settings=policy(on_external_move=setting))), kind)


def test_same_times_with_a_new_etag_is_no_move() -> None:
    assert decide(ev(), facts()) == Ignore("unchanged")


def test_pending_push_wins_over_an_old_external_time() -> None:
    moved = ev(start=T0 + timedelta(days=1), end=T0 + timedelta(days=1, hours=1))
    newer = facts(appointment=replace(APPT, version=2), settings=policy(on_external_move="accept"))
    assert decide(moved, newer) == Ignore("push pending")


def test_foreign_events_block_unless_free_declined_or_cancelled() -> None:
    foreign = ev(marker=None, event_id="other")
    none = facts(link=None, appointment=None)
    assert decide(foreign, none) == UpsertBusy(foreign, None)
    assert decide(replace(foreign, tentative=True), none) == UpsertBusy(
        replace(foreign, tentative=True), None
    )
    assert decide(replace(foreign, transparent=True), none) == DropBusy("other", None)
    assert decide(replace(foreign, owner_response=Response.DECLINED), none) == DropBusy("other", None)
    assert decide(tomb(event_id="other"), none) == DropBusy("other", None)


def test_foreign_series_exceptions_become_exdates() -> None:
    none = facts(link=None, appointment=None)
    cancelled = tomb(event_id="ser_20260112", series_id="ser", original_start=T0)
    assert decide(cancelled, none) == DropBusy("ser_20260112", ("ser", T0))
    moved = ev(marker=None, event_id="ser_20260112", series_id="ser", original_start=T0)
    assert decide(moved, none) == UpsertBusy(moved, ("ser", T0))


def test_cancelled_instance_of_our_series_cancels_that_occurrence_only() -> None:
    series = replace(APPT, recurring=True)
    instance = tomb(
        event_id="evt-1_20260119T090000Z", series_id="evt-1", original_start=T0 + timedelta(days=7)
    )
    f = facts(link=None, series_link=LINK, appointment=series)
    assert decide(instance, f) == CancelOccurrence("appt-1", 1, T0 + timedelta(days=7))
    done = replace(series, cancelled_keys=frozenset({instance_key(T0 + timedelta(days=7))}))
    assert isinstance(decide(instance, replace(f, appointment=done)), Ignore)


def test_moved_instance_of_our_series_follows_the_move_policy() -> None:
    series = replace(APPT, recurring=True)
    week = T0 + timedelta(days=7)
    instance = ev(event_id="x", series_id="evt-1", original_start=week, start=week + timedelta(hours=2),
                  end=week + timedelta(hours=3), marker=None)  # fmt: skip
    f = facts(link=None, series_link=LINK, appointment=series, settings=policy(on_external_move="accept"))
    assert decide(instance, f) == MoveOccurrence("appt-1", 1, week, instance)
    unmoved = replace(instance, start=week, end=week + timedelta(hours=1))
    assert decide(unmoved, f) == Ignore("occurrence unchanged")


def test_marker_on_another_profiles_push_calendar_is_a_calendar_change() -> None:
    other = CalendarFacts("cal-b", "push", "prof-b", "org")
    arrived = ev(calendar_id="cal-b")
    f = facts(calendar=other, link=None)
    # Reverted: linked there (a stray copy) so the push worker removes it once ours is back.
    assert decide(arrived, f) == RequestPush("appt-1", "revert", stray=arrived)
    f2 = replace(f, settings=policy(on_calendar_change="reassign"))
    assert decide(arrived, f2) == Reassign("appt-1", 1, "prof-b", arrived)
    # Never across organizations, and on someone's pull calendar it is just their busy time.
    assert isinstance(decide(arrived, replace(f2, calendar=replace(other, organization_id="x"))), Ignore)
    assert isinstance(decide(arrived, replace(f2, calendar=replace(other, role="pull"))), UpsertBusy)


def test_our_own_write_before_its_link_is_recorded_is_not_busy_time() -> None:
    assert decide(ev(), facts(link=None)) == Ignore("ours, link not recorded yet")


def test_our_occurrence_on_another_profiles_push_calendar_is_left_to_its_series() -> None:
    other = CalendarFacts("cal-b", "push", "prof-b", "org")
    instance = ev(calendar_id="cal-b", event_id="evt-1_x", series_id="evt-1", original_start=T0,
                  marker=Marker("appt-1", 1, instance_key(T0)))  # fmt: skip
    f = facts(calendar=other, link=None, settings=policy(on_calendar_change="reassign"))
    assert decide(instance, f) == Ignore("an occurrence of our series elsewhere; its series decides")


MOVE = ("cal-b", "cal-c")


def test_google_tombstone_with_other_push_calendars_looks_there_before_deciding() -> None:
    f = facts(move_candidates=MOVE)
    assert decide(tomb(), f) == LookElsewhere("appt-1", "evt-1", MOVE)
    # Found nowhere and still cancelled at the source: an explicit deletion after all.
    assert decide(tomb(), replace(f, gone=True)) == CancelAppointment("appt-1", 1, 1)
    assert decide(tomb(), replace(f, gone=False)) == Ignore("not deleted")
    # Already settled: nothing to look for.
    assert decide(tomb(), replace(f, link=replace(LINK, state="deleted"))) == Ignore("already cancelled")
    assert decide(tomb(etag="etag-1"), f) == Ignore("echo")


def test_tombstone_of_an_occurrence_looks_for_its_series_elsewhere() -> None:
    series = replace(APPT, recurring=True)
    week = T0 + timedelta(days=7)
    instance = tomb(event_id="evt-1_20260119T090000Z", series_id="evt-1", original_start=week)
    f = facts(link=None, series_link=LINK, appointment=series, move_candidates=MOVE)
    assert decide(instance, f) == LookElsewhere("appt-1", "evt-1", MOVE)
    assert decide(instance, replace(f, gone=True)) == CancelOccurrence("appt-1", 1, week)


def test_our_event_on_another_profiles_calendar_never_cancels_or_reschedules() -> None:
    """Where it lived before a reassignment (link deleted), or a stray copy being reverted (live)."""
    there = CalendarFacts("cal-a", "push", "prof-a", "org")
    reassigned = replace(APPT, profile_id="prof-b", version=2)
    stray = facts(calendar=there, appointment=reassigned, settings=policy(on_external_move="accept"))
    assert decide(tomb(), stray) == MarkLink(1, "deleted")
    assert decide(tomb(), replace(stray, link=replace(LINK, state="deleted"))) == Ignore(
        "copy elsewhere gone"
    )
    moved = ev(start=T0 + timedelta(days=1), end=T0 + timedelta(days=1, hours=1))
    assert decide(moved, stray) == Ignore("copy on another profile's calendar")
    # Moved back to where it was before the reassignment: a calendar change again.
    back = replace(stray, link=replace(LINK, state="deleted"), settings=policy(on_calendar_change="reassign"))
    assert decide(moved, back) == Reassign("appt-1", 2, "prof-a", moved)
    assert decide(moved, replace(back, settings=ProfileSettings())) == RequestPush(
        "appt-1", "revert", stray=moved
    )

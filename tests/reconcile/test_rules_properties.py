"""Properties of the reconcile rules over random changes and random histories.

- no cancellation without an explicit, confirmed tombstone;
- our own echo (etag equal to the link's) never produces a write;
- replaying a history against a model that applies each decision cancels an appointment
  at most once per version, and only after an explicit tombstone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from channels.model import EventStatus, ExternalEvent, Marker, Provider, Response
from handlers.profile_settings import ProfileSettings
from handlers.reconcile_rules import (
    CANCELS,
    WRITES,
    AppointmentFacts,
    CalendarFacts,
    CancelAppointment,
    CancelOccurrence,
    Facts,
    LinkFacts,
    MarkLink,
    Reschedule,
    Verify,
    decide,
)

T0 = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
ETAGS = st.sampled_from(["e1", "e2", "e3", None])
MOMENTS = st.integers(0, 6).map(lambda h: T0 + timedelta(hours=h))

events = st.builds(
    lambda provider, status, event_id, start, etag, marker, transparent, response, series, verify, cal: (
        ExternalEvent(
            provider=provider,
            calendar_id=cal,
            event_id=event_id,
            status=status,
            start=None if status is EventStatus.CANCELLED else start,
            end=None if status is EventStatus.CANCELLED else start + timedelta(hours=1),
            etag=etag,
            marker=Marker("appt-1", 1) if marker else None,
            transparent=transparent,
            owner_response=response,
            series_id="evt-1" if series else None,
            original_start=T0 + timedelta(days=7) if series else None,
            verify_deletion=verify,
        )
    ),
    st.sampled_from(list(Provider)),
    st.sampled_from(list(EventStatus)),
    st.sampled_from(["evt-1", "evt-2", "evt-1_x"]),
    MOMENTS,
    ETAGS,
    st.booleans(),
    st.booleans(),
    st.sampled_from([None, *Response]),
    st.booleans(),
    st.booleans(),
    st.sampled_from(["cal-a", "cal-b"]),
)
settings_st = st.builds(
    ProfileSettings,
    on_external_delete=st.sampled_from(["cancel_and_notify", "restore", "ignore"]),
    on_external_move=st.sampled_from(["accept", "revert", "ignore"]),
    on_calendar_change=st.sampled_from(["reassign", "revert"]),
)
links = st.builds(
    LinkFacts, st.just(1), st.just("appt-1"), st.just("cal-a"), st.sampled_from(["", "20260119T090000Z"]),
    ETAGS, st.integers(1, 3), st.sampled_from(["live", "deleted", "unknown"]),
)  # fmt: skip
appointments = st.builds(
    AppointmentFacts, st.just("appt-1"), st.integers(1, 3), st.sampled_from(["confirmed", "cancelled"]),
    st.sampled_from(["prof-a", "prof-b"]), st.just("org"), MOMENTS, st.just(T0 + timedelta(hours=10)),
    recurring=st.booleans(),
)  # fmt: skip
facts_st = st.builds(
    Facts,
    st.builds(
        CalendarFacts,
        st.sampled_from(["cal-a", "cal-b"]),
        st.sampled_from(["push", "pull", "none"]),
        st.sampled_from(["prof-a", "prof-b"]),
        st.sampled_from(["org", "other"]),
    ),
    settings_st,
    link=st.none() | links,
    series_link=st.none() | links,
    appointment=st.none() | appointments,
    gone=st.sampled_from([None, True, False]),
)


@settings(max_examples=1000)
@given(events, facts_st)
def test_no_cancellation_without_an_explicit_confirmed_tombstone(event: ExternalEvent, facts: Facts) -> None:
    decision = decide(event, facts)
    if isinstance(decision, CANCELS):
        assert event.is_tombstone
        assert not event.verify_deletion or facts.gone is True
        assert facts.appointment is not None and facts.appointment.status != "cancelled"
    if isinstance(decision, Verify):
        assert event.is_tombstone and event.verify_deletion and facts.gone is None


@settings(max_examples=1000)
@given(events, facts_st)
def test_an_echo_never_writes(event: ExternalEvent, facts: Facts) -> None:
    if facts.link is not None and event.etag is not None:
        echo = replace(event, etag=facts.link.etag)
        if echo.etag is not None:
            assert not isinstance(decide(echo, facts), WRITES)


@settings(max_examples=500)
@given(
    st.lists(st.tuples(events, st.sampled_from([None, True, False])), max_size=50),
    settings_st,
    st.booleans(),
)
def test_histories_cancel_at_most_once_per_version(
    history: list[tuple[ExternalEvent, bool | None]], policy: ProfileSettings, link_on_b: bool
) -> None:
    """A model store applies each decision; duplicates, reorderings and stray tombstones included."""
    appt = AppointmentFacts("appt-1", 1, "confirmed", "prof-a", "org", T0, T0 + timedelta(hours=1))
    link = LinkFacts(1, "appt-1", "cal-a", "", "e1", 1, "live")
    cancels: list[int] = []
    explicit_seen = False
    for event, gone in history:
        event = replace(event, calendar_id="cal-a", event_id="evt-1", series_id=None, original_start=None)
        cal = CalendarFacts("cal-a", "push", "prof-a", "org")
        decision = decide(event, Facts(cal, policy, link=link, appointment=appt, gone=gone))
        if isinstance(decision, Verify):
            decision = decide(event, Facts(cal, policy, link=link, appointment=appt, gone=gone or False))
        explicit_seen |= event.is_tombstone and (not event.verify_deletion or gone is True)
        if isinstance(decision, CancelAppointment):
            assert explicit_seen
            cancels.append(appt.version)
            appt = replace(appt, status="cancelled", version=appt.version + 1)
            link = replace(link, state="deleted")
        elif isinstance(decision, CancelOccurrence):
            raise AssertionError("no series here")
        elif isinstance(decision, MarkLink):
            link = replace(link, state=decision.state)
        elif isinstance(decision, Reschedule):
            assert event.start is not None and event.end is not None
            appt = replace(appt, version=appt.version + 1, start=event.start, end=event.end)
            link = replace(link, etag=event.etag, written_version=appt.version)
    assert len(cancels) <= 1
    assert len(set(cancels)) == len(cancels)

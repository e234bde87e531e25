"""Properties of the reconcile rules over random changes and random histories.

- no cancellation without an explicit, confirmed tombstone;
- our own echo (etag equal to the link's) never produces a write;
- replaying a history against a model that applies each decision cancels an appointment
  at most once per version, and only after an explicit tombstone;
- an event moved to another profile's push calendar (Google's ``events.move``: a tombstone
  in the source, the same event in the destination) is never taken for a deletion, whatever
  order the two calendars' changes, their redeliveries and the push worker's revert come in.
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
    LookElsewhere,
    MarkLink,
    Reassign,
    RequestPush,
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
    move_candidates=st.sampled_from([(), ("cal-b",), ("cal-b", "cal-c")]),
    gone=st.sampled_from([None, True, False]),
)


@settings(max_examples=1000)
@given(events, facts_st)
def test_no_cancellation_without_an_explicit_confirmed_tombstone(event: ExternalEvent, facts: Facts) -> None:
    decision = decide(event, facts)
    if isinstance(decision, CANCELS):
        assert event.is_tombstone
        assert not event.verify_deletion or facts.gone is True
        assert not facts.move_candidates or facts.gone is True  # looked elsewhere: found nowhere
        assert facts.appointment is not None and facts.appointment.status != "cancelled"
        assert facts.calendar.profile_id == facts.appointment.profile_id  # never a copy elsewhere
    if isinstance(decision, Verify):
        assert event.is_tombstone and event.verify_deletion and facts.gone is None
    if isinstance(decision, LookElsewhere):
        assert event.is_tombstone and not event.verify_deletion and facts.gone is None
        assert decision.calendars == facts.move_candidates != ()


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


A, B = CalendarFacts("cal-a", "push", "prof-a", "org"), CalendarFacts("cal-b", "push", "prof-b", "org")


@settings(max_examples=500)
@given(
    st.lists(st.sampled_from(["move_tombstone", "sync_a", "sync_b", "push_worker"]), min_size=1, max_size=30),
    st.sampled_from(["reassign", "revert"]),
)
def test_a_move_is_never_a_deletion_in_any_order(steps: list[str], change_policy: str) -> None:
    """The provider after ``events.move`` A -> B, as the model sees it: where the event is live
    (calendar -> etag). Steps deliver the source's tombstone (late ones included), a sync of either
    calendar (its current state), or let the push worker take the next step of a requested revert
    (restore in A, record it, delete the copy in B, record that: each may interleave with syncs)."""
    policy = ProfileSettings(on_calendar_change=change_policy)  # type: ignore[arg-type]
    appt = AppointmentFacts("appt-1", 1, "confirmed", "prof-a", "org", T0, T0 + timedelta(hours=1))
    links = {"cal-a": LinkFacts(1, "appt-1", "cal-a", "", "e-a1", 1, "live")}
    live = {"cal-b": "e-b1"}  # moved: the source only has a cancelled entry
    revert_stage, reassigned, etags = 0, 0, iter(f"e-{n}" for n in range(100))

    def seen(calendar: str) -> ExternalEvent:
        if calendar not in live:
            return ExternalEvent(Provider.GOOGLE, calendar, "evt-1", EventStatus.CANCELLED, etag=next(etags))
        return ExternalEvent(
            Provider.GOOGLE, calendar, "evt-1", EventStatus.CONFIRMED, start=T0, end=T0 + timedelta(hours=1),
            etag=live[calendar], marker=Marker("appt-1", 1),
        )  # fmt: skip

    def facts_for(event: ExternalEvent, gone: bool | None = None) -> Facts:
        cal = A if event.calendar_id == "cal-a" else B
        link = links.get(cal.id)
        home = cal.profile_id == appt.profile_id and link is not None and event.is_tombstone
        others = tuple(c for c in ("cal-a", "cal-b") if c != cal.id) if home else ()
        return Facts(cal, policy, link=link, appointment=appt, move_candidates=others, gone=gone)

    for step in steps:
        if step == "push_worker":  # one write or record at a time: our version back in A, then B
            if revert_stage == 1:
                live["cal-a"] = next(etags)
            elif revert_stage == 2:
                links["cal-a"] = replace(links["cal-a"], etag=live["cal-a"], state="live")
            elif revert_stage == 3:
                live.pop("cal-b", None)
            elif revert_stage == 4:
                links["cal-b"] = replace(links["cal-b"], state="deleted")
            revert_stage = revert_stage + 1 if revert_stage in (1, 2, 3) else 0
            continue
        event = seen("cal-b") if step == "sync_b" else seen("cal-a")
        if step == "move_tombstone":
            event = ExternalEvent(Provider.GOOGLE, "cal-a", "evt-1", EventStatus.CANCELLED, etag="e-moved")
        decision = decide(event, facts_for(event))
        if isinstance(decision, LookElsewhere):  # candidates first, the source last
            found = next((seen(c) for c in decision.calendars if c in live), None)
            found = found or (seen(event.calendar_id) if event.calendar_id in live else None)
            decision = decide(found, facts_for(found)) if found else decide(event, facts_for(event, True))
        assert not isinstance(decision, CANCELS), f"{step}: {decision}"
        if isinstance(decision, Reassign):
            reassigned += 1
            appt = replace(appt, profile_id=decision.to_profile, version=appt.version + 1)
            links = {
                c: replace(x, state="deleted") for c, x in links.items() if c != decision.event.calendar_id
            }
            links[decision.event.calendar_id] = LinkFacts(
                2, "appt-1", "cal-b", "", decision.event.etag, 2, "live"
            )
        elif isinstance(decision, RequestPush):
            assert decision.stray is not None and change_policy == "revert"
            links["cal-b"] = LinkFacts(2, "appt-1", "cal-b", "", decision.stray.etag, appt.version, "live")
            revert_stage = revert_stage or 1
        elif isinstance(decision, MarkLink):
            links = {
                c: replace(x, state=decision.state) if x.id == decision.link_id else x
                for c, x in links.items()
            }
    assert reassigned <= 1 and appt.status == "confirmed"
    if change_policy == "revert":
        assert reassigned == 0 and appt.profile_id == "prof-a"

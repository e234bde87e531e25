"""The pure push planner: each rule on its own, then convergence over random histories (hypothesis).

A tiny in-test model of the provider and the link table executes the plans the way the
worker does, so the properties are about the planner alone: after executing a plan the
next plan is empty, nothing is ever created where a live event of ours already exists,
and a recurring appointment is one series per calendar, never one event per occurrence.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.push_plan import (
    AdvanceLink,
    CreateEvent,
    DeleteEvent,
    LinkState,
    OverrideState,
    PushInput,
    UpdateEvent,
    WriteInstance,
    blocked,
    plan,
)

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def key(n: int) -> str:
    return (T0 + timedelta(days=7 * n)).strftime("%Y%m%dT%H%M%SZ")


def override(n: int, version: int, cancelled: bool = False) -> OverrideState:
    return OverrideState(key(n), T0 + timedelta(days=7 * n), cancelled, version)


def base(**changes: object) -> PushInput:
    p = PushInput("a1", 1, cancelled=False, recurring=False, future=True, push_calendar_id="cal1")
    return replace(p, **changes)  # type: ignore[arg-type]


def master(calendar: str = "cal1", version: int = 1, state: str = "live") -> LinkState:
    return LinkState(calendar, "", f"ev-{calendar}", "etag-1", version, state)


def test_new_appointment_is_created_once_with_the_deterministic_key() -> None:
    assert plan(base()) == [CreateEvent("cal1", "a1:cal1")]


def test_written_version_up_to_date_plans_nothing() -> None:
    assert plan(base(links=(master(),))) == []


def test_newer_version_updates_with_the_stored_etag() -> None:
    assert plan(base(version=2, links=(master(),))) == [UpdateEvent("cal1", "ev-cal1", "etag-1")]


def test_cancelled_deletes_and_never_recreates() -> None:
    p = base(version=2, cancelled=True, links=(master(),))
    assert plan(p) == [DeleteEvent("cal1", "ev-cal1")]
    assert plan(replace(p, links=(master(version=2, state="deleted"),))) == []


def test_push_calendar_changed_moves_future_appointments_only() -> None:
    p = base(push_calendar_id="cal2", links=(master("cal1"),), reason="push_calendar_changed")
    # The new calendar first: our event is never missing from both (see push_plan's docstring).
    assert plan(p) == [CreateEvent("cal2", "a1:cal2"), DeleteEvent("cal1", "ev-cal1")]
    assert plan(replace(p, future=False)) == []


def test_gone_event_is_left_to_the_reconciler_unless_restoring() -> None:
    p = base(version=2, links=(master(state="unknown"),))
    assert plan(p) == [] and blocked(p)
    restored = replace(p, reason="restore")
    assert plan(restored) == [CreateEvent("cal1", "a1:cal1")] and not blocked(restored)


def test_revert_recreates_only_what_a_move_to_another_calendar_took_away() -> None:
    # Moved in time, then deleted by the owner: the deletion is the reconciler's to see.
    deleted_meanwhile = base(version=2, links=(master(state="unknown"),), reason="revert")
    assert plan(deleted_meanwhile) == [] and blocked(deleted_meanwhile)
    # Moved to another profile's calendar (linked there as a stray): ours comes back, the stray goes.
    moved_away = replace(deleted_meanwhile, links=(master(state="unknown"), master("cal2")))
    assert plan(moved_away) == [CreateEvent("cal1", "a1:cal1"), DeleteEvent("cal2", "ev-cal2")]
    assert not blocked(moved_away)


def test_revert_rewrites_even_an_up_to_date_event() -> None:
    assert plan(base(links=(master(),), reason="revert")) == [UpdateEvent("cal1", "ev-cal1", "etag-1")]


def test_series_with_overrides_writes_instances_after_creating_it() -> None:
    p = base(recurring=True, version=3, overrides=(override(1, 2), override(2, 3, cancelled=True)))
    assert plan(p) == [
        CreateEvent("cal1", "a1:cal1"),
        WriteInstance("cal1", key(1), T0 + timedelta(days=7), False),
        WriteInstance("cal1", key(2), T0 + timedelta(days=14), True),
    ]


def test_occurrence_only_change_touches_that_instance_and_not_the_series() -> None:
    links = (master(version=2), LinkState("cal1", key(1), "ev_i1", "e", 2, "live"))
    p = base(
        recurring=True, version=3, links=links, overrides=(override(1, 2), override(2, 3, cancelled=True))
    )
    assert plan(p) == [AdvanceLink("cal1"), WriteInstance("cal1", key(2), T0 + timedelta(days=14), True)]


def test_host_change_between_occurrence_changes_rewrites_the_series() -> None:
    # v3 was a host edit (no override carries it), v4 an occurrence move.
    p = base(recurring=True, version=4, links=(master(version=2),), overrides=(override(1, 4),))
    assert plan(p)[0] == UpdateEvent("cal1", "ev-cal1", "etag-1")


# --- convergence over random histories --------------------------------------------------


@dataclass
class World:
    """The store (appointment + overrides + links) and a model provider, as the worker sees them."""

    version: int = 1
    cancelled: bool = False
    recurring: bool = False
    push: str | None = "cal1"
    future: bool = True
    overrides: dict[int, OverrideState] = field(default_factory=dict)
    links: dict[tuple[str, str], LinkState] = field(default_factory=dict)
    live: dict[str, int] = field(default_factory=dict)  # calendar -> live series/events of ours there
    creates: int = 0

    def input(self, reason: str = "") -> PushInput:
        return PushInput(
            "a1", self.version, self.cancelled, self.recurring, self.future, self.push,
            tuple(self.links.values()), tuple(self.overrides.values()), reason,
        )  # fmt: skip

    def execute(self, reason: str = "", limit: int | None = None) -> None:
        p = self.input(reason)
        for action in plan(p)[:limit]:
            match action:
                case CreateEvent(cal, _):
                    assert self.live.get(cal, 0) == 0, "created where a live event of ours exists"
                    self.live[cal] = 1
                    self.creates += 1
                    self.links[(cal, "")] = LinkState(
                        cal, "", f"ev-{cal}", f"e{self.version}", self.version, "live"
                    )
                case UpdateEvent(cal, event_id, _):
                    assert self.live.get(cal) == 1
                    self.links[(cal, "")] = LinkState(
                        cal, "", event_id, f"e{self.version}", self.version, "live"
                    )
                case AdvanceLink(cal):
                    self.links[(cal, "")] = replace(self.links[(cal, "")], written_version=self.version)
                case WriteInstance(cal, k, _, cancel):
                    assert self.live.get(cal) == 1, "instance written without its series"
                    state = "deleted" if cancel else "live"
                    self.links[(cal, k)] = LinkState(cal, k, f"ev-{cal}", None, self.version, state)
                case DeleteEvent(cal, _):
                    self.live[cal] = 0
                    for (c, k), link in list(self.links.items()):
                        if c == cal:
                            self.links[(c, k)] = replace(link, state="deleted", written_version=self.version)


ops = st.one_of(
    st.just(("edit",)),
    st.just(("cancel",)),
    st.just(("reactivate",)),
    st.tuples(st.just("move"), st.integers(0, 3)),
    st.tuples(st.just("cancel_occurrence"), st.integers(0, 3)),
    st.tuples(st.just("push_calendar"), st.sampled_from(["cal1", "cal2", "cal3", None])),
    st.just(("redeliver",)),
    st.just(("crash_mid_plan",)),
)


@settings(max_examples=300, deadline=None)
@given(recurring=st.booleans(), history=st.lists(ops, max_size=25))
def test_any_history_converges_and_never_creates_twice(
    recurring: bool, history: list[tuple[object, ...]]
) -> None:
    w = World(recurring=recurring)
    w.execute()
    for op in history:
        reason = ""
        match op:
            case ("edit",):
                w.version += 1
            case ("cancel",) if not w.cancelled:
                w.version, w.cancelled = w.version + 1, True
            case ("reactivate",) if w.cancelled:
                w.version, w.cancelled = w.version + 1, False
            case ("move", int(n)) if recurring and not w.cancelled:
                w.version += 1
                w.overrides[n] = override(n, w.version)
            case ("cancel_occurrence", int(n)) if recurring and not w.cancelled:
                if not (n in w.overrides and w.overrides[n].cancelled):
                    w.version += 1
                    w.overrides[n] = override(n, w.version, cancelled=True)
            case ("push_calendar", cal):
                w.push = cal if cal is None else str(cal)
                reason = "push_calendar_changed"
            case ("crash_mid_plan",):
                w.version += 1
                w.execute(limit=1)  # only the first action ran before the crash: the next pass resumes
        w.execute(reason)
        assert plan(w.input()) == [], "not converged after one pass"
        assert all(n <= 1 for n in w.live.values()), "two live events of one appointment in one calendar"
        if not w.cancelled and w.push is not None and w.future:
            assert w.live.get(w.push) == 1
        if w.cancelled:
            assert all(n == 0 for n in w.live.values())
        instance_links = [link for link in w.links.values() if link.instance_key]
        assert all(link.event_id.startswith("ev-") for link in instance_links)

"""Renewal planning (pure): watch, renew within the margin, retire older channels, stop after overlap."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from channels.renewal import ChannelView, Expire, Renew, RenewalPolicy, Retire, Stop, Watch, plan, retry_delay

NOW = datetime(2026, 1, 5, 9, tzinfo=UTC)
POLICY = RenewalPolicy()


def view(
    cid: str, cal: str = "c1", state: str = "active", expires_in: float = 100.0, **kw: object
) -> ChannelView:
    return ChannelView(cid, cal, state, NOW - timedelta(hours=1), NOW + timedelta(hours=expires_in), **kw)  # type: ignore[arg-type]


def test_unwatched_calendar_gets_a_watch_unless_held_back() -> None:
    assert plan(["c1"], [], NOW, POLICY) == [Watch("c1")]
    assert plan(["c1"], [], NOW, POLICY, {"c1": NOW + timedelta(seconds=5)}) == []


def test_renew_only_inside_the_margin_and_after_backoff() -> None:
    assert plan(["c1"], [view("a", expires_in=25)], NOW, POLICY) == []
    assert plan(["c1"], [view("a", expires_in=23)], NOW, POLICY) == [Renew("a", "c1")]
    held = view("a", state="error", expires_in=23, retry_at=NOW + timedelta(minutes=1))
    assert plan(["c1"], [held], NOW, POLICY) == []


def test_older_channels_retire_expired_ones_expire_retiring_ones_stop() -> None:
    old = view("old")
    new = ChannelView("new", "c1", "active", NOW, NOW + timedelta(days=7))
    gone = view("gone", cal="c2", expires_in=-1)
    retiring = view("r", state="retiring", retry_at=NOW - timedelta(seconds=1))
    waiting = view("w", state="retiring", retry_at=NOW + timedelta(minutes=4))
    actions = plan(["c1", "c2"], [old, new, gone, retiring, waiting], NOW, POLICY)
    assert set(actions) == {Retire("old"), Expire("gone"), Stop("r"), Watch("c2")}


@given(st.integers(min_value=1, max_value=200), st.integers(min_value=0, max_value=2**32))
def test_retry_delay_is_bounded_and_positive(failures: int, seed: int) -> None:
    delay = retry_delay(failures, POLICY, random.Random(seed))
    assert timedelta(0) < delay <= POLICY.retry_cap

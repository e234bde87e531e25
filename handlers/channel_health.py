"""How healthy a push channel looks to an operator, derived purely from its stored state and ``now``.

Stored states are what the renewal machinery needs (``active``, ``error``, ``retiring``,
``stopped``); operators need to know what to worry about. The view states:

- ``active``: live and not yet due for renewal;
- ``renewing``: due for renewal (inside the renewal margin) with no failure yet, or a
  superseded channel in its hand-over overlap (``retiring``) waiting to be stopped;
- ``expiring_soon``: live, less than ``warn_before`` (6 h) left — every renewal attempt
  in the 24 h margin has failed so far; this is what pages someone;
- ``error``: the last renewal/stop attempt failed (still more than 6 h left), or the
  channel lapsed without a successor;
- ``stopped``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Literal

ViewState = Literal["active", "renewing", "expiring_soon", "error", "stopped"]
VIEW_STATES: Final[tuple[ViewState, ...]] = ("active", "renewing", "expiring_soon", "error", "stopped")
TROUBLE: Final[frozenset[str]] = frozenset({"expiring_soon", "error"})


@dataclass(frozen=True, slots=True)
class HealthPolicy:
    margin: timedelta = timedelta(hours=24)  # the renewal margin (RenewalPolicy.margin)
    warn_before: timedelta = timedelta(hours=6)


def view_state(stored: str, expires_at: datetime, now: datetime, policy: HealthPolicy) -> ViewState:
    if stored == "stopped":
        return "stopped"
    if stored == "retiring":
        return "renewing"
    left = expires_at - now
    if left <= timedelta(0):
        return "error"  # lapsed: nothing is watching this calendar through this channel
    if left <= policy.warn_before:
        return "expiring_soon"
    if stored == "error":
        return "error"
    if left <= policy.margin:
        return "renewing"
    return "active"

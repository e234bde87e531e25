"""The observation port: what handlers and the bus report for metrics, without importing the daemon.

The composition root passes the daemon's Prometheus ``Metrics`` (which implements this
Protocol); tests and tools that don't care get ``NULL_OBSERVER``. Labels are bounded by
construction: providers, outcomes, reasons and topics, never ids.
"""

from __future__ import annotations

from typing import Protocol


class Observer(Protocol):
    def notification(self, provider: str, outcome: str) -> None:
        """One provider notification: ``accepted`` or a rejection reason (forged, unknown, malformed)."""
        ...

    def sync_pass(self, provider: str, outcome: str, seconds: float, lag: float | None) -> None:
        """One sync pass: its duration and, for passes a notification triggered, arrival-to-done lag."""
        ...

    def email(self, outcome: str) -> None:
        """One client e-mail attempt: ``sent``, ``retry`` or ``failed``."""
        ...

    def bus_handled(self, topic: str, outcome: str) -> None:
        """One consumed record: ``ok`` or ``dead_lettered``."""
        ...


class NullObserver:
    def notification(self, provider: str, outcome: str) -> None:
        pass

    def sync_pass(self, provider: str, outcome: str, seconds: float, lag: float | None) -> None:
        pass

    def email(self, outcome: str) -> None:
        pass

    def bus_handled(self, topic: str, outcome: str) -> None:
        pass


NULL_OBSERVER = NullObserver()

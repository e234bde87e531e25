"""Per-notificationUrl health, as MS-WH describes Graph's webhook throttling.

Sans-IO: callers pass ``now`` (emulator time) and whether a delivery was slow. The last
``throttle_window_size`` deliveries are kept; once ``throttle_min_samples`` are in, a slow share of
≥10 % marks the endpoint *throttled* (its notifications wait ``throttle_delay``) and ≥15 % makes it
*dropping*. The window is flushed every ``throttle_window_flush``, which is how an endpoint recovers.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from .config import GraphEmulatorConfig

EndpointState = Literal["normal", "throttled", "dropping"]


@dataclass(slots=True)
class EndpointStats:
    window_started: datetime
    samples: deque[bool]
    deliveries: int = 0
    slow: int = 0
    failures: int = 0
    dropped: int = 0
    delayed: int = 0
    states_seen: set[str] = field(default_factory=set)


class ThrottleBook:
    def __init__(self, config: GraphEmulatorConfig) -> None:
        self.config = config
        self.endpoints: dict[str, EndpointStats] = {}

    def _stats(self, url: str, now: datetime) -> EndpointStats:
        stats = self.endpoints.get(url)
        if stats is None:
            stats = EndpointStats(now, deque(maxlen=self.config.throttle_window_size))
            self.endpoints[url] = stats
        elif now - stats.window_started >= self.config.throttle_window_flush:
            stats.samples.clear()
            stats.window_started = now
        return stats

    def record(self, url: str, *, slow: bool, ok: bool, now: datetime) -> None:
        stats = self._stats(url, now)
        stats.samples.append(slow)
        stats.deliveries += 1
        stats.slow += int(slow)
        stats.failures += int(not ok)

    def state(self, url: str, now: datetime) -> EndpointState:
        stats = self._stats(url, now)
        if len(stats.samples) < self.config.throttle_min_samples:
            result: EndpointState = "normal"
        else:
            ratio = sum(stats.samples) / len(stats.samples)
            if ratio >= self.config.drop_slow_ratio:
                result = "dropping"
            elif ratio >= self.config.throttle_slow_ratio:
                result = "throttled"
            else:
                result = "normal"
        stats.states_seen.add(result)
        return result

    def note(self, url: str, now: datetime, *, dropped: int = 0, delayed: int = 0) -> None:
        stats = self._stats(url, now)
        stats.dropped += dropped
        stats.delayed += delayed

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return {
            url: {
                "deliveries": s.deliveries,
                "slow": s.slow,
                "failures": s.failures,
                "dropped": s.dropped,
                "delayed": s.delayed,
                "window": len(s.samples),
                "window_slow": sum(s.samples),
                "states_seen": sorted(s.states_seen),
            }
            for url, s in self.endpoints.items()
        }

"""Pure interval algebra on half-open ``[start, end)`` intervals of POSIX seconds.

Every function takes and returns plain tuples; "normalized" means sorted by start,
non-empty and pairwise disjoint and non-adjacent (``merge`` produces that form).
Zero-length intervals block nothing and are dropped by ``merge``.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

Interval = tuple[int, int]


def to_epoch(value: datetime) -> int:
    """Whole POSIX seconds of an aware instant (sub-second parts are dropped)."""
    return int(value.timestamp())


def from_epoch(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """Union: sorted, disjoint, with overlapping or touching intervals joined; empty ones dropped."""
    out: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def clip(intervals: Iterable[Interval], start: int, end: int) -> list[Interval]:
    """Each interval cut to ``[start, end)``; what falls outside (or becomes empty) is dropped."""
    return [(max(s, start), min(e, end)) for s, e in intervals if s < end and e > start and s < e]


def subtract(base: Sequence[Interval], removed: Sequence[Interval]) -> list[Interval]:
    """``base`` minus ``removed``; both normalized, result normalized."""
    out: list[Interval] = []
    j = 0
    for start, end in base:
        cursor = start
        # Skip removals that end before this base interval; they cannot touch later ones either.
        while j < len(removed) and removed[j][1] <= cursor:
            j += 1
        k = j
        while k < len(removed) and removed[k][0] < end:
            r_start, r_end = removed[k]
            if r_start > cursor:
                out.append((cursor, r_start))
            cursor = max(cursor, r_end)
            if cursor >= end:
                break
            k += 1
        if cursor < end:
            out.append((cursor, end))
    return out


def intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    """Intersection of two normalized lists (two-pointer sweep)."""
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        start, end = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if start < end:
            out.append((start, end))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


class Timeline:
    """A normalized interval list with bisect lookups: O(log n + k) per query.

    Built once (``merge``) and then only read, so it is safe to share between requests.
    """

    __slots__ = ("_ends", "_starts", "intervals")

    def __init__(self, intervals: Iterable[Interval]) -> None:
        self.intervals = merge(intervals)
        self._starts = [s for s, _ in self.intervals]
        self._ends = [e for _, e in self.intervals]

    def overlapping(self, start: int, end: int) -> list[Interval]:
        """The merged busy intervals that overlap ``[start, end)`` (unclipped)."""
        if end <= start:
            return []
        lo = bisect_right(self._ends, start)  # first interval ending after start
        hi = bisect_left(self._starts, end)  # intervals starting before end
        return self.intervals[lo:hi]

    def window(self, start: int, end: int) -> list[Interval]:
        """The busy time inside ``[start, end)``, clipped to it."""
        return clip(self.overlapping(start, end), start, end)

    def is_free(self, start: int, end: int) -> bool:
        return not self.overlapping(start, end)


def fitting_slots(
    free: Sequence[Interval],
    windows: Sequence[Interval],
    *,
    duration: int,
    step: int,
    buffer_before: int = 0,
    buffer_after: int = 0,
) -> list[Interval]:
    """Slots ``[t, t + duration)`` on a ``step`` grid anchored at each window's start.

    A slot must lie inside one window (working hours) and its buffered extent
    ``[t - buffer_before, t + duration + buffer_after)`` inside the free time.
    ``free`` and ``windows`` are normalized; the result is sorted.
    """
    if duration <= 0 or step <= 0:
        raise ValueError("duration and step must be positive")
    out: list[Interval] = []
    free_starts = [s for s, _ in free]
    for w_start, w_end in windows:
        t = w_start
        while t + duration <= w_end:
            lo, hi = t - buffer_before, t + duration + buffer_after
            k = bisect_right(free_starts, lo) - 1
            if k >= 0 and free[k][1] >= hi:
                out.append((t, t + duration))
                t += step
                continue
            # Jump to the first grid point whose buffered start reaches the next free interval.
            if k + 1 >= len(free):
                break
            target = free[k + 1][0] + buffer_before
            t = max(t + step, w_start + -(-(target - w_start) // step) * step)
    return out

"""Event writes and reads: insert, get, patch, update, delete and move, including single instances.

Modifying an instance of a series stores an exception under the instance id; deleting one
stores a cancelled exception. Deleting an event marks it cancelled (it stays visible to
incremental sync); deleting it again is 410 ``deleted``. Moving an event to another calendar
(``events.move``: "changes an event's organizer") keeps its id and iCalUID; the source keeps a
cancelled entry, exactly as if it had been deleted there. Every change is reported to
``on_change`` so push channels can announce it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from calsync.clock import Clock
from channels.emulators.google.config import EmulatorConfig
from channels.emulators.google.errors import (
    ApiError,
    Json,
    condition_not_met,
    deleted,
    duplicate,
    instance_not_movable,
    not_found,
)
from channels.emulators.google.recurrence import Occurrence
from channels.emulators.google.resources import (
    InstanceOf,
    build_event,
    merge_patch,
    public_view,
    validate_client_id,
)
from channels.emulators.google.series import is_occurrence, materialize, shape_of, split_instance_id
from channels.emulators.google.store import Calendar, Store, StoredEvent
from channels.emulators.google.timeutil import format_millis

ChangeListener = Callable[[Calendar], None]


class EventService:
    def __init__(self, store: Store, clock: Clock, config: EmulatorConfig, on_change: ChangeListener) -> None:
        self._store = store
        self._clock = clock
        self._config = config
        self._on_change = on_change

    # -- lookups ---------------------------------------------------------------------------
    def _virtual(self, calendar: Calendar, event_id: str) -> tuple[StoredEvent, Occurrence] | None:
        """The (series, original start) an unmodified instance id designates, if it is one."""
        parts = split_instance_id(event_id)
        if parts is None:
            return None
        series = calendar.events.get(parts[0])
        if series is None or not series.is_series:
            return None
        if not is_occurrence(series, parts[1], self._config.max_instances_per_series):
            return None
        return series, _in_series_zone(series, parts[1])

    def get(self, calendar: Calendar, event_id: str) -> Json:
        stored = calendar.events.get(event_id)
        if stored is not None:
            return public_view(stored.resource)
        virtual = self._virtual(calendar, event_id)
        if virtual is None:
            raise not_found()
        series, original = virtual
        instance = materialize(series, original, calendar)
        if series.cancelled:
            instance["status"] = "cancelled"
        return public_view(instance)

    # -- writes ----------------------------------------------------------------------------
    def insert(self, calendar: Calendar, body: Json) -> Json:
        if body.get("id") is not None:
            event_id = validate_client_id(body["id"])
            if event_id in calendar.events:
                raise duplicate()
        else:
            event_id = self._store.new_event_id()
        now = self._clock.now()
        resource = build_event(body, calendar, event_id=event_id, etag=self._store.new_etag(now), now=now)
        stored = StoredEvent(event_id, resource, 0, self._store.next_order())
        calendar.events[event_id] = stored
        self._changed(calendar, stored)
        return public_view(resource)

    def modify(
        self, calendar: Calendar, event_id: str, body: Json, *, patch: bool, if_match: str | None
    ) -> Json:
        """events.patch (``patch=True``) and events.update, for events, series and instances."""
        if not isinstance(body, dict):
            raise ApiError(400, "parseError", "Parse Error")
        stored = calendar.events.get(event_id)
        instance: InstanceOf | None = None
        if stored is not None:
            base = stored.resource
            if stored.series_id:
                instance = InstanceOf(stored.series_id, base["originalStartTime"], base["iCalUID"])
        else:
            virtual = self._virtual(calendar, event_id)
            if virtual is None:
                raise not_found()
            series, original = virtual
            base = materialize(series, original, calendar)
            instance = InstanceOf(series.id, base["originalStartTime"], series.resource["iCalUID"])
        _check_if_match(base, if_match)
        merged = merge_patch(base, body) if patch else body
        now = self._clock.now()
        resource = build_event(
            merged,
            calendar,
            event_id=event_id,
            etag=self._store.new_etag(now),
            now=now,
            previous=base,
            instance=instance,
        )
        if stored is None:
            stored = StoredEvent(event_id, resource, 0, self._store.next_order())
            calendar.events[event_id] = stored
        else:
            stored.resource = resource
        self._changed(calendar, stored)
        return public_view(resource)

    def delete(self, calendar: Calendar, event_id: str, if_match: str | None) -> None:
        stored = calendar.events.get(event_id)
        if stored is None:
            virtual = self._virtual(calendar, event_id)
            if virtual is None:
                raise not_found()
            series, original = virtual
            if series.cancelled:
                raise deleted()
            base = materialize(series, original, calendar)
            _check_if_match(base, if_match)
            stored = StoredEvent(event_id, base, 0, self._store.next_order())
            calendar.events[event_id] = stored
        else:
            _check_if_match(stored.resource, if_match)
            if stored.cancelled:
                raise deleted()
        self._cancel(calendar, stored)
        if stored.is_series:
            # Cancelling a series cancels what remains of its exceptions too.
            for other in list(calendar.events.values()):
                if other.series_id == stored.id and not other.cancelled:
                    self._cancel(calendar, other)

    def move(self, source: Calendar, event_id: str, destination: Calendar) -> Json:
        """events.move: a single event or a whole series (with its exceptions) changes calendar.

        The moved resource keeps id, iCalUID, creator, content and extended properties; it gets
        the destination as organizer, a new etag and ``updated``. Each moved event stays in the
        source as a cancelled entry, so the source's incremental sync lists it as deleted.
        """
        stored = source.events.get(event_id)
        if stored is None and self._virtual(source, event_id) is not None:
            raise instance_not_movable()
        if stored is None or stored.cancelled:
            raise not_found()
        if stored.series_id:
            raise instance_not_movable()
        if destination.id == source.id:
            return public_view(stored.resource)
        taken = destination.events.get(event_id)
        if taken is not None and not taken.cancelled:
            raise duplicate()
        family = [stored, *(e for e in source.live_events() if e.series_id == stored.id)]
        for member in family:
            self._arrive(destination, member)
        for member in family:
            if not member.cancelled:
                self._cancel(source, member)
        return public_view(destination.events[event_id].resource)

    def _arrive(self, destination: Calendar, member: StoredEvent) -> None:
        """``member`` as the destination's own event (a cancelled leftover of the same id is replaced)."""
        base = member.resource
        instance = (
            InstanceOf(member.series_id, base["originalStartTime"], base["iCalUID"])
            if member.series_id
            else None
        )
        now = self._clock.now()
        resource = build_event(
            base, destination, event_id=member.id, etag=self._store.new_etag(now), now=now,
            previous=base, instance=instance,
        )  # fmt: skip
        resource["creator"] = dict(base["creator"])  # the organizer changes, the creator does not
        arrived = StoredEvent(member.id, resource, 0, self._store.next_order())
        destination.events[member.id] = arrived
        self._changed(destination, arrived)

    def _cancel(self, calendar: Calendar, stored: StoredEvent) -> None:
        now = self._clock.now()
        stored.resource = {**stored.resource, "status": "cancelled", "etag": self._store.new_etag(now)}
        stored.resource["updated"] = format_millis(now)
        self._changed(calendar, stored)

    def _changed(self, calendar: Calendar, stored: StoredEvent) -> None:
        self._store.touch(calendar, stored, self._clock.now())
        self._on_change(calendar)


def _check_if_match(resource: Json, if_match: str | None) -> None:
    if if_match is None or if_match.strip() == "*":
        return
    if if_match.strip() != resource.get("etag"):
        raise condition_not_met()


def _in_series_zone(series: StoredEvent, original: Occurrence) -> Occurrence:
    """Instance ids carry UTC; expansion works in the series' zone, so convert back."""
    if isinstance(original, datetime):
        zone_name = shape_of(series.resource).start.zone_name
        if zone_name:
            return original.astimezone(ZoneInfo(zone_name))
    return original

"""events.list and events.instances: full listings, incremental sync, filters and paging.

Full listings apply the documented visibility rules for cancelled items; incremental listings
(``syncToken``) return every event changed since the token, cancelled ones included. Either
way the whole result is snapshotted and paged; ``nextSyncToken`` rides only on the last page.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from calsync.clock import Clock
from channels.emulators.google.config import EmulatorConfig
from channels.emulators.google.errors import Json, deleted, not_found
from channels.emulators.google.query import ListQuery
from channels.emulators.google.resources import public_view, updated_of
from channels.emulators.google.series import expand
from channels.emulators.google.store import Calendar, StoredEvent
from channels.emulators.google.timeutil import format_millis, parse_event_time
from channels.emulators.google.tokens import (
    PageSnapshots,
    Snapshot,
    check_sync_point,
    decode_sync_token,
    encode_sync_token,
)


def span(resource: Json, calendar: Calendar) -> tuple[datetime, datetime]:
    tz = calendar.time_zone
    return (
        parse_event_time(resource["start"], "start").as_instant(tz),
        parse_event_time(resource["end"], "end").as_instant(tz),
    )


class Lister:
    def __init__(self, clock: Clock, config: EmulatorConfig, snapshots: PageSnapshots) -> None:
        self._clock = clock
        self._config = config
        self._snapshots = snapshots

    # -- entry points ----------------------------------------------------------------------
    def list_events(self, calendar: Calendar, query: ListQuery) -> Json:
        if query.page_token is not None:
            snapshot = self._snapshots.resume(query.page_token, calendar)
        else:
            now = self._clock.now()
            if query.sync_token is not None:
                point = decode_sync_token(query.sync_token)
                check_sync_point(point, calendar, now, self._config.sync_token_ttl)
                items = self._changed(calendar, query, point.seq)
            else:
                items = self.full_items(calendar, query)
            token = encode_sync_token(calendar, calendar.seq, now)
            snapshot = Snapshot(calendar.id, [public_view(r) for r in items], 0, query.max_results, token)
        return self._page(calendar, snapshot, query, with_sync_token=True)

    def list_instances(self, calendar: Calendar, series_id: str, query: ListQuery) -> Json:
        if query.page_token is not None:
            return self._page(calendar, self._snapshots.resume(query.page_token, calendar), query, False)
        series = calendar.events.get(series_id)
        if series is None:
            raise not_found()
        if series.cancelled:
            raise deleted()
        candidates = self._instances(calendar, series, query) if series.is_series else [series.resource]
        items = []
        for res in candidates:
            if res.get("status") == "cancelled" and not query.show_deleted:
                continue
            start, end = span(res, calendar)
            # instances' timeMin is inclusive on the end time, unlike events.list.
            if query.time_min is not None and end < query.time_min:
                continue
            if query.time_max is not None and start >= query.time_max:
                continue
            if query.original_start is not None and not _starts_at(res, query.original_start, calendar):
                continue
            items.append(public_view(res))
        items.sort(key=lambda r: _original_instant(r, calendar))
        return self._page(calendar, Snapshot(calendar.id, items, 0, query.max_results, None), query, False)

    # -- helpers ---------------------------------------------------------------------------
    def _page(self, calendar: Calendar, snapshot: Snapshot, query: ListQuery, with_sync_token: bool) -> Json:
        snapshot.page_size = query.max_results
        items, next_page = self._snapshots.page(snapshot)
        body: Json = {
            "kind": "calendar#events",
            "etag": f'"p{calendar.seq:016d}"',
            "summary": calendar.summary,
            "description": calendar.description or "",
            "updated": format_millis(calendar.updated or self._clock.now()),
            "timeZone": calendar.time_zone,
            "accessRole": "owner",
            "defaultReminders": [],
            "items": items,
        }
        if next_page is not None:
            body["nextPageToken"] = next_page
        elif with_sync_token and snapshot.next_sync_token is not None:
            body["nextSyncToken"] = snapshot.next_sync_token
        return body

    def _until(self, series: StoredEvent, calendar: Calendar, query: ListQuery) -> datetime:
        if query.time_max is not None:
            return query.time_max
        start = span(series.resource, calendar)[0]
        return max(start, self._clock.now()) + self._config.expansion_horizon

    def _instances(self, calendar: Calendar, series: StoredEvent, query: ListQuery) -> list[Json]:
        return expand(
            series, calendar, self._until(series, calendar, query), self._config.max_instances_per_series
        )

    def full_items(self, calendar: Calendar, query: ListQuery) -> list[Json]:
        """Stored resources a full listing returns (filters, visibility rules, ordering)."""
        out: list[Json] = []
        for ev in calendar.live_events():
            parent = calendar.events.get(ev.series_id) if ev.series_id else None
            if query.single_events:
                if parent is not None and parent.is_series:
                    continue  # emitted through its series' expansion
                if ev.is_series:
                    if not ev.cancelled:
                        out.extend(
                            r for r in self._instances(calendar, ev, query) if self._keep(r, query, calendar)
                        )
                    continue
            elif ev.is_series and not self._series_in_window(ev, calendar, query):
                continue
            if self._keep(ev.resource, query, calendar, exception=parent is not None, series=ev.is_series):
                out.append(ev.resource)
        if query.order_by == "startTime":
            out.sort(key=lambda r: span(r, calendar)[0])
        elif query.order_by == "updated":
            out.sort(key=updated_of)
        return out

    def _series_in_window(self, series: StoredEvent, calendar: Calendar, query: ListQuery) -> bool:
        if query.time_min is None and query.time_max is None:
            return True
        return any(_in_window(span(r, calendar), query) for r in self._instances(calendar, series, query))

    def _keep(
        self,
        res: Json,
        query: ListQuery,
        calendar: Calendar,
        *,
        exception: bool = False,
        series: bool = False,
    ) -> bool:
        if res.get("status") == "cancelled":
            recent = query.updated_min is not None and updated_of(res) >= query.updated_min
            # Cancelled exceptions stay visible when singleEvents and showDeleted are both False.
            visible = query.show_deleted or recent or (exception and not query.single_events)
            if not visible:
                return False
        if not series and not _in_window(span(res, calendar), query):
            return False
        return _matches(res, query)

    def _changed(self, calendar: Calendar, query: ListQuery, since: int) -> list[Json]:
        changed = sorted((ev for ev in calendar.events.values() if ev.seq > since), key=lambda ev: ev.seq)
        if not query.single_events:
            return [ev.resource for ev in changed]
        by_id: dict[str, Json] = {}
        for ev in changed:
            if ev.is_series and not ev.cancelled:
                for res in self._instances(calendar, ev, query):
                    by_id[res["id"]] = res
            else:
                by_id[ev.id] = ev.resource
        return list(by_id.values())


def _in_window(window: tuple[datetime, datetime], query: ListQuery) -> bool:
    start, end = window
    if query.time_min is not None and end <= query.time_min:
        return False
    return not (query.time_max is not None and start >= query.time_max)


def _matches(res: Json, query: ListQuery) -> bool:
    props = res.get("extendedProperties") or {}
    for scope, wanted in (("private", query.private_props), ("shared", query.shared_props)):
        values = props.get(scope) or {}
        if any(values.get(key) != value for key, value in wanted):
            return False
    if query.ical_uid is not None and res.get("iCalUID") != query.ical_uid:
        return False
    if query.updated_min is not None and updated_of(res) < query.updated_min:
        return False
    return query.text is None or _text_match(res, query.text)


def _text_match(res: Json, text: str) -> bool:
    haystack: list[str] = [str(res.get(k, "")) for k in ("summary", "description", "location")]
    people: Iterable[Json] = [*(res.get("attendees") or []), res.get("organizer") or {}]
    for person in people:
        haystack += [str(person.get("email", "")), str(person.get("displayName", ""))]
    blob = " ".join(haystack).lower()
    return all(term in blob for term in text.lower().split())


def _original_instant(res: Json, calendar: Calendar) -> datetime:
    original = res.get("originalStartTime") or res["start"]
    return parse_event_time(original, "start").as_instant(calendar.time_zone)


def _starts_at(res: Json, moment: datetime, calendar: Calendar) -> bool:
    return _original_instant(res, calendar) == moment

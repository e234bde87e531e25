"""Parsing and validating the query parameters of events.list and events.instances."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from multidict import MultiMapping

from channels.emulators.google.config import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from channels.emulators.google.errors import ApiError, invalid, time_range_empty
from channels.emulators.google.timeutil import parse_query_time

# "There are several query parameters that cannot be specified together with nextSyncToken".
FORBIDDEN_WITH_SYNC_TOKEN = (
    "iCalUID",
    "orderBy",
    "privateExtendedProperty",
    "q",
    "sharedExtendedProperty",
    "timeMin",
    "timeMax",
    "updatedMin",
)


@dataclass(frozen=True, slots=True)
class ListQuery:
    sync_token: str | None = None
    page_token: str | None = None
    max_results: int = DEFAULT_PAGE_SIZE
    show_deleted: bool = False
    single_events: bool = False
    order_by: str | None = None
    time_min: datetime | None = None
    time_max: datetime | None = None
    updated_min: datetime | None = None
    private_props: tuple[tuple[str, str], ...] = ()
    shared_props: tuple[tuple[str, str], ...] = ()
    ical_uid: str | None = None
    text: str | None = None
    original_start: datetime | None = None


def _bool(params: MultiMapping[str], name: str) -> bool | None:
    raw = params.get(name)
    if raw is None:
        return None
    if raw.lower() not in ("true", "false"):
        raise invalid("Invalid boolean value", location=name)
    return raw.lower() == "true"


def _props(params: MultiMapping[str], name: str) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for raw in params.getall(name, []):
        key, sep, value = raw.partition("=")
        if not sep or not key:
            raise invalid(f"Invalid {name} value.", location=name)
        out.append((key, value))
    return tuple(out)


def _page_size(params: MultiMapping[str]) -> int:
    raw = params.get("maxResults")
    if raw is None:
        return DEFAULT_PAGE_SIZE
    try:
        value = int(raw)
    except ValueError as err:
        raise invalid("Invalid integer value", location="maxResults") from err
    if value < 1:
        raise invalid("Invalid value for maxResults", location="maxResults")
    # "The page size can never be larger than 2500 events": a cap, not an error.
    return min(value, MAX_PAGE_SIZE)


def _window(params: MultiMapping[str]) -> tuple[datetime | None, datetime | None]:
    time_min = parse_query_time(params["timeMin"], "timeMin") if "timeMin" in params else None
    time_max = parse_query_time(params["timeMax"], "timeMax") if "timeMax" in params else None
    if time_min is not None and time_max is not None and time_min >= time_max:
        raise time_range_empty("timeMax")
    return time_min, time_max


def parse_list_query(params: MultiMapping[str]) -> ListQuery:
    sync_token = params.get("syncToken")
    show_deleted = _bool(params, "showDeleted")
    if sync_token is not None:
        for name in FORBIDDEN_WITH_SYNC_TOKEN:
            if name in params:
                raise invalid(f"{name} cannot be used together with syncToken.", location=name)
        if show_deleted is False:  # "it is not allowed to set showDeleted to False"
            raise invalid("showDeleted cannot be false with syncToken.", location="showDeleted")
    single_events = bool(_bool(params, "singleEvents"))
    order_by = params.get("orderBy")
    if order_by is not None and order_by not in ("startTime", "updated"):
        raise invalid("Invalid value for orderBy", location="orderBy")
    if order_by == "startTime" and not single_events:
        raise ApiError(
            400,
            "invalid",
            "The requested ordering is not available for the particular query.",
            location_type="parameter",
            location="orderBy",
        )
    time_min, time_max = _window(params)
    updated_min = parse_query_time(params["updatedMin"], "updatedMin") if "updatedMin" in params else None
    return ListQuery(
        sync_token=sync_token,
        page_token=params.get("pageToken"),
        max_results=_page_size(params),
        show_deleted=bool(show_deleted),
        single_events=single_events,
        order_by=order_by,
        time_min=time_min,
        time_max=time_max,
        updated_min=updated_min,
        private_props=_props(params, "privateExtendedProperty"),
        shared_props=_props(params, "sharedExtendedProperty"),
        ical_uid=params.get("iCalUID"),
        text=params.get("q"),
    )


def parse_instances_query(params: MultiMapping[str]) -> ListQuery:
    time_min, time_max = _window(params)
    original = params.get("originalStart")
    return ListQuery(
        page_token=params.get("pageToken"),
        max_results=_page_size(params),
        show_deleted=bool(_bool(params, "showDeleted")),
        single_events=True,
        time_min=time_min,
        time_max=time_max,
        original_start=parse_query_time(original, "originalStart") if original else None,
    )

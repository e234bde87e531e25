"""SDK request builders -> RequestInformation for every Graph call the adapter makes.

Kept apart from the adapter so the URL choices sit in one place (see DESIGN.md "Graph scope"):

- Subscriptions always watch the documented mailbox resource ``/me/events`` (MS-RES); a
  notification is a hint that the mailbox changed, and the calendar's delta decides what changed.
- Delta on the default calendar uses the documented v1.0 ``/me/calendarView/delta``; another
  calendar needs ``/me/calendars/{id}/calendarView/delta`` (beta-only at Microsoft, MS-DELTA-B,
  though the v1.0 SDK has a builder) — the one undocumented path we depend on, and only for
  non-default calendars.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.request_information import RequestInformation
from kiota_abstractions.serialization import Parsable
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph.generated.models.event import Event
from msgraph.generated.models.subscription import Subscription
from msgraph.generated.users.item.calendar_view.delta.delta_request_builder import DeltaRequestBuilder
from msgraph.generated.users.item.events.item.event_item_request_builder import EventItemRequestBuilder
from msgraph.generated.users.item.events.item.instances.instances_request_builder import (
    InstancesRequestBuilder,
)
from msgraph.graph_service_client import GraphServiceClient

from channels.base import SyncWindow
from channels.graph.marker import MARKER_PROPERTY_ID
from channels.graph.wire import graph_instant

P = TypeVar("P", bound=Parsable)
MAILBOX_RESOURCE = "/me/events"
#: Delta pages: Graph's default is small; fewer round trips per pass (MS-DELTA maxpagesize).
PAGE_SIZE = 200
UTC_PREFERENCE = 'outlook.timezone="UTC"'
MARKER_EXPAND = f"singleValueExtendedProperties($filter=id eq '{MARKER_PROPERTY_ID}')"


def model(body: dict[str, Any], factory: type[P]) -> P:
    """Our wire dict -> the SDK model, through kiota's own JSON parse node (no hand mapping)."""
    node = JsonParseNodeFactory().get_root_parse_node("application/json", json.dumps(body).encode())
    parsed: P | None = node.get_object_value(factory)  # type: ignore[arg-type]
    if parsed is None:
        raise ValueError("empty body")
    return parsed


def _config(params: Any = None, **headers: str) -> RequestConfiguration[Any]:
    cfg: RequestConfiguration[Any] = RequestConfiguration(query_parameters=params)
    for name, value in headers.items():
        cfg.headers.add(name.replace("_", "-"), value)
    return cfg


def delta(
    graph: GraphServiceClient, calendar_external_id: str | None, link: str | None, window: SyncWindow
) -> RequestInformation:
    """First call bounded by the window; later pages and passes reuse Graph's link verbatim."""
    prefer = f"odata.maxpagesize={PAGE_SIZE}, {UTC_PREFERENCE}"
    if calendar_external_id is None:
        builder: Any = graph.me.calendar_view.delta
    else:
        builder = graph.me.calendars.by_calendar_id(calendar_external_id).calendar_view.delta
    if link:
        return builder.with_url(link).to_get_request_information(_config(Prefer=prefer))  # type: ignore[no-any-return]
    params = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        start_date_time=graph_instant(window.start), end_date_time=graph_instant(window.end)
    )
    return builder.to_get_request_information(_config(params, Prefer=prefer))  # type: ignore[no-any-return]


def default_calendar(graph: GraphServiceClient) -> RequestInformation:
    return graph.me.calendar.to_get_request_information()


def calendars(graph: GraphServiceClient, link: str | None) -> RequestInformation:
    builder = graph.me.calendars
    return (builder.with_url(link) if link else builder).to_get_request_information()


def get_event(graph: GraphServiceClient, event_id: str) -> RequestInformation:
    params = EventItemRequestBuilder.EventItemRequestBuilderGetQueryParameters(expand=[MARKER_EXPAND])
    return graph.me.events.by_event_id(event_id).to_get_request_information(
        _config(params, Prefer=UTC_PREFERENCE)
    )


def create_event(
    graph: GraphServiceClient, calendar_external_id: str | None, body: dict[str, Any]
) -> RequestInformation:
    builder = (
        graph.me.events
        if calendar_external_id is None
        else graph.me.calendars.by_calendar_id(calendar_external_id).events
    )
    return builder.to_post_request_information(model(body, Event), _config(Prefer=UTC_PREFERENCE))


def patch_event(
    graph: GraphServiceClient, event_id: str, body: dict[str, Any], etag: str | None
) -> RequestInformation:
    headers = {"Prefer": UTC_PREFERENCE, **({"If_Match": etag} if etag else {})}
    return graph.me.events.by_event_id(event_id).to_patch_request_information(
        model(body, Event), _config(**headers)
    )


def delete_event(graph: GraphServiceClient, event_id: str, etag: str | None) -> RequestInformation:
    return graph.me.events.by_event_id(event_id).to_delete_request_information(
        _config(**({"If_Match": etag} if etag else {}))
    )


def instances(graph: GraphServiceClient, series_id: str, start: str, end: str) -> RequestInformation:
    params = InstancesRequestBuilder.InstancesRequestBuilderGetQueryParameters(
        start_date_time=start, end_date_time=end, top=100
    )
    return graph.me.events.by_event_id(series_id).instances.to_get_request_information(
        _config(params, Prefer=UTC_PREFERENCE)
    )


def create_subscription(graph: GraphServiceClient, body: dict[str, Any]) -> RequestInformation:
    return graph.subscriptions.to_post_request_information(model(body, Subscription))


def renew_subscription(graph: GraphServiceClient, sub_id: str, expiration: str) -> RequestInformation:
    body = model({"expirationDateTime": expiration}, Subscription)
    return graph.subscriptions.by_subscription_id(sub_id).to_patch_request_information(body)


def delete_subscription(graph: GraphServiceClient, sub_id: str) -> RequestInformation:
    return graph.subscriptions.by_subscription_id(sub_id).to_delete_request_information()


def reauthorize_subscription(graph: GraphServiceClient, sub_id: str) -> RequestInformation:
    return graph.subscriptions.by_subscription_id(sub_id).reauthorize.to_post_request_information()

"""Subscriptions: the creation/renewal rules of api/subscription-post-subscriptions and the payloads.

Sans-IO. The validation handshake itself is network I/O and lives in ``delivery``; this module
decides whether a request is acceptable, what expiry is granted, which subscriptions a change
matches, and builds change and lifecycle notification items exactly as MS-WH/MS-LIFE show them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from .auth import User
from .config import GraphEmulatorConfig
from .ids import IdFactory
from .state import Change
from .wire import GraphError, iso_utc, parse_instant

CHANGE_TYPES = ("created", "updated", "deleted")
TLS_VERSIONS = ("v1_0", "v1_1", "v1_2", "v1_3")
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")
# Documented: /me/events and /users/{id}/events. The calendar-scoped form is accepted on a config flag.
RESOURCE = re.compile(
    r"^/?(?:me|users/(?P<user>[^/]+))/(?:events|calendars/(?P<cal>[^/]+)/events)/?$", re.IGNORECASE
)


@dataclass(slots=True)
class Subscription:
    id: str
    resource: str
    change_types: tuple[str, ...]
    notification_url: str
    lifecycle_url: str | None
    expiration: datetime
    client_state: str | None
    creator_id: str
    application_id: str
    tls_version: str
    user_id: str
    calendar_id: str | None

    def to_json(self, base_url: str) -> dict[str, Any]:
        return {
            "@odata.context": f"{base_url}/v1.0/$metadata#subscriptions/$entity",
            "id": self.id,
            "resource": self.resource,
            "applicationId": self.application_id,
            "changeType": ",".join(self.change_types),
            "clientState": self.client_state,
            "notificationUrl": self.notification_url,
            "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_url,
            "expirationDateTime": iso_utc(self.expiration),
            "creatorId": self.creator_id,
            "includeResourceData": None,
            "latestSupportedTlsVersion": self.tls_version,
            "encryptionCertificate": None,
            "encryptionCertificateId": None,
            "notificationUrlAppId": None,
        }

    def matches(self, user_id: str, change: Change, now: datetime) -> bool:
        return (
            self.user_id == user_id
            and self.expiration > now
            and change.change_type in self.change_types
            and (self.calendar_id is None or self.calendar_id == change.calendar_id)
        )


def _bad(message: str, code: str = "ExtensionError") -> GraphError:
    return GraphError(400, code, message)


class SubscriptionRules:
    def __init__(self, config: GraphEmulatorConfig, ids: IdFactory) -> None:
        self.config = config
        self.ids = ids

    def check_url(self, value: Any, field: str) -> str:
        if not isinstance(value, str):
            raise _bad(f"{field} is required.", "InvalidRequest")
        parts = urlsplit(value)
        secure = parts.scheme == "https" or (parts.scheme == "http" and self.config.allow_http_callbacks)
        if not parts.netloc or not secure:
            raise _bad(
                f"Subscription validation request failed. {field} must be an https URL.", "InvalidRequest"
            )
        return value

    def grant_expiry(self, value: Any, now: datetime) -> datetime:
        """Under 45 min is raised to 45 min; beyond the resource maximum fails as Graph does."""
        requested = parse_instant(value, "expirationDateTime")
        limit = self.config.max_subscription_lifetime
        if requested - now > limit:
            minutes = int(limit.total_seconds() // 60)
            raise _bad(f"Subscription expiration can only be {minutes} minutes in the future.")
        return max(requested, now + self.config.min_subscription_lifetime)

    def parse_create(
        self,
        body: dict[str, Any],
        user: User,
        client_id: str,
        now: datetime,
        resolve_user: Any,
        calendars: set[str],
        active_in_mailbox: int,
    ) -> Subscription:
        resource = str(body.get("resource") or "")
        match = RESOURCE.match(resource)
        if match is None or (match["cal"] and not self.config.allow_calendar_scoped_subscriptions):
            raise _bad(
                f"Operation: Create; Exception: [Status Code: BadRequest; "
                f"Reason: Unsupported resource '{resource}'.]"
            )
        if match["user"]:
            target = resolve_user(match["user"])
            if target is None or target.id != user.id:
                raise GraphError(
                    403,
                    "ExtensionError",
                    "Operation: Create; Exception: [Status Code: Forbidden; Reason: Access is denied.]",
                )
        if match["cal"] and match["cal"] not in calendars:
            raise GraphError(
                404,
                "ExtensionError",
                "Operation: Create; Exception: [Status Code: NotFound; Reason: The calendar was not found.]",
            )
        types = tuple(t.strip() for t in str(body.get("changeType") or "").split(",") if t.strip())
        if not types or any(t not in CHANGE_TYPES for t in types):
            raise _bad(f"Invalid changeType '{body.get('changeType')}'.", "InvalidRequest")
        client_state = body.get("clientState")
        if client_state is not None and len(str(client_state)) > self.config.max_client_state_length:
            raise _bad(
                f"clientState cannot exceed {self.config.max_client_state_length} characters.",
                "InvalidRequest",
            )
        tls = str(body.get("latestSupportedTlsVersion") or "v1_2")
        if tls not in TLS_VERSIONS:
            raise _bad(f"Invalid latestSupportedTlsVersion '{tls}'.", "InvalidRequest")
        if body.get("includeResourceData"):
            # Rich notifications need certificate encryption, which this emulator does not implement.
            raise _bad("includeResourceData is not supported by the emulator.", "InvalidRequest")
        notification_url = self.check_url(body.get("notificationUrl"), "notificationUrl")
        lifecycle = body.get("lifecycleNotificationUrl")
        lifecycle_url = self.check_url(lifecycle, "lifecycleNotificationUrl") if lifecycle else None
        expiration = self.grant_expiry(body.get("expirationDateTime"), now)
        if active_in_mailbox >= self.config.max_subscriptions_per_mailbox:
            raise GraphError(
                403,
                "ExtensionError",
                "Operation: Create; Exception: [Status Code: Forbidden; "
                "Reason: Subscription quota for this mailbox exceeded.]",
            )
        return Subscription(
            self.ids.guid(),
            resource,
            types,
            notification_url,
            lifecycle_url,
            expiration,
            None if client_state is None else str(client_state),
            user.id,
            client_id,
            tls,
            user.id,
            match["cal"],
        )


def change_item(sub: Subscription, change: Change, tenant_id: str) -> dict[str, Any]:
    path = f"Users/{sub.user_id}/Events/{change.entity_id}"
    data: dict[str, Any] = {
        "@odata.type": "#Microsoft.Graph.Event",
        "@odata.id": path,
        "id": change.entity_id,
    }
    if change.change_key:
        data["@odata.etag"] = f'W/"{change.change_key}"'
    return {
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": iso_utc(sub.expiration),
        "changeType": change.change_type,
        "resource": path,
        "resourceData": data,
        "clientState": sub.client_state,
        "tenantId": tenant_id,
    }


def lifecycle_item(sub: Subscription, event: str, tenant_id: str) -> dict[str, Any]:
    if event not in LIFECYCLE_EVENTS:
        raise ValueError(f"unknown lifecycle event {event!r}")
    return {
        "subscriptionId": sub.id,
        "subscriptionExpirationDateTime": iso_utc(sub.expiration),
        "tenantId": tenant_id,
        "clientState": sub.client_state,
        "lifecycleEvent": event,
    }

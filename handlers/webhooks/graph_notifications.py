"""Microsoft Graph change and lifecycle notifications, sans-IO.

A POST may batch items of several subscriptions; each item is judged on its
own (clientState in constant time against its subscription), so one bad item
never costs the valid ones. Validation requests carry ``validationToken`` in
the query and must be echoed as plain text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from calsync.secrets import secret_matches

MAX_VALIDATION_TOKEN = 1024
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})
CHANGE_TYPES = frozenset({"created", "updated", "deleted"})


class MalformedBatch(ValueError):
    """The body is not a Graph notification batch at all."""


class ItemVerdict(StrEnum):
    ACCEPTED = "accepted"
    UNKNOWN_SUBSCRIPTION = "unknown_subscription"
    FORGED = "forged"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class ChangeItem:
    subscription_id: str
    client_state: str | None
    change_type: str
    resource: str
    resource_id: str | None
    tenant_id: str | None


@dataclass(frozen=True, slots=True)
class LifecycleItem:
    subscription_id: str
    client_state: str | None
    lifecycle_event: str


@dataclass(frozen=True, slots=True)
class KnownSubscription:
    calendar_id: str
    client_state_hash: str
    stopped: bool


def validation_token(query: Mapping[str, str]) -> str | None:
    """The decoded token to echo, or None when this is not a validation request.

    Raises ValueError for tokens we refuse to reflect (oversized or with markup/control characters).
    """
    token = query.get("validationToken")
    if token is None:
        return None
    if not token or len(token) > MAX_VALIDATION_TOKEN:
        raise ValueError("validationToken is empty or too long")
    if any(ch in token for ch in "<>\"'`") or any(ord(ch) < 32 for ch in token):
        raise ValueError("validationToken contains characters Graph never sends")
    return token


def _items(body: bytes) -> list[Any]:
    try:
        parsed = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise MalformedBatch(f"not JSON: {err.msg if hasattr(err, 'msg') else err}") from err
    if not isinstance(parsed, dict) or not isinstance(parsed.get("value"), list):
        raise MalformedBatch('expected {"value": [...]}')
    return list(parsed["value"])


def _str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) and value else None


def parse_change_batch(body: bytes) -> list[ChangeItem | None]:
    """One entry per item; None marks an item too malformed to attribute."""
    out: list[ChangeItem | None] = []
    for raw in _items(body):
        if not isinstance(raw, dict):
            out.append(None)
            continue
        sub, change, resource = _str(raw, "subscriptionId"), _str(raw, "changeType"), _str(raw, "resource")
        if sub is None or change not in CHANGE_TYPES or resource is None:
            out.append(None)
            continue
        data = raw.get("resourceData")
        resource_id = _str(data, "id") if isinstance(data, dict) else None
        out.append(
            ChangeItem(sub, _str(raw, "clientState"), change, resource, resource_id, _str(raw, "tenantId"))
        )
    return out


def parse_lifecycle_batch(body: bytes) -> list[LifecycleItem | None]:
    out: list[LifecycleItem | None] = []
    for raw in _items(body):
        if not isinstance(raw, dict):
            out.append(None)
            continue
        sub, event = _str(raw, "subscriptionId"), _str(raw, "lifecycleEvent")
        out.append(
            LifecycleItem(sub, _str(raw, "clientState"), event) if sub and event in LIFECYCLE_EVENTS else None
        )
    return out


def judge_item(item: ChangeItem | LifecycleItem | None, known: KnownSubscription | None) -> ItemVerdict:
    if item is None:
        return ItemVerdict.MALFORMED
    if known is None or known.stopped:
        return ItemVerdict.UNKNOWN_SUBSCRIPTION
    if not secret_matches(item.client_state, known.client_state_hash):
        return ItemVerdict.FORGED
    return ItemVerdict.ACCEPTED

"""Versioned JSON envelope for everything that travels on the bus.

Wire form (UTF-8 JSON)::

    {"id": "...", "type": "appointment.cancelled", "version": 1,
     "key": "<calendar or appointment id>", "occurred_at": "2026-01-05T09:00:00+00:00",
     "data": {...}}

``id`` is stable across redeliveries and is the consumers' deduplication key.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from calsync.errors import PoisonMessage

TOPIC_SIGNALS: Final = "calsync.signals"
TOPIC_CHANGES: Final = "calsync.changes"
TOPIC_APPOINTMENTS: Final = "calsync.appointments"
ALL_TOPICS: Final = (TOPIC_SIGNALS, TOPIC_CHANGES, TOPIC_APPOINTMENTS)


def dlq_topic(topic: str) -> str:
    return f"{topic}.dlq"


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str
    type: str
    version: int
    key: str
    occurred_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


def encode(envelope: Envelope) -> bytes:
    return json.dumps(
        {
            "id": envelope.id,
            "type": envelope.type,
            "version": envelope.version,
            "key": envelope.key,
            "occurred_at": envelope.occurred_at.isoformat(),
            "data": dict(envelope.data),
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def decode(raw: bytes, supported: Mapping[str, frozenset[int]] | None = None) -> Envelope:
    """Parse and check an envelope; anything unusable raises PoisonMessage (dead-letter it).

    ``supported`` maps message type to the schema versions the caller understands;
    ``None`` accepts any type and version.
    """
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PoisonMessage(f"not JSON: {err}") from err
    if not isinstance(obj, dict):
        raise PoisonMessage("envelope is not a JSON object")
    try:
        msg_id, msg_type, version, key = obj["id"], obj["type"], obj["version"], obj["key"]
        occurred_at = datetime.fromisoformat(obj["occurred_at"])
        data = obj.get("data", {})
    except (KeyError, TypeError, ValueError) as err:
        raise PoisonMessage(f"envelope field missing or malformed: {err}") from err
    if not (isinstance(msg_id, str) and isinstance(msg_type, str) and isinstance(key, str)):
        raise PoisonMessage("id, type and key must be strings")
    if not isinstance(version, int) or isinstance(version, bool) or not isinstance(data, dict):
        raise PoisonMessage("version must be an integer and data an object")
    if supported is not None:
        versions = supported.get(msg_type)
        if versions is None:
            raise PoisonMessage(f"unknown message type {msg_type!r}")
        if version not in versions:
            raise PoisonMessage(f"unsupported version {version} of {msg_type!r}")
    return Envelope(msg_id, msg_type, version, key, occurred_at, data)

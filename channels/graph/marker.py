"""Our marker on events we write to Outlook: a single-value extended property.

Delta cannot ``$expand`` extended properties, so the adapter recognises its own
events by the event ids it recorded, and reads this marker with a direct GET
(``$expand=singleValueExtendedProperties($filter=id eq '<MARKER_PROPERTY_ID>')``)
when a link must be rebuilt.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from channels.model import Marker

# A GUID of our own namespaces the named property (format "{type} {guid} Name {name}").
MARKER_PROPERTY_ID: Final = "String {6c1f8f4e-7c1d-4b55-9a53-2f4c1d0b9e21} Name calsync_marker"


def marker_property(marker: Marker) -> dict[str, str]:
    value = json.dumps(
        {"appointment": marker.appointment_id, "version": marker.version, "instance": marker.instance_key},
        separators=(",", ":"),
    )
    return {"id": MARKER_PROPERTY_ID, "value": value}


def read_marker(event: Mapping[str, Any]) -> Marker | None:
    for prop in event.get("singleValueExtendedProperties") or ():
        if str(prop.get("id", "")).lower() != MARKER_PROPERTY_ID.lower():
            continue
        try:
            data = json.loads(prop.get("value") or "")
            return Marker(str(data["appointment"]), int(data["version"]), str(data.get("instance", "")))
        except (ValueError, TypeError, KeyError):
            return None
    return None

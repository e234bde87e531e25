"""Our marker on events we write to Google: private extended properties (this calendar's copy only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from channels.model import Marker

APPOINTMENT_KEY: Final = "calsync_appointment"
VERSION_KEY: Final = "calsync_version"
INSTANCE_KEY: Final = "calsync_instance"


def marker_properties(marker: Marker) -> dict[str, str]:
    """The ``extendedProperties.private`` map that identifies an event as ours."""
    props = {APPOINTMENT_KEY: marker.appointment_id, VERSION_KEY: str(marker.version)}
    if marker.instance_key:
        props[INSTANCE_KEY] = marker.instance_key
    return props


def read_marker(event: Mapping[str, Any]) -> Marker | None:
    private = (event.get("extendedProperties") or {}).get("private") or {}
    appointment = private.get(APPOINTMENT_KEY)
    version = private.get(VERSION_KEY)
    if not isinstance(appointment, str) or not isinstance(version, str) or not version.isdigit():
        return None
    instance = private.get(INSTANCE_KEY, "")
    return Marker(appointment, int(version), instance if isinstance(instance, str) else "")

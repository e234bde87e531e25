"""Wire models of the ``/v1`` API (pydantic): request validation and the OpenAPI schemas.

Requests forbid unknown fields, so a misspelt field is a 422 naming it rather
than silently ignored. Checks needing only the value (e-mail syntax, IANA zone
names, lengths) live here; checks across fields or against the store live in
the views and ``timespec``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _email(value: str) -> str:
    # Pragmatic: one @, a dot in the domain, no spaces. Deliverability is the SMTP server's call.
    if len(value) > 320 or not _EMAIL.match(value):
        raise ValueError("is not a valid e-mail address")
    return value


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin)") from None
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL")
    return value


Email = Annotated[str, AfterValidator(_email), Field(max_length=320, json_schema_extra={"format": "email"})]
TimeZone = Annotated[
    str, AfterValidator(_time_zone), Field(max_length=64, description="IANA time zone, e.g. Europe/Berlin.")
]
Id64 = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:@-]+$")]
When = Annotated[
    str,
    Field(
        max_length=40,
        description="RFC 3339 date-time with an offset (`2026-01-05T10:00:00+01:00`), "
        "or a date (`2026-01-05`) for all-day appointments.",
    ),
]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class OrganizationIn(_In):
    name: str = Field(min_length=1, max_length=200)
    webhook_url: Annotated[str, AfterValidator(_http_url), Field(max_length=2000)] | None = None


class OrganizationOut(BaseModel):
    id: str
    name: str
    webhook_url: str | None
    created_at: Timestamp


class ProfileIn(_In):
    id: Id64 | None = Field(default=None, description="Generated when absent.")
    organization: Id64
    name: str = Field(min_length=1, max_length=200)
    email: Email
    time_zone: TimeZone


class ProfilePatch(_In):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: Email | None = None
    time_zone: TimeZone | None = None


class ProfileOut(BaseModel):
    id: str
    organization: str
    name: str
    email: str
    time_zone: str
    created_at: Timestamp
    updated_at: Timestamp


class ProfilePage(BaseModel):
    items: list[ProfileOut]
    next_cursor: str | None


class ClientIn(_In):
    name: str | None = Field(default=None, max_length=200)
    email: Email | None = None


class RecurrenceIn(_In):
    rrule: str = Field(
        min_length=1,
        max_length=2000,
        description="One RFC 5545 RRULE (`FREQ=WEEKLY;COUNT=10`, optional `RRULE:` prefix, no DTSTART); "
        "DAILY or coarser.",
    )
    exdates: list[When] = Field(default_factory=list, max_length=1000)


Status = Literal["confirmed", "tentative", "cancelled"]


class AppointmentIn(_In):
    profile: Id64
    start: When
    end: When = Field(description="Exclusive; after `start`. Same kind (date-time or date) as `start`.")
    time_zone: TimeZone | None = Field(default=None, description="Defaults to the profile's time zone.")
    title: str = Field(default="", max_length=1000)
    description: str = Field(default="", max_length=8000)
    location: str = Field(default="", max_length=1000)
    client: ClientIn | None = None
    recurrence: RecurrenceIn | None = None
    status: Status = "confirmed"
    extra: dict[
        Annotated[str, Field(min_length=1, max_length=64)], Annotated[str, Field(max_length=1000)]
    ] = Field(default_factory=dict, max_length=50, description="Host values for title templates.")


class ClientOut(BaseModel):
    name: str | None
    email: str | None


class RecurrenceOut(BaseModel):
    rrule: str
    exdates: list[str]


class AppointmentOut(BaseModel):
    id: str
    organization: str
    profile: str
    start: str
    end: str
    all_day: bool
    time_zone: str
    title: str
    description: str
    location: str
    client: ClientOut
    recurrence: RecurrenceOut | None
    status: Status
    cancel_reason: str | None
    extra: dict[str, Any]
    version: int
    sync_state: Literal["pending", "synced", "error"]
    sync_error: str | None
    created_at: Timestamp
    updated_at: Timestamp


class AppointmentPage(BaseModel):
    items: list[AppointmentOut]
    next_cursor: str | None


class FieldErrorOut(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldErrorOut] | None = None

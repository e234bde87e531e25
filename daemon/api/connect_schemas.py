"""Wire models for connecting calendars: accounts, calendar selection and sync status.

Requests forbid unknown fields (a misspelt field is a 422 naming it). Secrets go in
and never come out: no reply model has a field for a token or client secret.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from daemon.api.schemas import Id64, Timestamp

ProviderName = Literal["google", "microsoft"]
Role = Literal["push", "pull", "none"]
ExternalCalendarId = Annotated[
    str, Field(min_length=1, max_length=1024, description="The provider's calendar id.")
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AccountIn(_In):
    profile: Id64
    provider: ProviderName
    client_id: str = Field(
        min_length=1, max_length=500, description="The OAuth client the token was issued to."
    )
    client_secret: str = Field(
        default="", max_length=2000, description="Empty for public clients. Stored encrypted."
    )
    refresh_token: str = Field(min_length=1, max_length=8000, description="Stored encrypted; never returned.")
    external_account: str | None = Field(
        default=None,
        max_length=320,
        description="The account's e-mail or mailbox; for Google it is found from the primary calendar "
        "when left out.",
    )
    verify: bool = Field(
        default=True,
        description="List the account's calendars before answering, so a refused token is a 422 now "
        "rather than an account in error later.",
    )


class AccountOut(BaseModel):
    id: str
    profile: str
    provider: str
    external_account: str
    state: Literal["active", "error", "disconnected"]
    last_error: str | None
    created_at: Timestamp
    updated_at: Timestamp


class AccountList(BaseModel):
    items: list[AccountOut]


class ProviderCalendarOut(BaseModel):
    calendar: str = Field(
        description="The provider's calendar id: use it in `PUT /v1/profiles/{id}/calendars`."
    )
    name: str
    primary: bool
    writable: bool
    time_zone: str | None
    selected: bool
    role: Role
    id: str | None = Field(description="calsync's id of the calendar once it has been selected.")


class ProviderCalendarList(BaseModel):
    account: str
    items: list[ProviderCalendarOut]


class CalendarChoice(_In):
    account: Annotated[str, Field(min_length=1, max_length=64)]
    calendar: ExternalCalendarId


class SelectionIn(_In):
    push: CalendarChoice | None = Field(
        default=None, description="The one calendar appointments are written to; null for none."
    )
    pull: list[CalendarChoice] = Field(
        default_factory=list, max_length=50, description="Calendars read for busy time."
    )


class SelectedCalendarOut(BaseModel):
    id: str
    account: str
    provider: str
    calendar: str
    name: str
    role: Literal["push", "pull"]


class SelectionOut(BaseModel):
    profile: str
    push: SelectedCalendarOut | None
    pull: list[SelectedCalendarOut] = Field(
        description="Every calendar read for busy time; it includes the push calendar, which is always read."
    )
    push_requests: int = Field(
        default=0,
        description="Appointments queued for re-pushing because the push calendar changed (PUT only).",
    )


class ChannelStatusOut(BaseModel):
    id: str
    state: Literal["active", "error"]
    expires_at: Timestamp
    last_notification_at: Timestamp | None
    consecutive_failures: int


class LastErrorOut(BaseModel):
    source: Literal["account", "calendar", "channel"]
    message: str


class CalendarStatusOut(BaseModel):
    id: str
    account: str
    account_state: str
    provider: str
    calendar: str
    name: str
    role: Literal["push", "pull"]
    state: str
    last_synced_at: Timestamp | None = Field(description="When the last successful sync pass began.")
    channel: ChannelStatusOut | None = Field(
        description="The live push channel that expires soonest; null when nothing watches the calendar."
    )
    last_error: LastErrorOut | None


class SyncStatusOut(BaseModel):
    profile: str
    calendars: list[CalendarStatusOut]

"""The registry of push channels: validating events.watch bodies and channels.stop requests.

Choices where the docs are silent: a channel id may never be reused in the emulator (one
project), even after the channel stopped — 400 ``channelIdNotUnique``, as Google answers; a stop
by another user or OAuth client, or with the wrong ``resourceId``, is a 404 like an unknown id.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from urllib.parse import quote

from calsync.clock import Clock
from channels.emulators.google.auth import Principal
from channels.emulators.google.config import EmulatorConfig
from channels.emulators.google.errors import ApiError, Json, invalid, required
from channels.emulators.google.push import Channel, expiration_for
from channels.emulators.google.store import Calendar
from channels.emulators.google.timeutil import to_millis

MAX_ID = 64
MAX_TOKEN = 256
TYPES = ("web_hook", "webhook")


def resource_id_for(calendar: Calendar) -> str:
    """Stable, opaque, version-independent id of "the events of this calendar"."""
    return hashlib.sha256(f"events:{calendar.id}".encode()).hexdigest()[:27]


class ChannelRegistry:
    def __init__(self, clock: Clock, config: EmulatorConfig) -> None:
        self._clock = clock
        self._config = config
        self.channels: dict[str, Channel] = {}

    def create(self, calendar: Calendar, principal: Principal, body: Json) -> Channel:
        if not isinstance(body, dict):
            raise ApiError(400, "parseError", "Parse Error")
        channel_id = body.get("id")
        if not channel_id or not isinstance(channel_id, str):
            raise required("Required", location="id")
        if len(channel_id) > MAX_ID:
            raise invalid(f"Channel id must be at most {MAX_ID} characters.", location="id")
        kind = body.get("type")
        if kind not in TYPES:
            raise ApiError(400, "push.channelTypeNotSupported", f"Channel type '{kind}' not supported.")
        address = body.get("address")
        if not address or not isinstance(address, str):
            raise ApiError(400, "push.webhookUrlUnauthorized", "Missing webhook address.")
        if not address.startswith("https://") and not (
            self._config.allow_http_callbacks and address.startswith("http://")
        ):
            raise ApiError(400, "push.webhookUrlNotHttps", f"WebHook callback must be HTTPS: {address}")
        token = body.get("token")
        if token is not None and (not isinstance(token, str) or len(token) > MAX_TOKEN):
            raise invalid(f"Channel token must be at most {MAX_TOKEN} characters.", location="token")
        if channel_id in self.channels:
            raise ApiError(400, "channelIdNotUnique", f"Channel id {channel_id} not unique")
        requested = _int_or_none(body.get("expiration"), "expiration")
        ttl = self._config.default_channel_ttl
        params = body.get("params") or {}
        if isinstance(params, dict) and params.get("ttl") is not None:
            seconds = _int_or_none(params["ttl"], "params.ttl")
            assert seconds is not None
            ttl = timedelta(seconds=seconds)
        now = self._clock.now()
        encoded = quote(calendar.id, safe="")
        channel = Channel(
            id=channel_id,
            resource_id=calendar.resource_id,
            resource_uri=f"{self._config.public_base_url}/calendar/v3/calendars/{encoded}/events?alt=json",
            calendar_id=calendar.id,
            owner=principal.email,
            client_id=principal.client_id,
            address=address,
            token=token,
            expiration=expiration_for(now, requested, ttl, self._config.max_channel_ttl),
        )
        self.channels[channel_id] = channel
        return channel

    def stop(self, principal: Principal, body: Json) -> Channel:
        if not isinstance(body, dict) or not body.get("id") or not body.get("resourceId"):
            raise required("Required", location="id" if not body.get("id") else "resourceId")
        channel = self.channels.get(str(body["id"]))
        if (
            channel is None
            or channel.stopped
            or channel.resource_id != body["resourceId"]
            or channel.owner != principal.email
            or channel.client_id != principal.client_id
        ):
            raise ApiError(
                404, "notFound", f"Channel '{body['id']}' not found for project 'calsync-emulator'"
            )
        channel.stopped = True
        return channel

    def active_for(self, calendar_id: str) -> list[Channel]:
        now = self._clock.now()
        return [c for c in self.channels.values() if c.calendar_id == calendar_id and c.active(now)]

    def stop_calendar(self, calendar_id: str) -> None:
        for channel in self.channels.values():
            if channel.calendar_id == calendar_id:
                channel.stopped = True


def channel_json(channel: Channel) -> Json:
    out: Json = {
        "kind": "api#channel",
        "id": channel.id,
        "resourceId": channel.resource_id,
        "resourceUri": channel.resource_uri,
        # Discovery types expiration as an int64 *string* of epoch milliseconds.
        "expiration": str(to_millis(channel.expiration)),
    }
    if channel.token is not None:
        out["token"] = channel.token
    return out


def _int_or_none(value: object, name: str) -> int | None:
    if value is None:
        return None
    try:
        return int(str(value))
    except ValueError as err:
        raise invalid(f"Invalid value for {name}", location=name) from err

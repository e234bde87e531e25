"""Google Calendar push notifications, sans-IO: headers in, a verdict out.

Google's messages carry no body and no signature; authenticity is the channel
token we chose at ``events.watch`` time, echoed in ``X-Goog-Channel-Token``,
plus the channel id -> resource id pairing we recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from calsync.secrets import secret_matches

KNOWN_STATES = frozenset({"sync", "exists", "not_exists"})


class Verdict(StrEnum):
    CHANNEL_LIVE = "channel_live"  # the `sync` handshake: record, no work
    CHANGED = "changed"  # record a signal for the calendar
    UNKNOWN_CHANNEL = "unknown_channel"  # 2xx, no work, stop the channel at Google
    STOPPED_CHANNEL = "stopped_channel"  # ours but retired (renewal overlap over): 2xx, no work
    FORGED = "forged"  # token or resource mismatch: reject


class MalformedNotification(ValueError):
    """Required X-Goog-* headers missing or unusable: not a Google notification."""


@dataclass(frozen=True, slots=True)
class GoogleNotification:
    channel_id: str
    message_number: int
    resource_id: str
    resource_state: str
    resource_uri: str
    token: str | None
    channel_expiration: str | None


@dataclass(frozen=True, slots=True)
class KnownChannel:
    """What the store knows about a channel, as plain values."""

    calendar_id: str
    resource_id: str | None
    token_hash: str
    stopped: bool


def parse_headers(headers: Mapping[str, str]) -> GoogleNotification:
    def required(name: str) -> str:
        value = headers.get(name, "").strip()
        if not value:
            raise MalformedNotification(f"missing header {name}")
        if len(value) > 2048:
            raise MalformedNotification(f"header {name} is too long")
        return value

    number_text = required("X-Goog-Message-Number")
    if not number_text.isdigit():
        raise MalformedNotification("X-Goog-Message-Number is not a number")
    state = required("X-Goog-Resource-State")
    if state not in KNOWN_STATES:
        raise MalformedNotification(f"unknown X-Goog-Resource-State {state!r}")
    return GoogleNotification(
        channel_id=required("X-Goog-Channel-ID"),
        message_number=int(number_text),
        resource_id=required("X-Goog-Resource-ID"),
        resource_state=state,
        resource_uri=required("X-Goog-Resource-URI"),
        token=headers.get("X-Goog-Channel-Token"),
        channel_expiration=headers.get("X-Goog-Channel-Expiration"),
    )


def judge(notification: GoogleNotification, channel: KnownChannel | None) -> Verdict:
    if channel is None:
        return Verdict.UNKNOWN_CHANNEL
    # Check the token before anything else so a forger learns nothing about channel state.
    token_ok = secret_matches(notification.token, channel.token_hash)
    resource_ok = channel.resource_id is None or channel.resource_id == notification.resource_id
    if not (token_ok and resource_ok):
        return Verdict.FORGED
    if channel.stopped:
        return Verdict.STOPPED_CHANNEL
    if notification.resource_state == "sync":
        return Verdict.CHANNEL_LIVE
    return Verdict.CHANGED

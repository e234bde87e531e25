"""The Google emulator on a real loopback server and a GoogleAdapter built against it."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from calsync.clock import SystemClock
from channels.base import AccountCredentials, CalendarRef
from channels.emulators.google import EmulatorConfig, GoogleEmulator
from channels.google.adapter import GoogleAdapter
from channels.model import Provider
from channels.throttle import Backoff
from tests.emulators.google.conftest import serving

USER = "ada@example.com"
CLIENT_ID = "calsync-test.apps.googleusercontent.com"


@pytest.fixture
def emulator() -> GoogleEmulator:
    config = EmulatorConfig(allow_http_callbacks=True, push_retry_scale=0.001, push_retry_base_seconds=1.0)
    return GoogleEmulator(clock=SystemClock(), config=config)


@pytest.fixture
async def base_url(emulator: GoogleEmulator) -> AsyncIterator[str]:
    async with serving(emulator) as url:
        yield url
    await emulator.close()


@pytest.fixture
def account(emulator: GoogleEmulator) -> AccountCredentials:
    token = emulator.create_user(USER, time_zone="Europe/Berlin", client_id=CLIENT_ID)
    return AccountCredentials("acct-1", Provider.GOOGLE, CLIENT_ID, "s3cret", token, USER)


@pytest.fixture
def calendar() -> CalendarRef:
    return CalendarRef("cal-1", USER, USER)


@pytest.fixture
def adapter(base_url: str) -> GoogleAdapter:
    return GoogleAdapter(
        f"{base_url}/calendar/v3",
        f"{base_url}/token",
        SystemClock(),
        rate_per_second=200.0,
        burst=50.0,
        backoff=Backoff(base=0.01, cap=0.05),
        rng=random.Random(1),
    )


def at(hour: int, day: int = 6) -> datetime:
    return datetime(2026, 1, day, hour, tzinfo=UTC)

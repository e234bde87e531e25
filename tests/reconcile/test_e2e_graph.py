"""End to end through the Microsoft Graph emulator: the coach deletes our event in Outlook.

The real daemon (push worker, Graph sync over a real subscription, reconcile, notify) runs
against the emulator on every backend (SQLite or PostgreSQL, embedded bus or Kafka); the coach
sees and deletes the event through the real msgraph-sdk; e-mail goes to a real SMTP server
(aiosmtpd) and the host webhook to a real aiohttp receiver that verifies its signature.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from tests.backends import BACKENDS, graph_on
from tests.graph.harness import Stack
from tests.reconcile.conftest import Inbox, Receiver
from tests.reconcile.e2e import prepare

pytestmark = pytest.mark.slow


@pytest.fixture
async def stack(request: pytest.FixtureRequest) -> AsyncIterator[Stack]:
    """SQLite + embedded bus unless a test asks for another backend (``BACKENDS``, indirect);
    the calendar is watched through a real Graph subscription."""
    async with graph_on(request, getattr(request, "param", "sqlite")) as s:
        assert await s.channels.watch(s.calendar_id) is not None
        yield s


@pytest.mark.parametrize("stack", BACKENDS, indirect=True)
async def test_delete_in_outlook_cancels_and_notifies_exactly_once(
    stack: Stack, smtp: tuple[Inbox, str], receiver: Receiver
) -> None:
    inbox, url = smtp
    s = await prepare(stack, inbox, url, receiver)
    link = await s.link()
    assert link is not None
    async with stack.outlook() as outlook:
        [event] = await outlook.ours("appt-1")  # once in the Outlook push calendar
        assert (event.id, event.subject) == (link.external_event_id, "Coaching")
        started = time.monotonic()
        await outlook.delete(event.id)
        await s.check_cancelled_once(event.id, started)
        assert await outlook.ours("appt-1") == []

"""The bugs the reconcile state machine found, each reduced to a deterministic end-to-end test.

Same running system as ``test_stateful.py`` (``stateful_system.py``). All three are fixed:
a revert recreates only what a move to another calendar took away (``push_plan.restores``); the
push worker's "gone" mark never overwrites the reconciler's "deleted" (``event_links.record_written``);
a stopped background loop lets its round in flight finish (``daemon/background.every``). The
matching flags in ``stateful_model.py`` are False, so the machine no longer tolerates them.
The owner acts at an exact point of the push worker's work through
``System.before_next_update`` (run just before the emulator handles calsync's next
``events.update``); the SMTP sink can answer 451 or hold a delivery (``MailSink.replies``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from daemon.reconcile_wiring import NotifySettings
from handlers.notify_policy import RetryPolicy
from handlers.reconcile_rules import DELETED_REASON
from store.tables import SentNotification
from tests.reconcile.stateful_model import ours, when
from tests.reconcile.stateful_system import System, World, running_world, slot
from tests.sync.harness import USER

pytestmark = pytest.mark.slow


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with running_world(tmp_path) as running:
        yield running


@pytest.mark.timeout(120)
def test_deleting_an_event_while_its_move_is_reverted(world: World) -> None:
    """Reduced from the machine: the owner moves our event, then deletes it just before the
    push worker's revert write arrives. The deletion must win: cancelled, one e-mail, no event."""
    loop, sink = world.loop, world.sink
    system = loop.run(System.start(world.database("revert"), sink.url))
    try:
        service = system.google_service()
        body = {
            "profile": system.profile_id, **slot(2, 10), "title": "Coaching",
            "client": {"name": "Ann", "email": "ann@example.com"},
        }  # fmt: skip
        loop.run(system.put("appt-1", body))
        loop.run(system.settle())
        items = service.events().list(calendarId=USER).execute()["items"]
        (event,) = [item for item in items if ours(item) == "appt-1"]

        async def owner_deletes() -> None:  # runs as the revert's events.update reaches the emulator
            other = system.google_service()  # httplib2 objects are not shared across threads
            await asyncio.to_thread(other.events().delete(calendarId=USER, eventId=event["id"]).execute)

        system.before_next_update.append(owner_deletes)
        start, end = (moment - timedelta(hours=2) for moment in when(event))
        moved = {"start": {"dateTime": start.isoformat()}, "end": {"dateTime": end.isoformat()}}
        service.events().patch(calendarId=USER, eventId=event["id"], body=moved).execute()
        loop.run(system.settle())

        assert not system.before_next_update, "the revert never wrote"
        appointment = loop.run(system.get("appt-1"))
        live = [item for item in service.events().list(calendarId=USER).execute()["items"] if ours(item)]
        assert (appointment["status"], appointment["cancel_reason"]) == ("cancelled", DELETED_REASON)
        assert [rcpts for rcpts, _ in sink.messages()] == [("ann@example.com",)]
        assert live == []
    finally:
        loop.run(system.close())


@pytest.mark.timeout(120)
def test_reactivating_while_a_deleted_event_is_being_updated(
    world: World,
) -> None:
    """Reduced from the machine: the owner deletes our event while the push worker is writing
    the host's update to it; the reconciler cancels the appointment for the deletion, and the host
    books it again before the push worker's write fails. The booking must end with its event."""
    loop, sink = world.loop, world.sink
    system = loop.run(System.start(world.database("reactivate"), sink.url))
    try:
        service = system.google_service()
        client = {"name": "Ann", "email": "ann@example.com"}
        body: dict[str, Any] = {
            "profile": system.profile_id,
            **slot(2, 10),
            "title": "Coaching",
            "client": client,
        }
        loop.run(system.put("appt-1", body))
        loop.run(system.settle())
        (event,) = [item for item in service.events().list(calendarId=USER).execute()["items"] if ours(item)]
        rebooked = {**body, **slot(2, 15)}

        async def meanwhile() -> None:  # runs as the update's events.update reaches the emulator
            other = system.google_service()  # httplib2 objects are not shared across threads
            await asyncio.to_thread(other.events().delete(calendarId=USER, eventId=event["id"]).execute)
            deadline = time.monotonic() + 10
            while (await system.get("appt-1"))["cancel_reason"] != DELETED_REASON:
                assert time.monotonic() < deadline, "the deletion was never reconciled"
                await asyncio.sleep(0.02)
            await system.put("appt-1", rebooked)  # the host books it again

        system.before_next_update.append(meanwhile)
        loop.run(system.put("appt-1", {**body, **slot(2, 12)}))
        loop.run(system.settle())

        appointment = loop.run(system.get("appt-1"))
        live = [item for item in service.events().list(calendarId=USER).execute()["items"] if ours(item)]
        assert [rcpts for rcpts, _ in sink.messages()] == [("ann@example.com",)]  # the deletion, once
        outcome = appointment["status"], appointment["sync_state"], appointment["sync_error"]
        assert outcome == (
            "confirmed",
            "synced",
            None,
        )  # bug: ("confirmed", "error", "parked: external event gone…")
        assert [when(item) for item in live] == [
            tuple(datetime.fromisoformat(rebooked[k]) for k in ("start", "end"))
        ]
    finally:
        loop.run(system.close())


@pytest.mark.timeout(120)
def test_a_restart_during_a_retried_delivery_does_not_strand_the_email(
    world: World,
) -> None:
    """Reduced from the machine (restarts right after a deletion was reconciled), made
    deterministic: the first SMTP attempt gets a 451, the sweep's retry is in flight when the
    daemon is stopped. After the restart the e-mail must go out within the retry backoff."""
    loop, sink = world.loop, world.sink
    quick = NotifySettings(retry=RetryPolicy(backoff_initial=timedelta(seconds=0.2)), sweep_interval=0.2)
    system = loop.run(System.start(world.database("sweep"), sink.url, quick))
    try:
        service = system.google_service()
        client = {"name": "Ann", "email": "ann@example.com"}
        loop.run(
            system.put(
                "appt-1", {"profile": system.profile_id, **slot(2, 10), "title": "x", "client": client}
            )
        )
        loop.run(system.settle())
        (event,) = [item for item in service.events().list(calendarId=USER).execute()["items"] if ours(item)]
        sink.replies[:] = ["451 4.3.0 busy, try later", "hold"]  # the consumer's try, then the sweep's
        service.events().delete(calendarId=USER, eventId=event["id"]).execute()

        async def sweep_sending() -> None:
            deadline = time.monotonic() + 10
            while True:
                async with system.db.session() as session:
                    rows = (await session.exec(select(SentNotification))).all()
                if [(row.state, row.attempts) for row in rows] == [("sending", 2)]:
                    return
                assert time.monotonic() < deadline, f"no retry in flight: {rows}"
                await asyncio.sleep(0.02)

        loop.run(sweep_sending())
        # A graceful stop (SIGTERM) while the retry waits on SMTP; the server answers (451) soon
        # after, so the stop need not wait out the mailer's 10 s socket timeout.
        stopping = asyncio.run_coroutine_threadsafe(system.stop_daemon(), loop.loop)
        time.sleep(0.3)
        sink.release.set()
        stopping.result(30)
        loop.run(system.start_daemon())
        deadline = time.monotonic() + 5  # retries are due every 0.2-0.4 s
        while not sink.messages() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [rcpts for rcpts, _ in sink.messages()] == [("ann@example.com",)]
    finally:
        loop.run(system.close())

"""An orphan row for our own live Google channel is forgotten locally, never stopped at Google.

The Google webhook records an orphan ``retiring`` row when a notification names a
channel it does not know; the emulator's ``sync`` message for a brand-new channel can
beat the commit of that channel's row (seen in the replica test). Stopping that orphan
would stop the live channel at the provider: a silent lapse.
"""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from calsync.clock import FakeClock
from store import channels as channel_store
from store.tables import Channel
from tests.conftest import _migrate
from tests.ops.fleet import fleet


async def test_orphan_of_a_live_channel_is_not_stopped_at_the_provider(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/orphan.db"
    _migrate(url)
    clock = FakeClock()
    async with fleet(url, accounts_per_provider=1, calendars_per_account=1, clock=clock) as f:
        await f.scheduler.tick()
        async with f.db.session() as s:
            live = (await s.exec(select(Channel).where(Channel.provider == "google"))).one()
            orphan = await channel_store.add_channel(
                s, calendar_id=live.calendar_id, provider="google", external_id=live.external_id,
                resource_id=live.resource_id, secret_hash="", expires_at=clock.now(), now=clock.now(),
                state="retiring",
            )  # fmt: skip
        await f.scheduler.tick()
        assert f.google.channels.channels[live.external_id].active(clock.now())
        async with f.db.session() as s:
            row = await channel_store.get_channel(s, orphan.id)
            assert row is not None and row.state == "stopped"

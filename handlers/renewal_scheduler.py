"""The renewal round the leader runs: plan with ``channels.renewal``, spread, budget, execute.

``ChannelManager`` knows how to watch, renew and stop one channel; this module decides
*when* and *how many at once*, so that 10,000 channels expiring in the same hour never
hit a provider together:

- **spread**: a channel becomes due somewhere in ``[margin, margin + spread]`` before its
  expiry, at a point fixed by a hash of its id (stable across rounds and replicas), so a
  batch created together renews over ``spread`` hours instead of in one round;
- **per-account budget**: at most ``per_account_per_round`` provider actions per account
  in one round (the most urgent first; the rest wait for the next round) and at most
  ``per_account_concurrency`` in flight per account — below Outlook's 4 per mailbox, so
  sync keeps headroom. The adapters' token buckets still pace every request.
- failures back off inside ``ChannelManager`` (``retry_at``); with a 24 h margin and a
  1 h backoff cap there are ~20 more attempts before expiry, and the view state turns
  ``expiring_soon`` (alert) when less than 6 h remain (``handlers.channel_health``).

Each provider action is reported to ``observe(provider, action, outcome)`` for metrics.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from calsync.clock import Clock
from calsync.errors import CalsyncError
from channels.renewal import Action, ChannelView, Expire, Renew, Retire, Stop, Watch, plan
from handlers.adapters import AdapterRegistry
from handlers.channels import ChannelManager
from store import calendars
from store import channels as channel_store
from store.channel_report import active_accounts
from store.db import Database

log = structlog.get_logger("calsync.renewal")

Observe = Callable[[str, str, str], None]  # provider, action, outcome


@dataclass(frozen=True, slots=True)
class SpreadPolicy:
    spread: timedelta = timedelta(hours=6)
    per_account_per_round: int = 50
    per_account_concurrency: int = 2
    concurrency: int = 32


def spread_fraction(channel_id: str) -> float:
    """A stable number in [0, 1) per channel."""
    return int(hashlib.sha256(channel_id.encode()).hexdigest()[:8], 16) / 2**32


def renew_due(view: ChannelView, now: datetime, margin: timedelta, spread: timedelta) -> bool:
    """Due once ``now`` passed expiry - margin - (this channel's share of the spread)."""
    return now >= view.expires_at - margin - spread * spread_fraction(view.id)


@dataclass(slots=True)
class RoundResult:
    planned: int = 0
    done: int = 0
    deferred: int = 0
    failed: int = 0


class RenewalScheduler:
    def __init__(
        self,
        manager: ChannelManager,
        adapters: AdapterRegistry,
        db: Database,
        clock: Clock,
        policy: SpreadPolicy | None = None,
        observe: Observe | None = None,
    ) -> None:
        self._manager, self._adapters, self._db, self._clock = manager, adapters, db, clock
        self.policy = policy or SpreadPolicy()
        self._observe = observe or (lambda _p, _a, _o: None)
        self._global = asyncio.Semaphore(self.policy.concurrency)
        self._accounts: dict[str, asyncio.Semaphore] = {}
        self._failures_at_plan: dict[str, int] = {}

    async def plan_round(self) -> tuple[list[Action], dict[str, tuple[str, str]], dict[str, datetime]]:
        """(actions, key -> (account, provider), channel id -> expiry) for this instant.

        Also remembers each channel's failure count, to tell success from failure afterwards.
        """
        now = self._clock.now()
        renewal = self._manager.policy
        async with self._db.session() as session:
            accounts = await active_accounts(session)
            cals = {c.id: c.account_id for c in await calendars.synced_calendars(session)}
            rows = await channel_store.live_channels(session)
            rows += await channel_store.channels_due_for_stop(session, now)
        watched = [cid for cid, acc in cals.items() if acc in accounts and accounts[acc] in self._adapters]
        views = [
            ChannelView(r.id, r.calendar_id, r.state, r.created_at, r.expires_at, r.retry_at) for r in rows
        ]
        wide = replace(renewal, margin=renewal.margin + self.policy.spread)
        actions = plan(watched, views, now, wide, self._manager.stats.watch_held)
        # A retiring row that shares its provider id with a live row is the webhook's orphan
        # record of our own new channel (its sync message beat the channel row's commit):
        # stopping it at the provider would kill the live channel, so forget it locally.
        live_ids = {(r.provider, r.external_id) for r in rows if r.state in ("active", "error")}
        shadows = {r.id for r in rows if r.state == "retiring" and (r.provider, r.external_id) in live_ids}
        actions = [
            Expire(a.channel_id) if isinstance(a, Stop) and a.channel_id in shadows else a for a in actions
        ]
        by_id = {v.id: v for v in views}
        self._failures_at_plan = {r.id: r.consecutive_failures for r in rows}
        spread = self.policy.spread
        actions = [
            a for a in actions
            if not isinstance(a, Renew) or renew_due(by_id[a.channel_id], now, renewal.margin, spread)
        ]  # fmt: skip
        owner: dict[str, tuple[str, str]] = {}
        for r in rows:
            account = cals.get(r.calendar_id, "")
            owner[r.id] = (account, r.provider)
        for cid, account in cals.items():
            owner[cid] = (account, accounts.get(account, ""))
        return actions, owner, {r.id: r.expires_at for r in rows}

    async def tick(self) -> RoundResult:
        actions, owner, expiry = await self.plan_round()
        result = RoundResult(planned=len(actions))
        local = [a for a in actions if isinstance(a, Retire | Expire)]  # database only
        remote = [a for a in actions if not isinstance(a, Retire | Expire)]
        for db_action in local:
            await self._run(db_action, owner, result)
        far = datetime.max.replace(tzinfo=self._clock.now().tzinfo)
        remote.sort(key=lambda a: expiry.get(_key(a), far))  # most urgent first
        budget: dict[str, int] = {}
        chosen: list[Action] = []
        for action in remote:
            account = owner.get(_key(action), ("", ""))[0]
            if budget.get(account, 0) >= self.policy.per_account_per_round:
                result.deferred += 1
                continue
            budget[account] = budget.get(account, 0) + 1
            chosen.append(action)
        await asyncio.gather(*(self._limited(a, owner, result) for a in chosen))
        if result.planned:
            log.info("renewal_round", planned=result.planned, done=result.done,
                     deferred=result.deferred, failed=result.failed)  # fmt: skip
        return result

    async def _limited(self, action: Action, owner: dict[str, tuple[str, str]], result: RoundResult) -> None:
        account = owner.get(_key(action), ("", ""))[0]
        per_account = self._accounts.setdefault(
            account, asyncio.Semaphore(self.policy.per_account_concurrency)
        )
        async with self._global, per_account:
            await self._run(action, owner, result)

    async def _run(self, action: Action, owner: dict[str, tuple[str, str]], result: RoundResult) -> None:
        provider = owner.get(_key(action), ("", "unknown"))[1] or "unknown"
        name = type(action).__name__.lower()
        try:
            ok = await self._do(action)
        except CalsyncError as err:  # one channel's trouble never stops the round
            log.warning("channel_action_failed", action=name, error=str(err))
            ok = False
        result.done += 1
        result.failed += 0 if ok else 1
        self._observe(provider, name, "success" if ok else "failure")

    async def _do(self, action: Action) -> bool:
        """Carry out one action; True when it reached its goal."""
        now = self._clock.now()
        if isinstance(action, Watch):
            return await self._manager.watch(action.calendar_id) is not None
        if isinstance(action, Retire | Expire):
            async with self._db.session() as session:
                if isinstance(action, Retire):
                    await channel_store.retire_channel(session, action.channel_id, stop_at=now, now=now)
                else:
                    await channel_store.mark_stopped(session, action.channel_id, now)
            return True
        channel_id = action.channel_id
        before = self._failures_at_plan.get(channel_id, 0)
        if isinstance(action, Renew):
            await self._manager.renew(channel_id)
        elif isinstance(action, Stop):
            await self._manager.stop(channel_id)
        return await self._failures(channel_id) <= before

    async def _failures(self, channel_id: str) -> int:
        async with self._db.session() as session:
            row = await channel_store.get_channel(session, channel_id)
        return row.consecutive_failures if row is not None else 0


def _key(action: Action) -> str:
    return action.calendar_id if isinstance(action, Watch) else action.channel_id

"""The reconcile consumer of ``calsync.changes`` (group ``calsync-reconcile``).

For each ``change.event``: load what the store knows about the event (its calendar, link,
appointment and the profile's policies), let ``reconcile_rules.decide`` say what it means,
and apply that in ONE transaction together with the dedupe row — so a redelivered change
does nothing, and a crash leaves either all of it or none of it.

A tombstone that must be confirmed (Graph ``@removed`` of one of our events) is checked
with a direct GET between two transactions: 404/410 confirms the deletion; a live event is
reconciled as such; revoked consent or a permanent error marks the link ``unknown`` and
cancels nothing (never infer deletion from provider errors); transient errors re-raise so
the bus retries in place.

A Google ``cancelled`` entry of one of our events, while other profiles' push calendars
could have received it by ``events.move``, is looked for there the same way
(``reconcile_lookup.ProviderLook.elsewhere``): found live with our marker, that event is
reconciled instead, in the tombstone's own transaction (a reassignment or a revert, never a
cancellation); only an event gone from everywhere is cancelled. Nothing is deferred: the
look runs before the dedupe row commits, so a crash or redelivery simply looks again.
"""

from __future__ import annotations

from collections import Counter
from typing import Final

import structlog

from calsync.clock import Clock
from calsync.crypto import Cipher
from calsync.envelope import decode
from calsync.errors import TransientProviderError
from channels.model import ExternalEvent, from_wire
from handlers.adapters import AdapterRegistry
from handlers.reconcile_apply import Applier
from handlers.reconcile_facts import load_facts
from handlers.reconcile_lookup import ProviderLook
from handlers.reconcile_rules import Decision, Ignore, LookElsewhere, MarkLink, Verify, decide
from handlers.sync import CHANGE_TYPE, CHANGE_VERSION
from store.db import Database
from store.dedupe import first_time

log = structlog.get_logger("calsync.reconcile")

CONSUMER_GROUP: Final = "calsync-reconcile"
SUPPORTED: Final = {CHANGE_TYPE: frozenset({CHANGE_VERSION})}


_MAX_PASSES: Final = 3  # a look, a second look at what it found, then the decision


class _NeedsLook(Exception):
    """Raised inside the transaction to roll it back (dedupe row included) before a provider GET."""

    def __init__(self, decision: Verify | LookElsewhere) -> None:
        super().__init__(type(decision).__name__)
        self.decision = decision


class ReconcileConsumer:
    def __init__(self, db: Database, adapters: AdapterRegistry, cipher: Cipher, clock: Clock) -> None:
        self._db, self._clock = db, clock
        self._look = ProviderLook(db, adapters, cipher)
        self.decisions: Counter[str] = Counter()  # decision kind -> count, for tests and metrics

    async def handle(self, value: bytes) -> None:
        """One record's value: decode (PoisonMessage on garbage) and reconcile it."""
        envelope = decode(value, SUPPORTED)
        await self.reconcile(envelope.id, from_wire(dict(envelope.data)))

    async def reconcile(self, message_id: str, event: ExternalEvent) -> None:
        gone: bool | None = None
        unverifiable = False
        for _ in range(_MAX_PASSES):
            try:
                await self._once(message_id, event, gone, unverifiable)
                return
            except _NeedsLook as need:
                if isinstance(need.decision, LookElsewhere):
                    found = await self._look.elsewhere(event, need.decision)
                    self.decisions["LookElsewhere"] += 1
                    # Found live (moved, or back at the source): reconcile that event instead.
                    event, gone = (found, None) if found is not None else (event, True)
                    continue
                outcome = await self._look.verify(event)
                if isinstance(outcome, ExternalEvent):
                    event, gone = outcome, outcome.is_tombstone or None
                elif outcome is None:
                    gone, unverifiable = False, True
                else:
                    gone = True
        raise TransientProviderError("deletion still unverified")  # a race with a concurrent change

    async def _once(
        self, message_id: str, event: ExternalEvent, gone: bool | None, unverifiable: bool
    ) -> None:
        now = self._clock.now()
        async with self._db.session() as session:
            if not await first_time(session, CONSUMER_GROUP, message_id, now):
                self.decisions["duplicate"] += 1
                return
            facts = await load_facts(session, event, gone)
            if facts is None:
                self._record(event, Ignore("unknown calendar"))
                return
            decision: Decision = decide(event, facts)
            if unverifiable:
                # The provider could not say whether our event is gone: keep everything, flag the link.
                decision = MarkLink(facts.link.id, "unknown") if facts.link else Ignore("unverifiable")
            if isinstance(decision, Verify | LookElsewhere):
                raise _NeedsLook(decision)
            self._record(event, decision)
            await Applier(session, now).apply(decision, facts)

    def _record(self, event: ExternalEvent, decision: Decision) -> None:
        kind = type(decision).__name__
        self.decisions[kind] += 1
        reason = decision.reason if isinstance(decision, Ignore) else None
        log.info(
            "reconciled", calendar_id=event.calendar_id, event_id=event.event_id, decision=kind, reason=reason
        )
        if isinstance(decision, MarkLink) and decision.state == "unknown":
            # Alert-worthy: one of our events may be gone, but we could not confirm it.
            log.warning("event_link_unknown", calendar_id=event.calendar_id, event_id=event.event_id)

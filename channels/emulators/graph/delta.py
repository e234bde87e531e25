"""calendarView delta: server-side sync states, opaque tokens, round snapshots and paging.

Modelled on concepts/delta-query-overview and delta-query-events: the window (start/end) is fixed
on the first call and carried inside every token; a round is snapshotted when it starts and served
page by page (``$skiptoken``) until the last page hands out a ``$deltatoken``. Like Outlook, the
sync state lives on the server, so it can be evicted (invalidated) and the token then fails.
Out-of-window added/updated/deleted items are reported as ``@removed`` too; the client filters.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .ids import IdFactory
from .render import Instance, render_instance, view
from .state import Mailbox
from .wire import GraphError

MAX_ROUNDS = 1000


@dataclass(slots=True)
class SyncState:
    """What the holder of a ``$deltatoken`` has seen: instance id → changeKey, and the log position."""

    id: str
    user_id: str
    calendar_id: str | None
    start: datetime
    end: datetime
    known: dict[str, str]
    seq: int
    last_entries: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class Round:
    id: str
    user_id: str
    entries: list[dict[str, Any]]
    final_state_id: str


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # "skip" or "delta"
    ref: str
    offset: int
    user_id: str
    calendar_id: str | None
    start: str
    end: str


def encode_token(token: Token) -> str:
    raw = json.dumps(
        [token.kind, token.ref, token.offset, token.user_id, token.calendar_id, token.start, token.end]
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_token(text: str) -> Token:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        kind, ref, offset, user_id, calendar_id, start, end = json.loads(raw)
        return Token(str(kind), str(ref), int(offset), str(user_id), calendar_id, str(start), str(end))
    except (binascii.Error, ValueError, TypeError) as err:
        raise GraphError(400, "BadRequest", "The delta or skip token is malformed.") from err


def removed(entity_id: str) -> dict[str, Any]:
    return {"@odata.type": "#microsoft.graph.event", "id": entity_id, "@removed": {"reason": "deleted"}}


def diff(
    box: Mailbox, calendar_id: str | None, current: list[Instance], state: SyncState | None, zone: str
) -> list[dict[str, Any]]:
    """The entries of one round: new/changed instances, then removals (gone or out of window)."""
    if state is None:
        return [render_instance(box, i, zone) for i in current]
    entries = [render_instance(box, i, zone) for i in current if state.known.get(i.id) != i.change_key]
    current_ids = {i.id for i in current}
    visible_series = {i.event.id for i in current}
    gone = [iid for iid in state.known if iid not in current_ids]
    touched: list[str] = []
    for change in box.changes:
        if change.seq <= state.seq or (calendar_id is not None and change.calendar_id != calendar_id):
            continue
        eid = change.entity_id
        # A change outside the window still surfaces, as @removed (MS-DQE); skip a series whose
        # other instances are being reported so a client never drops a live series by its master id.
        if eid not in current_ids and eid not in state.known and change.series_id not in visible_series:
            touched.append(eid)
    seen: set[str] = set()
    for eid in [*gone, *touched]:
        if eid not in seen:
            seen.add(eid)
            entries.append(removed(eid))
    return entries


class DeltaEngine:
    def __init__(self, ids: IdFactory) -> None:
        self.ids = ids
        self.states: dict[str, SyncState] = {}
        self.rounds: dict[str, Round] = {}
        self.replay_next = 0
        self.empty_pages = 0

    def start_round(
        self,
        box: Mailbox,
        calendar_id: str | None,
        start: datetime,
        end: datetime,
        prior: SyncState | None,
        zone: str,
        replay_always: int,
    ) -> Round:
        current = view(box, calendar_id, start, end)
        entries = diff(box, calendar_id, current, prior, zone)
        replay = max(self.replay_next, replay_always)
        if prior is not None and replay > 0:
            # "The same change may appear again": resend the tail of the previous round verbatim.
            entries = [*prior.last_entries[-replay:], *entries]
            self.replay_next = 0
        final = SyncState(
            self.ids.guid(),
            box.user.id,
            calendar_id,
            start,
            end,
            {i.id: i.change_key for i in current},
            box.seq,
            entries,
        )
        self.states[final.id] = final
        rnd = Round(self.ids.guid(), box.user.id, entries, final.id)
        self.rounds[rnd.id] = rnd
        while len(self.rounds) > MAX_ROUNDS:
            self.rounds.pop(next(iter(self.rounds)))
        return rnd

    def invalidate(self, user_id: str | None = None) -> int:
        """Evict sync states (and in-flight rounds) so their tokens fail; returns how many."""
        doomed = [k for k, s in self.states.items() if user_id is None or s.user_id == user_id]
        for key in doomed:
            del self.states[key]
        for key in [k for k, r in self.rounds.items() if user_id is None or r.user_id == user_id]:
            del self.rounds[key]
        return len(doomed)

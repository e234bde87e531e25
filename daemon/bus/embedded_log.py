"""Queries behind the embedded bus: the durable log (``bus_record``) and group positions (``bus_offset``).

Every function takes the caller's session; the caller owns the transaction.

Offsets: a publisher takes the next offset as ``max(offset) + 1`` of its partition. On
PostgreSQL a transaction-scoped advisory lock per (topic, partition) serialises that, so a
higher offset never becomes visible before a lower one (a consumer would skip it); on
SQLite the single writer does the same, and the unique primary key catches any race.

Partition leases live in ``bus_offset`` rows with ``partition >= 0``. Group membership
(used to split partitions fairly) lives in the same table as heartbeat rows with a
negative ``partition`` derived from the member id, so no extra table is needed.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from daemon.bus.base import OutgoingRecord, Record, partition_for
from store.tables import BusOffset, BusRecord

_LOCK_CLASS = 0x63616C73 & 0x7FFFFFFF  # "cals": the first half of our two-int advisory lock keys
_REC = BusRecord.__table__  # type: ignore[attr-defined]
_OFF = BusOffset.__table__  # type: ignore[attr-defined]


def member_slot(member: str) -> int:
    """The negative ``partition`` value of a member's heartbeat row."""
    return -1 - (zlib.crc32(member.encode()) & 0x3FFFFFFF)


async def _execute(session: AsyncSession, stmt: Any, params: Any = None) -> Any:
    """Core statements go through the session's connection (same transaction, typed results)."""
    conn = await session.connection()
    return await conn.execute(stmt, params)


async def _scalar(session: AsyncSession, stmt: Any) -> Any:
    conn = await session.connection()
    return await conn.scalar(stmt)


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


async def append(
    session: AsyncSession, records: Sequence[OutgoingRecord], partitions: int, now: datetime
) -> None:
    """Insert the records at the end of their partitions, in the given order."""
    placed = [(r, partition_for(r.key, partitions)) for r in records]
    slots = sorted({(r.topic, p) for r, p in placed})
    if session.get_bind().dialect.name == "postgresql":
        # Sorted, so two publishers of overlapping batches cannot deadlock.
        for topic, p in slots:
            key = zlib.crc32(f"{topic}/{p}".encode()) & 0x7FFFFFFF
            await _execute(session, select(func.pg_advisory_xact_lock(_LOCK_CLASS, key)))
    next_offset: dict[tuple[str, int], int] = {}
    for topic, p in slots:
        top = await _scalar(
            session, select(func.max(_REC.c.offset)).where(_REC.c.topic == topic, _REC.c.partition == p)
        )
        next_offset[(topic, p)] = 0 if top is None else int(top) + 1
    rows = []
    for r, p in placed:
        offset = next_offset[(r.topic, p)]
        next_offset[(r.topic, p)] = offset + 1
        rows.append(
            {
                "topic": r.topic,
                "partition": p,
                "offset": offset,
                "key": r.key,
                "value": r.value,
                "headers": dict(r.headers),
                "created_at": now,
            }
        )
    await _execute(session, _REC.insert(), rows)


async def fetch(
    session: AsyncSession, topic: str, partition: int, from_offset: int, limit: int
) -> list[Record]:
    result = await _execute(
        session,
        select(_REC.c.offset, _REC.c.key, _REC.c.value, _REC.c.headers)
        .where(_REC.c.topic == topic, _REC.c.partition == partition, _REC.c.offset >= from_offset)
        .order_by(_REC.c.offset)
        .limit(limit),
    )
    return [
        Record(topic, partition, int(offset), key, bytes(value), dict(headers or {}))
        for offset, key, value, headers in result.all()
    ]


async def heads(session: AsyncSession, topic: str, partitions: int) -> dict[int, int | None]:
    """The last offset of every partition of a topic (None: empty), in one round trip.

    One scalar subquery per partition, so each is a single probe of the primary key index
    rather than a scan of the topic's retained records.
    """
    probes = [
        select(func.max(_REC.c.offset)).where(_REC.c.topic == topic, _REC.c.partition == p).scalar_subquery()
        for p in range(partitions)
    ]
    row = (await _execute(session, select(*probes))).one()
    return {p: None if top is None else int(top) for p, top in enumerate(row)}


async def ensure_positions(session: AsyncSession, group: str, topic: str, partitions: int) -> None:
    """Create the group's position rows (offset 0, unowned) for partitions that have none."""
    rows = [{"group": group, "topic": topic, "partition": p, "next_offset": 0} for p in range(partitions)]
    await _execute(session, _insert(session, _OFF).values(rows).on_conflict_do_nothing())


def _mine(group: str, topic: str) -> Any:
    return and_(_OFF.c.group == group, _OFF.c.topic == topic)


async def heartbeat(session: AsyncSession, group: str, topic: str, member: str, until: datetime) -> None:
    stmt = _insert(session, _OFF).values(
        group=group,
        topic=topic,
        partition=member_slot(member),
        next_offset=0,
        owner=member,
        lease_until=until,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[_OFF.c.group, _OFF.c.topic, _OFF.c.partition],
        set_={"owner": member, "lease_until": until},
    )
    await _execute(session, stmt)


async def live_members(session: AsyncSession, group: str, topic: str, now: datetime) -> list[str]:
    result = await _execute(
        session,
        select(_OFF.c.owner).where(_mine(group, topic), _OFF.c.partition < 0, _OFF.c.lease_until >= now),
    )
    return sorted({owner for (owner,) in result.all() if owner})


@dataclass(frozen=True, slots=True)
class Lease:
    partition: int
    owner: str | None
    lease_until: datetime | None
    next_offset: int

    def free_at(self, now: datetime) -> bool:
        return self.owner is None or self.lease_until is None or self.lease_until < now


async def leases(session: AsyncSession, group: str, topic: str) -> list[Lease]:
    result = await _execute(
        session,
        select(_OFF.c.partition, _OFF.c.owner, _OFF.c.lease_until, _OFF.c.next_offset)
        .where(_mine(group, topic), _OFF.c.partition >= 0)
        .order_by(_OFF.c.partition),
    )
    return [Lease(int(p), owner, until, int(nxt)) for p, owner, until, nxt in result.all()]


async def acquire(
    session: AsyncSession, group: str, topic: str, partition: int, member: str, now: datetime, until: datetime
) -> int | None:
    """Take the partition if it is free or its lease ran out; returns its next offset, or None."""
    result = await _execute(
        session,
        update(_OFF)
        .where(
            _mine(group, topic),
            _OFF.c.partition == partition,
            or_(
                _OFF.c.owner.is_(None),
                _OFF.c.owner == member,
                _OFF.c.lease_until.is_(None),
                _OFF.c.lease_until < now,
            ),
        )
        .values(owner=member, lease_until=until),
    )
    if result.rowcount != 1:
        return None
    nxt = await _scalar(
        session, select(_OFF.c.next_offset).where(_mine(group, topic), _OFF.c.partition == partition)
    )
    return int(nxt or 0)


async def renew(session: AsyncSession, group: str, topic: str, member: str, until: datetime) -> set[int]:
    """Extend every lease the member still holds; returns those partitions."""
    await _execute(
        session,
        update(_OFF)
        .where(_mine(group, topic), _OFF.c.partition >= 0, _OFF.c.owner == member)
        .values(lease_until=until),
    )
    result = await _execute(
        session,
        select(_OFF.c.partition).where(_mine(group, topic), _OFF.c.partition >= 0, _OFF.c.owner == member),
    )
    return {int(p) for (p,) in result.all()}


async def commit(
    session: AsyncSession,
    group: str,
    topic: str,
    partition: int,
    member: str,
    next_offset: int,
    until: datetime,
) -> bool:
    """Advance the group's position; only the lease owner may. False = the lease was lost."""
    result = await _execute(
        session,
        update(_OFF)
        .where(_mine(group, topic), _OFF.c.partition == partition, _OFF.c.owner == member)
        .values(next_offset=next_offset, lease_until=until),
    )
    return bool(result.rowcount == 1)


async def release(
    session: AsyncSession, group: str, topic: str, member: str, partitions: Sequence[int]
) -> None:
    await _execute(
        session,
        update(_OFF)
        .where(_mine(group, topic), _OFF.c.partition.in_(list(partitions)), _OFF.c.owner == member)
        .values(owner=None, lease_until=None),
    )


async def leave(session: AsyncSession, group: str, topic: str, member: str) -> None:
    """Release every partition and drop the member's heartbeat row."""
    await _execute(
        session,
        update(_OFF)
        .where(_mine(group, topic), _OFF.c.partition >= 0, _OFF.c.owner == member)
        .values(owner=None, lease_until=None),
    )
    await _execute(
        session,
        delete(_OFF).where(
            _mine(group, topic), _OFF.c.partition == member_slot(member), _OFF.c.owner == member
        ),
    )


async def purge(session: AsyncSession, now: datetime, retention: timedelta, limit: int) -> int:
    """Delete records every group has passed, or older than ``retention``; at most ``limit`` per partition.

    The newest record of each partition is always kept: it carries the partition's offset counter.
    """
    deleted = 0
    spans = await _execute(
        session,
        select(_REC.c.topic, _REC.c.partition, func.min(_REC.c.offset), func.max(_REC.c.offset)).group_by(
            _REC.c.topic, _REC.c.partition
        ),
    )
    for topic, p, low, high in spans.all():
        floor = await _scalar(
            session, select(func.min(_OFF.c.next_offset)).where(_OFF.c.topic == topic, _OFF.c.partition == p)
        )
        expired = await _scalar(
            session,
            select(func.max(_REC.c.offset)).where(
                _REC.c.topic == topic, _REC.c.partition == p, _REC.c.created_at < now - retention
            ),
        )
        upto = max(int(floor or 0), -1 if expired is None else int(expired) + 1)
        upto = min(upto, int(high), int(low) + limit)
        if upto <= int(low):
            continue
        result = await _execute(
            session, delete(_REC).where(_REC.c.topic == topic, _REC.c.partition == p, _REC.c.offset < upto)
        )
        deleted += int(result.rowcount)
    # Heartbeat rows of members that died long ago.
    await _execute(
        session, delete(_OFF).where(_OFF.c.partition < 0, _OFF.c.lease_until < now - timedelta(minutes=10))
    )
    return deleted


async def lag(session: AsyncSession, groups: Sequence[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Per (group, topic): the log's head minus the group's committed positions, summed over partitions."""
    heads = dict(
        ((row[0], row[1]), int(row[2]) + 1)
        for row in await _execute(
            session,
            select(_REC.c.topic, _REC.c.partition, func.max(_REC.c.offset)).group_by(
                _REC.c.topic, _REC.c.partition
            ),
        )
    )
    out: dict[tuple[str, str], int] = {}
    for group, topic in groups:
        committed = {
            int(row[0]): int(row[1])
            for row in await _execute(
                session,
                select(_OFF.c.partition, _OFF.c.next_offset).where(
                    _OFF.c.group == group, _OFF.c.topic == topic, _OFF.c.partition >= 0
                ),
            )
        }
        out[(group, topic)] = sum(
            max(0, head - committed.get(partition, 0)) for (t, partition), head in heads.items() if t == topic
        )
    return out

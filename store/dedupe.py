"""Consumer-side idempotency: remember which bus messages a consumer has already handled.

The bus delivers at least once. A consumer calls ``first_time`` inside the transaction that
applies the message's side effect, so the effect and its dedupe row commit (or roll back)
together: a redelivery after a crash either finds the row and is skipped, or finds neither.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.errors import StoreError
from store.tables import ProcessedMessage


async def first_time(session: AsyncSession, consumer: str, message_id: str, now: datetime) -> bool:
    """Record (consumer, message_id) in the caller's transaction; False if it was already there.

    On PostgreSQL a concurrent, uncommitted insert of the same pair makes this wait for that
    transaction: once it commits we return False, if it rolls back we return True.
    """
    values = {"consumer": consumer, "message_id": message_id, "processed_at": now}
    keys = ["consumer", "message_id"]
    dialect = session.get_bind().dialect.name
    stmt: Insert
    if dialect == "postgresql":
        stmt = postgresql.insert(ProcessedMessage).values(values).on_conflict_do_nothing(index_elements=keys)
    elif dialect == "sqlite":
        stmt = sqlite.insert(ProcessedMessage).values(values).on_conflict_do_nothing(index_elements=keys)
    else:
        raise StoreError(f"unsupported database dialect: {dialect}")
    # RETURNING yields a row only when the insert happened (rowcount is not reliable for
    # INSERT on every driver: psycopg reports -1 through SQLAlchemy's async adapter).
    result = await session.exec(stmt.returning(col(ProcessedMessage.consumer)))
    return result.first() is not None

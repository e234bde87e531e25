"""The Database handle: one engine and its session factory, owned by the composition root."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession

from calsync.errors import StoreError
from store.engine import create_engine, session_factory

# Set in session.info by store.outbox.enqueue; read after the transaction committed.
OUTBOX_WRITTEN = "calsync.outbox_written"


class Database:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url)
        self._sessions = session_factory(self.engine)
        self._outbox_listeners: list[Callable[[], None]] = []

    def on_outbox_commit(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every commit that wrote outbox rows (wakes the relay at once)."""
        self._outbox_listeners.append(listener)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name  # "sqlite" | "postgresql"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on clean exit and rolls back on error."""
        async with self._sessions() as session:
            async with session.begin():
                yield session
            if session.info.pop(OUTBOX_WRITTEN, False):
                for listener in self._outbox_listeners:
                    listener()

    async def ping(self) -> None:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (SQLAlchemyError, OSError) as err:
            raise StoreError(f"database unreachable: {type(err).__name__}") from err

    async def close(self) -> None:
        await self.engine.dispose()

"""Schema migrations (Alembic). Placeholder until the migrations land: creates the tables directly."""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlmodel import SQLModel

import store.tables  # noqa: F401  (registers the tables)
from store.engine import sync_url


def upgrade(url: str) -> None:
    engine = create_engine(sync_url(url))
    try:
        SQLModel.metadata.create_all(engine)
    finally:
        engine.dispose()

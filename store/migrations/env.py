"""Alembic's environment: runs revisions on the connection ``store.migrate`` hands over.

``store.migrate`` passes an open connection in ``config.attributes["connection"]`` (it holds
the PostgreSQL advisory lock on it). Developers running the ``alembic`` command pass
``-x url=...`` instead. Autogenerate renders our column types as plain SQLAlchemy types so
revisions never import application code.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, create_engine, pool
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import store.tables  # noqa: F401  (registers the tables on SQLModel.metadata)
from store.engine import sync_url
from store.types import UTCDateTime

target_metadata = SQLModel.metadata


def _render_item(type_: str, obj: Any, _autogen: AutogenContext) -> str | Literal[False]:
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length!r})" if obj.length else "sa.String()"
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False  # Alembic's default rendering


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        compare_type=True,
        render_item=_render_item,
        **kwargs,
    )


def _run_on(connection: Connection) -> None:
    # SQLite cannot ALTER most things; batch mode rebuilds tables in later revisions.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def _url_from_command_line() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("pass the database with -x url=sqlite:///calsync.db (or a postgresql:// URL)")
    return sync_url(url)


def main() -> None:
    if context.is_offline_mode():
        _configure(url=_url_from_command_line(), literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    connection: Connection | None = context.config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = create_engine(_url_from_command_line(), poolclass=pool.NullPool)
    try:
        with engine.begin() as conn:
            _run_on(conn)
    finally:
        engine.dispose()


main()

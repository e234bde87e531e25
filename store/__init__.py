"""Persistence: SQLModel tables, repositories, Alembic migrations, engine set-up.

Knows no provider and imports neither ``handlers`` nor ``daemon``.
"""

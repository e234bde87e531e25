"""Alembic environment and revisions for the calsync schema.

A package so that ``env.py`` ships in the wheel; ``store.migrate`` is the only caller.
"""

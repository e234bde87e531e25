"""Push suite fixtures: the API fixtures of ``tests/api`` (real app, migrated SQLite/PostgreSQL)."""

from __future__ import annotations

from tests.api.conftest import api, operator

__all__ = ["api", "operator"]

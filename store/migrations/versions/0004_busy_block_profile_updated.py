"""Index ``busy_block (profile_id, updated_at)`` for the availability index's freshness check.

Revision ID: 0004
Revises: 0003

Every availability answer first asks whether the profile's busy blocks changed
(newest ``updated_at``); without this index that is a scan of the profile's blocks.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_busy_block_profile_updated", "busy_block", ["profile_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_busy_block_profile_updated", table_name="busy_block")

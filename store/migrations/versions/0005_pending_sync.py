"""Table ``pending_sync``: one waiting push signal per calendar (ingest-side coalescing).

Revision ID: 0005
Revises: 0004

A burst of push notifications for one calendar used to put one signal per webhook batch
on the bus; the row lets every notification after the first ride on the signal that is
already waiting (see ``store/pending_sync.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pending_sync",
        sa.Column("calendar_id", sa.String(length=64), primary_key=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("pending_sync")

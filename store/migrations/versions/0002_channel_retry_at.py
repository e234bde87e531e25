"""Channel renewal backoff: ``channel.retry_at``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

The renewal loop retries a failed renew/stop no earlier than ``retry_at`` (jittered
exponential backoff), and a channel replaced by a newer one is stopped once its overlap,
also kept in ``retry_at``, is over. Nullable, so existing rows need no backfill.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("channel") as batch:
        batch.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("channel") as batch:
        batch.drop_column("retry_at")

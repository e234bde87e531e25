"""Occurrence overrides of recurring appointments: ``appointment_occurrence``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23

One row per occurrence the host moved or cancelled on its own, keyed by the
occurrence's original start (UTC). The push worker writes each to its series'
instance; the series itself stays one external event.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "appointment_occurrence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.String(length=200), nullable=False),
        _ts("original_start"),
        _ts("start_utc"),
        _ts("end_utc"),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cancel_reason", sa.String(length=64), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["appointment_id"], ["appointment.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("appointment_id", "original_start", name="uq_appointment_occurrence"),
    )
    op.create_index("ix_appointment_occurrence_appointment_id", "appointment_occurrence", ["appointment_id"])


def downgrade() -> None:
    op.drop_index("ix_appointment_occurrence_appointment_id", table_name="appointment_occurrence")
    op.drop_table("appointment_occurrence")

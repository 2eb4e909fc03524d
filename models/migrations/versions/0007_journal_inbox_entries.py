"""journal: the inbox journal (inbox_entries), every accepted activity as received and its processing state

Revision ID: 0007_journal_inbox_entries
Revises: 0006_lean_activities
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_journal_inbox_entries"
down_revision = "0006_lean_activities"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "inbox_entries",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("activity_uri", sa.String(2048), nullable=False),
        sa.Column("activity_type", sa.String(64), nullable=False),
        sa.Column("actor_uri", sa.String(2048), nullable=False),
        sa.Column("order_key", sa.String(2048), nullable=False),
        sa.Column("recipient_id", ID, nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", WHEN, nullable=False),
        sa.Column("lease_until", WHEN, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("received_at", WHEN, nullable=False),
        sa.Column("processed_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["actors.id"],
            name=op.f("fk_inbox_entries_recipient_id_actors"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_entries")),
        sa.UniqueConstraint("activity_uri", name=op.f("uq_inbox_entries_activity_uri")),
    )
    op.create_index("ix_inbox_entries_state", "inbox_entries", ["state", "id"], unique=False)
    op.create_index("ix_inbox_entries_order_key", "inbox_entries", ["order_key", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_inbox_entries_order_key", table_name="inbox_entries")
    op.drop_index("ix_inbox_entries_state", table_name="inbox_entries")
    op.drop_table("inbox_entries")

"""login failures: failed sign-in attempts per account and per client address (throttling)

Revision ID: 0008_login_failures
Revises: 0007_journal_inbox_entries
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_login_failures"
down_revision = "0007_journal_inbox_entries"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(320), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_login_failures_key_at", "login_failures", ["key", "at"])


def downgrade() -> None:
    op.drop_index("ix_login_failures_key_at", table_name="login_failures")
    op.drop_table("login_failures")

"""accounts: invitations, join requests, password resets and domain blocks

Revision ID: 0010_accounts
Revises: 0008_login_failures
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_accounts"
down_revision = "0009_decisions"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def _actor(name: str, nullable: bool = True, ondelete: str = "SET NULL") -> sa.Column:
    return sa.Column(name, ID, sa.ForeignKey("actors.id", ondelete=ondelete), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "invitations",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _actor("movement_id", nullable=False, ondelete="CASCADE"),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("uses", sa.Integer(), nullable=False),
        sa.Column("used", sa.Integer(), nullable=False),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("revoked_at", WHEN, nullable=True),
        _actor("created_by_id"),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_table(
        "join_requests",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        _actor("movement_id", nullable=False, ondelete="CASCADE"),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        _actor("decided_by_id"),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_index("ix_join_requests_state", "join_requests", ["state", "id"])
    op.create_table(
        "password_resets",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        _actor("member_id", nullable=False, ondelete="CASCADE"),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("used_at", WHEN, nullable=True),
        _actor("created_by_id"),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_table(
        "domain_blocks",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("domain", sa.String(255), nullable=False, unique=True),
        sa.Column("reason", sa.Text(), nullable=True),
        _actor("created_by_id"),
        sa.Column("created_at", WHEN, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("domain_blocks")
    op.drop_table("password_resets")
    op.drop_index("ix_join_requests_state", table_name="join_requests")
    op.drop_table("join_requests")
    op.drop_table("invitations")

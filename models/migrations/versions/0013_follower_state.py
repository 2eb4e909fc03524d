"""follower_state: an index of follows by follower and state (an account's following count, index alone)

Revision ID: 0013_follower_state
Revises: 0012_inbox_payloads
Create Date: 2026-12-06
"""

from alembic import op

revision = "0013_follower_state"
down_revision = "0012_inbox_payloads"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_follows_follower_state", "follows", ["follower_id", "state"])


def downgrade() -> None:
    op.drop_index("ix_follows_follower_state", table_name="follows")

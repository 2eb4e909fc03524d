"""lean activities: drop the index on activities.object_uri (no query reads by it; every received
activity paid for it); merges the agreements and mastodon branches

Revision ID: 0006_lean_activities
Revises: 0004_agreements, 0005_mastodon
Create Date: 2026-11-25
"""

from alembic import op

revision = "0006_lean_activities"
down_revision = ("0004_agreements", "0005_mastodon")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activities_object_uri"))


def downgrade() -> None:
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activities_object_uri"), ["object_uri"], unique=False)

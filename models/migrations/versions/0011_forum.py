"""forum: edit history, pinned threads, thread reads, the moderation log, resolved reports

Revision ID: 0011_forum
Revises: 0008_login_failures
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_forum"
down_revision = "0010_accounts"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "object_versions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("object_id", ID, sa.ForeignKey("objects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("written_at", WHEN, nullable=False),
        sa.Column("replaced_at", WHEN, nullable=False),
    )
    op.create_index("ix_object_versions_object", "object_versions", ["object_id", "id"])
    with op.batch_alter_table("space_posts") as batch:
        batch.add_column(sa.Column("pinned", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("space_reports") as batch:
        batch.add_column(
            sa.Column(
                "resolved_by_id",
                ID,
                sa.ForeignKey(
                    "actors.id", name="fk_space_reports_resolved_by_id_actors", ondelete="SET NULL"
                ),
                nullable=True,
            )
        )
        batch.add_column(sa.Column("resolved_at", WHEN, nullable=True))
    op.create_table(
        "space_moderation_log",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("space_id", ID, sa.ForeignKey("spaces.id", ondelete="CASCADE"), nullable=False),
        sa.Column("moderator_id", ID, sa.ForeignKey("actors.id", ondelete="SET NULL"), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target_uri", sa.String(2048), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_index("ix_space_moderation_log_space", "space_moderation_log", ["space_id", "id"])
    op.create_table(
        "space_thread_reads",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("actor_id", ID, sa.ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("thread_id", ID, sa.ForeignKey("objects.id", ondelete="CASCADE"), nullable=False),
        sa.Column("read_at", WHEN, nullable=False),
    )
    op.create_index(
        "ix_space_thread_reads_pair", "space_thread_reads", ["actor_id", "thread_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("ix_space_thread_reads_pair", table_name="space_thread_reads")
    op.drop_table("space_thread_reads")
    op.drop_index("ix_space_moderation_log_space", table_name="space_moderation_log")
    op.drop_table("space_moderation_log")
    with op.batch_alter_table("space_reports") as batch:
        batch.drop_column("resolved_at")
        batch.drop_column("resolved_by_id")
    with op.batch_alter_table("space_posts") as batch:
        batch.drop_column("pinned")
    op.drop_index("ix_object_versions_object", table_name="object_versions")
    op.drop_table("object_versions")

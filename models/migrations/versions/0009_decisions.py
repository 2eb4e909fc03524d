"""decisions: movement settings, internal decisions and votes; who acted on a signature, and its mandate

Revision ID: 0009_decisions
Revises: 0008_login_failures
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009_decisions"
down_revision = "0008_login_failures"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "movement_settings",
        sa.Column("movement_id", ID, sa.ForeignKey("actors.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("quorum", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("require_mandate", sa.Boolean(), nullable=False),
        sa.Column("hide_results", sa.Boolean(), nullable=False),
        sa.Column("duration_hours", sa.Integer(), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("uri", sa.String(2048), nullable=False, unique=True),
        sa.Column("movement_id", ID, sa.ForeignKey("actors.id", ondelete="CASCADE"), nullable=False),
        sa.Column("proposal_id", ID, sa.ForeignKey("proposals.id", ondelete="CASCADE"), nullable=True),
        sa.Column("version_hash", sa.String(64), nullable=True),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("members_only", sa.Boolean(), nullable=False),
        sa.Column("hide_results", sa.Boolean(), nullable=False),
        sa.Column("quorum", sa.Float(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("electorate", sa.Integer(), nullable=False),
        sa.Column("created_by_uri", sa.String(2048), nullable=True),
        sa.Column("closes_at", WHEN, nullable=False),
        sa.Column("closed_at", WHEN, nullable=True),
        sa.Column("reminded_at", WHEN, nullable=True),
        sa.Column("tally", JSON, nullable=True),
        sa.Column("record", sa.Text(), nullable=True),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
    )
    op.create_index("ix_decisions_state_closes", "decisions", ["state", "closes_at"])
    op.create_index("ix_decisions_proposal", "decisions", ["proposal_id"])
    op.create_table(
        "decision_votes",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("decision_id", ID, sa.ForeignKey("decisions.id", ondelete="CASCADE"), nullable=False),
        sa.Column("voter_uri", sa.String(2048), nullable=False),
        sa.Column("member", sa.Boolean(), nullable=False),
        sa.Column("choice", sa.String(64), nullable=False),
        sa.Column("note_uri", sa.String(2048), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )
    op.create_index("ix_decision_votes_pair", "decision_votes", ["decision_id", "voter_uri"], unique=True)
    with op.batch_alter_table("proposal_signatures") as table:
        table.add_column(sa.Column("acted_by_uri", sa.String(2048), nullable=True))
        table.add_column(sa.Column("reason", sa.Text(), nullable=True))
        table.add_column(sa.Column("mandate_uri", sa.String(2048), nullable=True))
        table.add_column(sa.Column("mandate_digest", sa.String(64), nullable=True))
    with op.batch_alter_table("proposals") as table:
        table.add_column(sa.Column("reminded_at", WHEN, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("proposals") as table:
        table.drop_column("reminded_at")
    with op.batch_alter_table("proposal_signatures") as table:
        for column in ("mandate_digest", "mandate_uri", "reason", "acted_by_uri"):
            table.drop_column(column)
    op.drop_index("ix_decision_votes_pair", table_name="decision_votes")
    op.drop_table("decision_votes")
    op.drop_index("ix_decisions_proposal", table_name="decisions")
    op.drop_index("ix_decisions_state_closes", table_name="decisions")
    op.drop_table("decisions")
    op.drop_table("movement_settings")

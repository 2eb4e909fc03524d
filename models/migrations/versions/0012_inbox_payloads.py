"""inbox payloads apart: an entry's body in inbox_payloads, its key-and-state index

Revision ID: 0012_inbox_payloads
Revises: 0011_forum
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_inbox_payloads"
down_revision = "0011_forum"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "inbox_payloads",
        sa.Column("entry_id", ID, autoincrement=False, nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["inbox_entries.id"],
            name=op.f("fk_inbox_payloads_entry_id_inbox_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", name=op.f("pk_inbox_payloads")),
    )
    op.execute("INSERT INTO inbox_payloads (entry_id, payload) SELECT id, payload FROM inbox_entries")
    op.drop_index("ix_inbox_entries_order_key", table_name="inbox_entries")
    with op.batch_alter_table("inbox_entries") as batch:
        batch.drop_column("payload")
    op.create_index("ix_inbox_entries_order_key", "inbox_entries", ["order_key", "state", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_inbox_entries_order_key", table_name="inbox_entries")
    with op.batch_alter_table("inbox_entries") as batch:
        batch.add_column(sa.Column("payload", sa.Text(), nullable=False, server_default=""))
    op.execute(
        "UPDATE inbox_entries SET payload = (SELECT payload FROM inbox_payloads"
        " WHERE inbox_payloads.entry_id = inbox_entries.id)"
    )
    op.create_index("ix_inbox_entries_order_key", "inbox_entries", ["order_key", "id"], unique=False)
    op.drop_table("inbox_payloads")

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


def _create_payloads() -> None:
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


def upgrade() -> None:
    # The bodies wait in a plain table while inbox_entries loses its column: on SQLite that rebuilds the
    # table, and dropping the old one would cascade into a table that already referenced it.
    op.execute("CREATE TABLE inbox_payloads_moving AS SELECT id AS entry_id, payload FROM inbox_entries")
    op.drop_index("ix_inbox_entries_order_key", table_name="inbox_entries")
    with op.batch_alter_table("inbox_entries") as batch:
        batch.drop_column("payload")
    op.create_index("ix_inbox_entries_order_key", "inbox_entries", ["order_key", "state", "id"], unique=False)
    _create_payloads()
    op.execute(
        "INSERT INTO inbox_payloads (entry_id, payload) SELECT entry_id, payload FROM inbox_payloads_moving"
    )
    op.drop_table("inbox_payloads_moving")


def downgrade() -> None:
    op.execute("CREATE TABLE inbox_payloads_moving AS SELECT entry_id, payload FROM inbox_payloads")
    op.drop_table("inbox_payloads")
    op.drop_index("ix_inbox_entries_order_key", table_name="inbox_entries")
    with op.batch_alter_table("inbox_entries") as batch:
        batch.add_column(sa.Column("payload", sa.Text(), nullable=False, server_default=""))
    op.execute(
        "UPDATE inbox_entries SET payload = coalesce((SELECT payload FROM inbox_payloads_moving"
        " WHERE inbox_payloads_moving.entry_id = inbox_entries.id), '')"
    )
    op.drop_table("inbox_payloads_moving")
    op.create_index("ix_inbox_entries_order_key", "inbox_entries", ["order_key", "id"], unique=False)

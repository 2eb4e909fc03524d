"""mastodon: client apps, codes, tokens, idempotency keys, markers, favourites, hashtags, notifications;
boosts and visibility on objects

Revision ID: 0005_mastodon
Revises: 0003_spaces
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_mastodon"
down_revision = "0003_spaces"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
WHEN = sa.DateTime(timezone=True)


def _id() -> sa.Column:
    return sa.Column("id", ID, autoincrement=True, nullable=False)


def _fk(name: str, table: str, target: str, nullable: bool = False) -> list:
    return [
        sa.Column(name, ID, nullable=nullable),
        sa.ForeignKeyConstraint(
            [name], [f"{target}.id"], name=op.f(f"fk_{table}_{name}_{target}"), ondelete="CASCADE"
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "oauth_apps",
        _id(),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("client_secret_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("website", sa.String(2048), nullable=True),
        sa.Column("redirect_uris", sa.Text(), nullable=False),
        sa.Column("scopes", sa.String(1024), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_apps")),
        sa.UniqueConstraint("client_id", name=op.f("uq_oauth_apps_client_id")),
    )
    op.create_table(
        "oauth_codes",
        _id(),
        sa.Column("code_hash", sa.String(64), nullable=False),
        *_fk("app_id", "oauth_codes", "oauth_apps"),
        *_fk("account_id", "oauth_codes", "actors"),
        *_fk("member_id", "oauth_codes", "actors"),
        sa.Column("redirect_uri", sa.String(2048), nullable=False),
        sa.Column("scopes", sa.String(1024), nullable=False),
        sa.Column("code_challenge", sa.String(255), nullable=True),
        sa.Column("code_challenge_method", sa.String(16), nullable=True),
        sa.Column("expires_at", WHEN, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_oauth_codes_code_hash")),
    )
    op.create_table(
        "oauth_tokens",
        _id(),
        sa.Column("token_hash", sa.String(64), nullable=False),
        *_fk("app_id", "oauth_tokens", "oauth_apps"),
        *_fk("account_id", "oauth_tokens", "actors", nullable=True),
        *_fk("member_id", "oauth_tokens", "actors", nullable=True),
        sa.Column("scopes", sa.String(1024), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("revoked_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_oauth_tokens_token_hash")),
    )
    op.create_index(op.f("ix_oauth_tokens_app_id"), "oauth_tokens", ["app_id"])
    op.create_table(
        "idempotency_keys",
        _id(),
        *_fk("account_id", "idempotency_keys", "actors"),
        sa.Column("key", sa.String(255), nullable=False),
        *_fk("object_id", "idempotency_keys", "objects"),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_keys")),
    )
    op.create_index("ix_idempotency_account_key", "idempotency_keys", ["account_id", "key"], unique=True)
    op.create_table(
        "markers",
        _id(),
        *_fk("account_id", "markers", "actors"),
        sa.Column("timeline", sa.String(32), nullable=False),
        sa.Column("last_read_id", sa.String(32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_markers")),
    )
    op.create_index("ix_markers_account_timeline", "markers", ["account_id", "timeline"], unique=True)
    op.create_table(
        "favourites",
        _id(),
        *_fk("actor_id", "favourites", "actors"),
        *_fk("object_id", "favourites", "objects"),
        sa.Column("activity_uri", sa.String(2048), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_favourites")),
    )
    op.create_index("ix_favourites_actor_object", "favourites", ["actor_id", "object_id"], unique=True)
    op.create_index("ix_favourites_object", "favourites", ["object_id"])
    op.create_index(op.f("ix_favourites_activity_uri"), "favourites", ["activity_uri"])
    op.create_table(
        "hashtags",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        *_fk("object_id", "hashtags", "objects"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hashtags")),
    )
    op.create_index("ix_hashtags_name_object", "hashtags", ["name", "object_id"], unique=True)
    op.create_table(
        "notifications",
        _id(),
        *_fk("owner_id", "notifications", "actors"),
        sa.Column("type", sa.String(32), nullable=False),
        *_fk("from_actor_id", "notifications", "actors"),
        *_fk("object_id", "notifications", "objects", nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("ix_notifications_owner_id", "notifications", ["owner_id", "id"])
    with op.batch_alter_table("objects") as batch_op:
        batch_op.add_column(sa.Column("reblog_of_id", ID, nullable=True))
        batch_op.add_column(sa.Column("visibility", sa.String(16), nullable=True))
        batch_op.create_foreign_key(
            op.f("fk_objects_reblog_of_id_objects"), "objects", ["reblog_of_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index("ix_objects_reblog_of_id", ["reblog_of_id"])
        batch_op.create_index("ix_objects_author_id", ["attributed_to_id", "deleted_at", "id"])


def downgrade() -> None:
    with op.batch_alter_table("objects") as batch_op:
        batch_op.drop_index("ix_objects_author_id")
        batch_op.drop_index("ix_objects_reblog_of_id")
        batch_op.drop_constraint(op.f("fk_objects_reblog_of_id_objects"), type_="foreignkey")
        batch_op.drop_column("visibility")
        batch_op.drop_column("reblog_of_id")
    for table in (
        "notifications",
        "hashtags",
        "favourites",
        "markers",
        "idempotency_keys",
        "oauth_tokens",
        "oauth_codes",
        "oauth_apps",
    ):
        op.drop_table(table)

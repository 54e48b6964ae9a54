"""Customer profiles kept by enrichment, hashed identities and the links between customer ids.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_WHEN = sa.DateTime(timezone=True)
_ID = sa.String(128)


def _customer(column: str, table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint([column], ["customers.customer_id"], name=f"fk_{table}_{column}_customers")


def upgrade() -> None:
    op.create_table(
        "customer_profiles",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("profile", _JSON, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("source_mark", _WHEN, nullable=False),
        sa.Column("valid_until", _WHEN, nullable=True),
        sa.Column("computed_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customer_profiles"),
        _customer("customer_id", "customer_profiles"),
    )
    op.create_index("ix_customer_profiles_valid_until", "customer_profiles", ["valid_until"])
    op.create_table(
        "customer_identities",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ticket_id", _ID, nullable=True),
        sa.Column("first_seen", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "digest", name="pk_customer_identities"),
        _customer("customer_id", "customer_identities"),
    )
    op.create_index("ix_customer_identities_digest", "customer_identities", ["digest"])
    op.create_table(
        "customer_links",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("other_id", _ID, nullable=False),
        sa.Column("via", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", "other_id", name="pk_customer_links"),
        _customer("customer_id", "customer_links"),
        _customer("other_id", "customer_links"),
    )
    op.create_index("ix_customer_links_other_id", "customer_links", ["other_id"])


def downgrade() -> None:
    op.drop_table("customer_links")
    op.drop_table("customer_identities")
    op.drop_table("customer_profiles")

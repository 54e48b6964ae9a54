"""Initial CRM schema: customers, tickets, triage, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

The schema is written out here rather than imported from the models, so that this revision
stays what it was when later revisions change the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
_WHEN = sa.DateTime(timezone=True)
_ID = sa.String(128)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("display_name", sa.String(255), nullable=True),
        sa.Column("first_seen", _WHEN, nullable=False),
        sa.Column("last_seen", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("customer_id", name="pk_customers"),
    )
    op.create_table(
        "tickets",
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("received_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", name="pk_tickets"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.customer_id"], name="fk_tickets_customer_id_customers"
        ),
    )
    op.create_index(
        "ix_tickets_customer_id_created_at", "tickets", ["customer_id", "created_at"]
    )
    op.create_table(
        "triage",
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("intent_label", sa.String(128), nullable=True),
        sa.Column("intent_confidence", sa.Float(), nullable=True),
        sa.Column("out_of_scope", sa.Boolean(), nullable=False),
        sa.Column("priority", sa.String(16), nullable=True),
        sa.Column("sentiment", sa.String(16), nullable=True),
        sa.Column("reply_action", sa.String(16), nullable=True),
        sa.Column("model_version", sa.String(128), nullable=False),
        sa.Column("result", _JSON, nullable=False),
        sa.Column("updated_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("ticket_id", name="pk_triage"),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.ticket_id"], name="fk_triage_ticket_id_tickets"
        ),
    )
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("customer_id", _ID, nullable=False),
        sa.Column("ticket_id", _ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("data", _JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("ticket_id", "kind", name="uq_events_ticket_id_kind"),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.customer_id"], name="fk_events_customer_id_customers"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.ticket_id"], name="fk_events_ticket_id_tickets"
        ),
    )
    op.create_index("ix_events_customer_id_at", "events", ["customer_id", "at"])


def downgrade() -> None:
    op.drop_index("ix_events_customer_id_at", table_name="events")
    op.drop_table("events")
    op.drop_table("triage")
    op.drop_index("ix_tickets_customer_id_created_at", table_name="tickets")
    op.drop_table("tickets")
    op.drop_table("customers")

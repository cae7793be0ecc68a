"""networks: référents per offer, grappes and their members, national programme applications, structure links

The reference rows (link types, the collectivité and représentants des usagers categories) are loaded by
``crm load-reference`` from reference.json, as every reference list.

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "referents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("started_on", sa.Date(), nullable=False),
        sa.Column("ended_on", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["structure_id"], ["structures.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_referents_contact_id", "referents", ["contact_id"])
    op.create_index("ix_referents_structure_id", "referents", ["structure_id"])
    op.create_index("ix_referents_offer_id", "referents", ["offer_id"])
    op.create_table(
        "grappes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("lead_structure_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_on", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["lead_structure_id"], ["structures.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_grappes_lead_structure_id", "grappes", ["lead_structure_id"])
    op.create_table(
        "grappe_members",
        sa.Column("grappe_id", sa.Integer(), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["grappe_id"], ["grappes.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["structure_id"], ["structures.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("grappe_id", "structure_id"),
    )
    op.create_index("ix_grappe_members_structure_id", "grappe_members", ["structure_id"])
    op.create_table(
        "programme_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("programme", sa.String(length=30), nullable=False),
        sa.Column("call", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount_requested", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("amount_granted", sa.Numeric(precision=12, scale=2), nullable=True),
        sa.Column("structure_id", sa.Integer(), nullable=True),
        sa.Column("grappe_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["structure_id"], ["structures.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["grappe_id"], ["grappes.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_programme_applications_structure_id", "programme_applications", ["structure_id"])
    op.create_index("ix_programme_applications_grappe_id", "programme_applications", ["grappe_id"])
    op.create_table(
        "structure_link_types",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "structure_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("structure_a_id", sa.Integer(), nullable=False),
        sa.Column("structure_b_id", sa.Integer(), nullable=False),
        sa.Column("type_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["structure_a_id"], ["structures.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["structure_b_id"], ["structures.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["type_id"], ["structure_link_types.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("structure_a_id", "structure_b_id", "type_id", name="uq_structure_links"),
    )
    op.create_index("ix_structure_links_structure_a_id", "structure_links", ["structure_a_id"])
    op.create_index("ix_structure_links_structure_b_id", "structure_links", ["structure_b_id"])


def downgrade():
    op.drop_table("structure_links")
    op.drop_table("structure_link_types")
    op.drop_table("programme_applications")
    op.drop_table("grappe_members")
    op.drop_table("grappes")
    op.drop_table("referents")

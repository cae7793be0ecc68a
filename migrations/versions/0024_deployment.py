"""deployment: status of each offer in each structure, eligibility rules and overrides, usage figures

Revision ID: 0024
Revises: 0023
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "deployment_statuses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=80), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "structure_deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_on", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["structure_id"], ["structures.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("structure_id", "offer_id", name="uq_structure_deployments_structure_offer"),
    )
    op.create_index("ix_structure_deployments_offer_status", "structure_deployments", ["offer_id", "status"])
    op.create_table(
        "offer_deployment_settings",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("eligible_sectors", sa.String(length=400), nullable=False),
        sa.Column("eligible_categories", sa.String(length=400), nullable=False),
        sa.Column("metric_name", sa.String(length=120), nullable=False),
        sa.Column("metric_unit", sa.String(length=40), nullable=False),
        sa.Column("column_mapping", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("offer_id"),
    )
    op.create_table(
        "eligibility_overrides",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("included", sa.Boolean(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["structure_id"], ["structures.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["author_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("structure_id", "offer_id", name="uq_eligibility_overrides_structure_offer"),
    )
    op.create_table(
        "usage_figures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("structure_id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("value", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=120), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["structure_id"], ["structures.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("structure_id", "offer_id", "month", name="uq_usage_figures_structure_offer_month"),
    )
    op.create_index("ix_usage_figures_offer_month", "usage_figures", ["offer_id", "month"])
    op.create_table(
        "usage_import_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("stored_path", sa.String(length=500), nullable=True),
        sa.Column("mapping", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("preview", sa.JSON(), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.Column("error", sa.String(length=1000), nullable=True),
        sa.Column("job_id", sa.String(length=64), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["offer_id"], ["offers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "ind_deployment_cells",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("department_code", sa.String(length=3), nullable=False),
        sa.Column("eligible", sa.Integer(), nullable=False),
        sa.Column("deployed", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("offer_id", "department_code"),
    )
    # The read model gains a table: mark it unbuilt, the worker rebuilds it before its next batch.
    op.execute("DELETE FROM indicator_state WHERE key = 'built_at'")


def downgrade():
    op.drop_table("ind_deployment_cells")
    op.drop_table("usage_import_runs")
    op.drop_index("ix_usage_figures_offer_month", table_name="usage_figures")
    op.drop_table("usage_figures")
    op.drop_table("eligibility_overrides")
    op.drop_table("offer_deployment_settings")
    op.drop_index("ix_structure_deployments_offer_status", table_name="structure_deployments")
    op.drop_table("structure_deployments")
    op.drop_table("deployment_statuses")

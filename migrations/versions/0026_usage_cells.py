"""usage cells: the active usage rate in the indicators' read model (ind_usage_cells)

The table starts empty and the read model is marked unbuilt: the worker rebuilds it whole before its next
batch (as for 0024's deployment cells), which fills the cells with the same query the upkeep uses. Deriving
them here instead would copy each offer's eligibility rule (sectors, categories, the programme's target
sectors, the overrides) into SQL beside the one in ``crm.deployment.services.population``.

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "ind_usage_cells",
        sa.Column("offer_id", sa.Integer(), nullable=False),
        sa.Column("department_code", sa.String(length=3), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("active", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("offer_id", "department_code", "month"),
    )
    # The read model gains a table: mark it unbuilt, the worker rebuilds it before its next batch.
    op.execute("DELETE FROM indicator_state WHERE key = 'built_at'")


def downgrade():
    op.drop_table("ind_usage_cells")

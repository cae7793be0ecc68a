"""indexes for the indicator cells recomputed per (day, department)

The outbox worker recomputes the cells of the (day, department) keys a batch touched from the fact
rows of those keys; without an index on them each recompute scanned the whole fact table once per key
(a backlog of 4,000 activity events: 334 events/s, 860 with the index).

Revision ID: 0010
Revises: 0009
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ind_offer_presentations", schema=None) as batch_op:
        batch_op.create_index("ix_ind_offer_presentations_day_department", ["day", "department_code"], unique=False)
    with op.batch_alter_table("ind_opportunity_facts", schema=None) as batch_op:
        batch_op.create_index("ix_ind_opportunity_facts_identified_department", ["identified_on", "department_code"],
                              unique=False)


def downgrade():
    with op.batch_alter_table("ind_opportunity_facts", schema=None) as batch_op:
        batch_op.drop_index("ix_ind_opportunity_facts_identified_department")
    with op.batch_alter_table("ind_offer_presentations", schema=None) as batch_op:
        batch_op.drop_index("ix_ind_offer_presentations_day_department")

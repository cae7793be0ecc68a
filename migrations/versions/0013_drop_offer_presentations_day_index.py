"""indicators: drop the (day, department) index of the offer presentations

The offer cells now move by the presentations a batch replaces (read by activity, the primary key);
nothing reads the presentations by (day, department) any more, and the index cost every batch's
writes and a second of each rebuild.

Revision ID: 0013
Revises: 0012
"""
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ind_offer_presentations", schema=None) as batch_op:
        batch_op.drop_index("ix_ind_offer_presentations_day_department")


def downgrade():
    with op.batch_alter_table("ind_offer_presentations", schema=None) as batch_op:
        batch_op.create_index("ix_ind_offer_presentations_day_department", ["day", "department_code"], unique=False)

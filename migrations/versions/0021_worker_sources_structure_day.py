"""indicators: the participation sources indexed by (structure, day), not by structure alone

The worker re-derives the days whose sources changed: it reads a structure's sources of those days
only. By structure alone, PostgreSQL read every source of each structure of the batch (at national
scale a hundred for an active structure, each on its own heap page) to keep a few.

Revision ID: 0021
Revises: 0020
"""

from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("ind_participation_sources", schema=None) as batch_op:
        batch_op.create_index("ix_ind_participation_sources_structure_day", ["structure_id", "day"], unique=False)
        batch_op.drop_index("ix_ind_participation_sources_structure")


def downgrade():
    with op.batch_alter_table("ind_participation_sources", schema=None) as batch_op:
        batch_op.create_index("ix_ind_participation_sources_structure", ["structure_id"], unique=False)
        batch_op.drop_index("ix_ind_participation_sources_structure_day")

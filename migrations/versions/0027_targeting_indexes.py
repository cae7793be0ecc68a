"""targeting indexes: the visits alone, and a structure's activity ids in its index

A partial index of the activities of kind "visite" (id, occurred_on): the targeting list sorted by last visit
aggregates every structure's latest visit; the index holds a third of the activities and only the two
columns the aggregate reads, instead of the whole table. The index of activity_structures on structure_id
gains activity_id: a structure's activities are read from the index alone (a page's last visits: 500
structures, 26,000 links at national scale, without a heap fetch each).

Revision ID: 0027
Revises: 0026
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

VISITS = "kind = 'visite'"


def upgrade():
    op.create_index(
        "ix_activities_visits",
        "activities",
        ["id", "occurred_on"],
        postgresql_where=sa.text(VISITS),
        sqlite_where=sa.text(VISITS),
    )
    with op.batch_alter_table("activity_structures") as batch_op:
        batch_op.create_index("ix_activity_structures_structure_activity", ["structure_id", "activity_id"])
        batch_op.drop_index("ix_activity_structures_structure_id")


def downgrade():
    with op.batch_alter_table("activity_structures") as batch_op:
        batch_op.create_index("ix_activity_structures_structure_id", ["structure_id"])
        batch_op.drop_index("ix_activity_structures_structure_activity")
    op.drop_index("ix_activities_visits", table_name="activities")

"""activity visits index: the visits alone, for the targeting list's last visit per structure

A partial index of the activities of kind "visite" (id, occurred_on): the targeting list sorted by last visit
aggregates every structure's latest visit; the index holds a third of the activities and only the two
columns the aggregate reads, instead of the whole table.

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


def downgrade():
    op.drop_index("ix_activities_visits", table_name="activities")

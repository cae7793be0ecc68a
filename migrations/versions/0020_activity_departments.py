"""lists at national scale: the departments each activity concerns, and the lists' cursor indexes

At national scale the list filtered by department read every activity-structure link of the country
(2.77 million) joined to the structures; this table is read as one index range in date order. Filled
from the links of the activities already there. The activities' date index gains the id, the list's
tie-breaker and cursor.

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "activity_departments",
        sa.Column("activity_id", sa.Integer(), nullable=False),
        sa.Column("department_code", sa.String(length=3), nullable=False),
        sa.Column("programme_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["activity_id"], ["activities.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("activity_id", "department_code", "programme_id"),
    )
    # Programme 0: the activity in its department, whatever it discussed; then one row per programme
    # discussed directly or through an offer (crm/activities/departments.py).
    op.execute(
        "INSERT INTO activity_departments (activity_id, department_code, programme_id, kind, occurred_on) "
        "SELECT a.id, d.department_code, p.programme_id, a.kind, a.occurred_on FROM activities a "
        "JOIN (SELECT DISTINCT l.activity_id, s.department_code FROM activity_structures l "
        "      JOIN structures s ON s.id = l.structure_id WHERE s.department_code IS NOT NULL) d "
        "  ON d.activity_id = a.id "
        "JOIN (SELECT activity_id, programme_id FROM activity_programmes "
        "      UNION SELECT ao.activity_id, o.programme_id FROM activity_offers ao JOIN offers o ON o.id = ao.offer_id "
        "      UNION SELECT id, 0 FROM activities) p "
        "  ON p.activity_id = a.id"
    )
    with op.batch_alter_table("activity_departments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_activity_departments_listing",
            ["department_code", "programme_id", "occurred_on", "activity_id", "kind"],
            unique=False,
        )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index("ix_activities_occurred_on_id", ["occurred_on", "id"], unique=False)
        batch_op.drop_index("ix_activities_occurred_on")
    # The opportunities' and projects' lists page by cursor on their order too.
    with op.batch_alter_table("opportunities", schema=None) as batch_op:
        batch_op.create_index("ix_opportunities_moved", ["stage_changed_at", "id"], unique=False)
        batch_op.create_index("ix_opportunities_stage_moved", ["stage", "stage_changed_at", "id"], unique=False)
        batch_op.create_index(
            "ix_opportunities_department_programme",
            ["department_code", "programme_id", "stage", "stage_changed_at", "id"],
            unique=False,
        )
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.create_index("ix_projects_started", ["started_on", "id"], unique=False)


def downgrade():
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_index("ix_projects_started")
    with op.batch_alter_table("opportunities", schema=None) as batch_op:
        batch_op.drop_index("ix_opportunities_department_programme")
        batch_op.drop_index("ix_opportunities_stage_moved")
        batch_op.drop_index("ix_opportunities_moved")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index("ix_activities_occurred_on", ["occurred_on"], unique=False)
        batch_op.drop_index("ix_activities_occurred_on_id")
    with op.batch_alter_table("activity_departments", schema=None) as batch_op:
        batch_op.drop_index("ix_activity_departments_listing")
    op.drop_table("activity_departments")

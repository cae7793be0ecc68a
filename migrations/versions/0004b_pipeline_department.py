"""opportunities and projects carry their structure's department

Revision ID: 0004b
Revises: 0004
Create Date: 2026-11-23 13:30:00

The pipeline board filtered a department through a sub-select over its structures (40 ms per
column at national scale); the department is now a column, filled from the structures.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004b'
down_revision = '0004'
branch_labels = None
depends_on = None

TABLES = ('opportunities', 'projects')


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('department_code', sa.String(length=3), nullable=True))
        op.execute(f"UPDATE {table} SET department_code = "
                   f"(SELECT structures.department_code FROM structures WHERE structures.id = {table}.structure_id)")
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.alter_column('department_code', existing_type=sa.String(length=3), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_opportunities_department_code_departments'), 'departments',
                                    ['department_code'], ['code'])
        batch_op.create_index('ix_opportunities_department_stage',
                              ['department_code', 'stage', 'stage_changed_at', 'id'], unique=False)
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.alter_column('department_code', existing_type=sa.String(length=3), nullable=False)
        batch_op.create_foreign_key(batch_op.f('fk_projects_department_code_departments'), 'departments',
                                    ['department_code'], ['code'])
        batch_op.create_index('ix_projects_department_started', ['department_code', 'started_on', 'id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('projects', schema=None) as batch_op:
        batch_op.drop_index('ix_projects_department_started')
        batch_op.drop_constraint(batch_op.f('fk_projects_department_code_departments'), type_='foreignkey')
        batch_op.drop_column('department_code')
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.drop_index('ix_opportunities_department_stage')
        batch_op.drop_constraint(batch_op.f('fk_opportunities_department_code_departments'), type_='foreignkey')
        batch_op.drop_column('department_code')

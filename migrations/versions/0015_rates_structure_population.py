"""indicators: populations from the structures' open dates

Every rate counts its numerator within its denominator's population: the structures open at some time in
the period (participation), or at its end (engagement). The open counts per department
(``ind_structure_counts``) give way to one fact per structure with its opening and closing dates
(``ind_structure_facts``), and the participation and project facts carry their structure's dates. The read
model is emptied and marked unbuilt: the worker rebuilds it before its next batch.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

DATED = ('ind_participation_sources', 'ind_participation_days', 'ind_participation_cells', 'ind_project_facts',
         'ind_engagements')


def upgrade():
    for table in DATED:  # rebuilt by the worker: the new columns need no values
        op.execute(f"DELETE FROM {table}")
    for table in ('ind_participation_sources', 'ind_participation_days'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('opened_on', sa.Date(), nullable=True))
            batch_op.add_column(sa.Column('closed_on', sa.Date(), nullable=True))
            batch_op.add_column(sa.Column('structure_open', sa.Boolean(), nullable=False))
    for table in ('ind_project_facts', 'ind_engagements'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('opened_on', sa.Date(), nullable=True))
            batch_op.add_column(sa.Column('closed_on', sa.Date(), nullable=True))
    op.create_table('ind_structure_facts',
    sa.Column('structure_id', sa.Integer(), nullable=False),
    sa.Column('department_code', sa.String(length=3), nullable=False),
    sa.Column('sector', sa.String(length=40), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=True),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('structure_open', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('structure_id', name=op.f('pk_ind_structure_facts'))
    )
    op.create_index('ix_ind_structure_facts_department_sector', 'ind_structure_facts', ['department_code', 'sector'],
                    unique=False, postgresql_include=['opened_on', 'closed_on', 'structure_open'])
    op.drop_table('ind_structure_counts')
    op.execute("DELETE FROM indicator_state WHERE key = 'built_at'")


def downgrade():
    op.create_table('ind_structure_counts',
    sa.Column('department_code', sa.String(length=3), nullable=False),
    sa.Column('sector', sa.String(length=40), nullable=False),
    sa.Column('structures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('department_code', 'sector', name=op.f('pk_ind_structure_counts'))
    )
    op.drop_index('ix_ind_structure_facts_department_sector', table_name='ind_structure_facts')
    op.drop_table('ind_structure_facts')
    for table in DATED:
        op.execute(f"DELETE FROM {table}")
    for table in ('ind_project_facts', 'ind_engagements'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('closed_on')
            batch_op.drop_column('opened_on')
    for table in ('ind_participation_sources', 'ind_participation_days'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('structure_open')
            batch_op.drop_column('closed_on')
            batch_op.drop_column('opened_on')
    op.execute("DELETE FROM indicator_state WHERE key = 'built_at'")

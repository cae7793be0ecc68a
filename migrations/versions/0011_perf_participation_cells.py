"""indicators: participation cells per standard period

Distinct structures per month, quarter and year (the dashboard's periods), so that pages stop counting
them over the participation days. The read model is marked unbuilt: the worker rebuilds it (with the new
cells) before its next batch.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24 10:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ind_participation_cells',
    sa.Column('period_kind', sa.String(length=10), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('department_code', sa.String(length=3), nullable=False),
    sa.Column('sector', sa.String(length=40), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('animator_id', sa.Integer(), nullable=False),
    sa.Column('structures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('period_kind', 'period_start', 'department_code', 'sector', 'programme_id',
                            'animator_id', name=op.f('pk_ind_participation_cells'))
    )
    op.create_index('ix_ind_participation_cells_read', 'ind_participation_cells',
                    ['period_kind', 'programme_id', 'animator_id', 'period_start', 'department_code', 'sector'],
                    unique=False, postgresql_include=['structures'])
    op.create_index('ix_ind_offer_presentation_cells_department_day', 'ind_offer_presentation_cells',
                    ['department_code', 'day'], unique=False,
                    postgresql_include=['programme_id', 'animator_id', 'presentations'])
    op.execute("DELETE FROM indicator_state WHERE key = 'built_at'")


def downgrade():
    op.drop_index('ix_ind_offer_presentation_cells_department_day', table_name='ind_offer_presentation_cells')
    op.drop_table('ind_participation_cells')

"""opportunities name the event they came from

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 16:00:00

An opportunity whose source is "evenement" may say which event: the event's page counts it among what
the event produced, whatever the dates (the other rule, opened within N days by a structure present at
the event, needs no column).
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.add_column(sa.Column('source_event_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_opportunities_source_event_id_events'), 'events',
                                    ['source_event_id'], ['id'], ondelete='SET NULL')
        batch_op.create_index('ix_opportunities_source_event', ['source_event_id'], unique=False)


def downgrade():
    with op.batch_alter_table('opportunities', schema=None) as batch_op:
        batch_op.drop_index('ix_opportunities_source_event')
        batch_op.drop_constraint(batch_op.f('fk_opportunities_source_event_id_events'), type_='foreignkey')
        batch_op.drop_column('source_event_id')

"""workflow rules: a task's event, and the indexes the rules' "done already?" look-ups use

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24 10:12:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.add_column(sa.Column('event_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_tasks_event_id_events'), 'events', ['event_id'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_index('ix_tasks_activity', ['activity_id'], unique=False)
        batch_op.create_index('ix_tasks_opportunity', ['opportunity_id'], unique=False)
        batch_op.create_index('ix_tasks_event_structure', ['event_id', 'structure_id'], unique=False)


def downgrade():
    with op.batch_alter_table('tasks', schema=None) as batch_op:
        batch_op.drop_index('ix_tasks_event_structure')
        batch_op.drop_index('ix_tasks_opportunity')
        batch_op.drop_index('ix_tasks_activity')
        batch_op.drop_constraint(batch_op.f('fk_tasks_event_id_events'), type_='foreignkey')
        batch_op.drop_column('event_id')

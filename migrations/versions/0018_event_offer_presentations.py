"""indicators: offers presented at the events that took place

"Offres présentées hors coordination" counts the offers of the events attended as well as those of the
activities: one fact per event, offer and department of the people present, summed into the same offer
cells. The read model is marked unbuilt: the worker rebuilds it (with the events' offers) before its next
batch.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 20:30:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ind_event_offer_presentations',
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('offer_id', sa.Integer(), nullable=False),
    sa.Column('department_code', sa.String(length=3), nullable=False),
    sa.Column('programme_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('animator_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('event_id', 'offer_id', 'department_code', name=op.f('pk_ind_event_offer_presentations'))
    )
    op.execute("DELETE FROM indicator_state WHERE key = 'built_at'")


def downgrade():
    op.drop_table('ind_event_offer_presentations')

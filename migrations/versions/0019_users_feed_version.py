"""accounts: the calendar feed's version, bumped when an account is deactivated

A reactivated account's old calendar feed URL stays refused (its sessions and API tokens too).

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feed_version", sa.Integer(), server_default="0", nullable=False))


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("feed_version")

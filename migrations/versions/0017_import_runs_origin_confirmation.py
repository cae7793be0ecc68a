"""structures: import runs record their origin (admin page or CLI) and the closures confirmed

An import that would close more than 5 % of its scope's open FINESS structures is refused until
confirmed: the run keeps how many closures the admin confirmed. CLI imports are recorded too.

Revision ID: 0017
Revises: 0016
"""
import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=20), nullable=False, server_default="admin"))
        batch_op.add_column(sa.Column("confirmed_closures", sa.Integer(), nullable=True))


def downgrade():
    with op.batch_alter_table("import_runs", schema=None) as batch_op:
        batch_op.drop_column("confirmed_closures")
        batch_op.drop_column("origin")

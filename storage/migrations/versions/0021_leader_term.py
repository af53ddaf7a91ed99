"""the leader's term: a stale leader's transactions fail once another process leads

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 20:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('leader_term',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('term', sa.Integer(), server_default='0', nullable=False),
                    sa.Column('holder', sa.String(length=64), nullable=True),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_leader_term')))
    op.execute("INSERT INTO leader_term (id, term) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table('leader_term')

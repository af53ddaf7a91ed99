"""handles can be inactive

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:55:17.913598
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('handles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), server_default=sa.true(), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('handles', schema=None) as batch_op:
        batch_op.drop_column('active')


"""matrix sync state

The file is named by its place in the chain; its revision id stays '0007' because deployed databases store it.

Revision ID: 0007
Revises: 0008
Create Date: 2026-12-01 07:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models


revision = '0007'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('matrix_sync_state',
    sa.Column('account', sa.String(length=255), nullable=False),
    sa.Column('next_batch', sa.Text(), nullable=False),
    sa.Column('updated_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('account', name=op.f('pk_matrix_sync_state'))
    )


def downgrade() -> None:
    op.drop_table('matrix_sync_state')

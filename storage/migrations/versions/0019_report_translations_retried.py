"""late translations of volunteers' reports are asked again in the background

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 19:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0019'
down_revision = '0018'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('case_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('translation_status', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('translation_attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('translation_next_at', storage.models.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.create_index(batch_op.f('ix_case_reports_translation_next_at'), ['translation_next_at'],
                              unique=False)


def downgrade() -> None:
    with op.batch_alter_table('case_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_case_reports_translation_next_at'))
        batch_op.drop_column('translation_next_at')
        batch_op.drop_column('translation_attempts')
        batch_op.drop_column('translation_status')

"""privacy: anonymous counts and retention notices

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 07:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('anonymous_counts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('metric', sa.String(length=80), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_anonymous_counts')),
    sa.UniqueConstraint('period', 'metric', name=op.f('uq_anonymous_counts_period_metric'))
    )
    op.create_table('retention_notices',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('warned_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('delete_after', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_retention_notices_person_id_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_retention_notices'))
    )


def downgrade() -> None:
    op.drop_table('retention_notices')
    op.drop_table('anonymous_counts')

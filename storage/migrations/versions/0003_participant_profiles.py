"""participant profiles and potential checks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 07:26:32.091949
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('potential_checks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('suggestions', sa.JSON(), nullable=False),
    sa.Column('completed_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_potential_checks_person_id_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_potential_checks'))
    )
    with op.batch_alter_table('potential_checks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_potential_checks_person_id'), ['person_id'], unique=False)

    op.create_table('profiles',
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('answers', sa.JSON(), nullable=False),
    sa.Column('german_level', sa.String(length=16), nullable=True),
    sa.Column('phone', sa.String(length=32), nullable=True),
    sa.Column('share_with_companies', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('stage', sa.String(length=24), server_default='registered', nullable=False),
    sa.Column('completed_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('updated_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_profiles_person_id_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('person_id', name=op.f('pk_profiles'))
    )


def downgrade() -> None:
    op.drop_table('profiles')
    with op.batch_alter_table('potential_checks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_potential_checks_person_id'))

    op.drop_table('potential_checks')

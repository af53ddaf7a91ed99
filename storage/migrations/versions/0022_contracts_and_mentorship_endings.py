"""signed contracts and mentorships ended by hand

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 23:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('contracts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('organisation', sa.String(length=64), nullable=True),
    sa.Column('place_id', sa.Integer(), nullable=True),
    sa.Column('starts_on', sa.String(length=10), nullable=False),
    sa.Column('recorded_by_id', sa.Integer(), nullable=True),
    sa.Column('recorded_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['participant_id'], ['persons.id'], name=op.f('fk_contracts_participant_id_persons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['place_id'], ['places.id'], name=op.f('fk_contracts_place_id_places'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['recorded_by_id'], ['persons.id'], name=op.f('fk_contracts_recorded_by_id_persons'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contracts'))
    )
    op.create_index(op.f('ix_contracts_participant_id'), 'contracts', ['participant_id'], unique=False)
    op.create_index(op.f('ix_contracts_recorded_at'), 'contracts', ['recorded_at'], unique=False)
    op.create_table('mentorship_endings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mentorship_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('mentor_id', sa.Integer(), nullable=True),
    sa.Column('ended_by_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('ended_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ended_by_id'], ['persons.id'], name=op.f('fk_mentorship_endings_ended_by_id_persons'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['mentor_id'], ['persons.id'], name=op.f('fk_mentorship_endings_mentor_id_persons'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['mentorship_id'], ['mentorships.id'], name=op.f('fk_mentorship_endings_mentorship_id_mentorships'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_id'], ['persons.id'], name=op.f('fk_mentorship_endings_participant_id_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mentorship_endings'))
    )
    op.create_index(op.f('ix_mentorship_endings_ended_at'), 'mentorship_endings', ['ended_at'], unique=False)
    op.create_index(op.f('ix_mentorship_endings_mentorship_id'), 'mentorship_endings', ['mentorship_id'], unique=False)
    op.create_index(op.f('ix_mentorship_endings_participant_id'), 'mentorship_endings', ['participant_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_mentorship_endings_participant_id'), table_name='mentorship_endings')
    op.drop_index(op.f('ix_mentorship_endings_mentorship_id'), table_name='mentorship_endings')
    op.drop_index(op.f('ix_mentorship_endings_ended_at'), table_name='mentorship_endings')
    op.drop_table('mentorship_endings')
    op.drop_index(op.f('ix_contracts_recorded_at'), table_name='contracts')
    op.drop_index(op.f('ix_contracts_participant_id'), table_name='contracts')
    op.drop_table('contracts')

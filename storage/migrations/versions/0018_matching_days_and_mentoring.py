"""match-making days (with invites and wishes) and mentoring for apprentices

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-04 17:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('matching_days',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('starts_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('district', sa.String(length=64), nullable=False),
    sa.Column('companies', sa.JSON(), nullable=False),
    sa.Column('occupations', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['persons.id'], name=op.f('fk_matching_days_created_by_id_persons'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matching_days'))
    )
    op.create_table('matching_invites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('reasons', sa.Text(), nullable=True),
    sa.Column('answered_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_matching_invites_appointment_id_appointments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['day_id'], ['matching_days.id'], name=op.f('fk_matching_invites_day_id_matching_days'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_id'], ['persons.id'], name=op.f('fk_matching_invites_participant_id_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matching_invites')),
    sa.UniqueConstraint('day_id', 'participant_id', name=op.f('uq_matching_invites_day_id'))
    )
    op.create_index(op.f('ix_matching_invites_day_id'), 'matching_invites', ['day_id'], unique=False)
    op.create_index(op.f('ix_matching_invites_participant_id'), 'matching_invites', ['participant_id'], unique=False)
    op.create_table('matching_wishes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('organisation', sa.String(length=64), nullable=False),
    sa.Column('side', sa.String(length=16), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['by_id'], ['persons.id'], name=op.f('fk_matching_wishes_by_id_persons'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['day_id'], ['matching_days.id'], name=op.f('fk_matching_wishes_day_id_matching_days'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_id'], ['persons.id'], name=op.f('fk_matching_wishes_participant_id_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_matching_wishes')),
    sa.UniqueConstraint('day_id', 'participant_id', 'organisation', 'side', name=op.f('uq_matching_wishes_day_id'))
    )
    op.create_index(op.f('ix_matching_wishes_day_id'), 'matching_wishes', ['day_id'], unique=False)
    op.create_index(op.f('ix_matching_wishes_participant_id'), 'matching_wishes', ['participant_id'], unique=False)
    op.create_table('mentorships',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('mentor_id', sa.Integer(), nullable=True),
    sa.Column('school', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('next_due_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('started_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['mentor_id'], ['persons.id'], name=op.f('fk_mentorships_mentor_id_persons'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['participant_id'], ['persons.id'], name=op.f('fk_mentorships_participant_id_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mentorships')),
    sa.UniqueConstraint('participant_id', name=op.f('uq_mentorships_participant_id'))
    )
    op.create_index(op.f('ix_mentorships_mentor_id'), 'mentorships', ['mentor_id'], unique=False)
    op.create_table('mentoring_check_ins',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('mentorship_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('answer', sa.String(length=16), nullable=True),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('warned', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('sent_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('answered_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['mentorship_id'], ['mentorships.id'], name=op.f('fk_mentoring_check_ins_mentorship_id_mentorships'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['participant_id'], ['persons.id'], name=op.f('fk_mentoring_check_ins_participant_id_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mentoring_check_ins'))
    )
    op.create_index('ix_mentoring_check_ins_mentorship_sent', 'mentoring_check_ins', ['mentorship_id', 'sent_at'], unique=False)
    op.create_index(op.f('ix_mentoring_check_ins_participant_id'), 'mentoring_check_ins', ['participant_id'], unique=False)


def downgrade() -> None:
    op.drop_table('mentoring_check_ins')
    op.drop_table('mentorships')
    op.drop_table('matching_wishes')
    op.drop_table('matching_invites')
    op.drop_table('matching_days')

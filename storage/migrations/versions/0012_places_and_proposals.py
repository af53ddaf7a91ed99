"""partner companies: places, proposals and placement follow-ups

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 15:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('places',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organisation', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('occupation', sa.String(length=64), nullable=False),
    sa.Column('site', sa.String(length=200), nullable=False),
    sa.Column('district', sa.String(length=64), nullable=False),
    sa.Column('starts_on', sa.String(length=10), nullable=False),
    sa.Column('duration', sa.String(length=16), nullable=False),
    sa.Column('hours', sa.String(length=16), nullable=False),
    sa.Column('german_level', sa.String(length=8), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('day_contact', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['persons.id'], name=op.f('fk_places_created_by_id_persons'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_places'))
    )
    op.create_index('ix_places_organisation_status', 'places', ['organisation', 'status'], unique=False)
    op.create_table('proposals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('place_id', sa.Integer(), nullable=False),
    sa.Column('participant_id', sa.Integer(), nullable=False),
    sa.Column('proposed_by_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reasons', sa.Text(), nullable=True),
    sa.Column('appointment_id', sa.Integer(), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['appointment_id'], ['appointments.id'], name=op.f('fk_proposals_appointment_id_appointments'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['participant_id'], ['persons.id'], name=op.f('fk_proposals_participant_id_persons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['place_id'], ['places.id'], name=op.f('fk_proposals_place_id_places'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['persons.id'], name=op.f('fk_proposals_proposed_by_id_persons'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proposals')),
    sa.UniqueConstraint('place_id', 'participant_id', name=op.f('uq_proposals_place_id'))
    )
    op.create_index(op.f('ix_proposals_participant_id'), 'proposals', ['participant_id'], unique=False)
    op.create_index(op.f('ix_proposals_place_id'), 'proposals', ['place_id'], unique=False)
    op.create_table('placement_follow_ups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('proposal_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=24), nullable=False),
    sa.Column('due_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('sent_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('answer', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_placement_follow_ups_person_id_persons'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], name=op.f('fk_placement_follow_ups_proposal_id_proposals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_placement_follow_ups'))
    )
    op.create_index(op.f('ix_placement_follow_ups_person_id'), 'placement_follow_ups', ['person_id'], unique=False)
    op.create_index(op.f('ix_placement_follow_ups_proposal_id'), 'placement_follow_ups', ['proposal_id'], unique=False)
    op.create_index('ix_placement_follow_ups_status_due', 'placement_follow_ups', ['status', 'due_at'], unique=False)


def downgrade() -> None:
    op.drop_table('placement_follow_ups')
    op.drop_table('proposals')
    op.drop_index('ix_places_organisation_status', table_name='places')
    op.drop_table('places')

"""machine translations stored with the question or answer they belong to

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 15:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('message_translations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=16), nullable=False),
    sa.Column('engine', sa.String(length=32), nullable=False),
    sa.Column('text', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('translated_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('next_attempt_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['ticket_messages.id'],
                            name=op.f('fk_message_translations_message_id_ticket_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_message_translations')),
    sa.UniqueConstraint('message_id', 'target', name=op.f('uq_message_translations_message_id_target'))
    )
    with op.batch_alter_table('message_translations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_message_translations_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_message_translations_next_attempt_at'), ['next_attempt_at'],
                              unique=False)


def downgrade() -> None:
    op.drop_table('message_translations')

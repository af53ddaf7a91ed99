"""volunteer language mediators: what a volunteer translates, requests to mediators, translated reports

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 17:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('mediation_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=8), nullable=False),
    sa.Column('requested_by_id', sa.Integer(), nullable=True),
    sa.Column('mediator_id', sa.Integer(), nullable=True),
    sa.Column('asked', sa.JSON(), nullable=False),
    sa.Column('due_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['ticket_messages.id'],
                            name=op.f('fk_mediation_requests_message_id_ticket_messages'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['requested_by_id'], ['persons.id'],
                            name=op.f('fk_mediation_requests_requested_by_id_persons'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['mediator_id'], ['persons.id'],
                            name=op.f('fk_mediation_requests_mediator_id_persons'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mediation_requests'))
    )
    with op.batch_alter_table('mediation_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mediation_requests_message_id'), ['message_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mediation_requests_mediator_id'), ['mediator_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_mediation_requests_due_at'), ['due_at'], unique=False)
    with op.batch_alter_table('volunteer_profiles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('mediates', sa.JSON(), server_default='[]', nullable=False))
    with op.batch_alter_table('case_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('translation', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('translation_source', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('translation_target', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('translation_engine', sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('case_reports', schema=None) as batch_op:
        batch_op.drop_column('translation_engine')
        batch_op.drop_column('translation_target')
        batch_op.drop_column('translation_source')
        batch_op.drop_column('translation')
    with op.batch_alter_table('volunteer_profiles', schema=None) as batch_op:
        batch_op.drop_column('mediates')
    op.drop_table('mediation_requests')

"""one person, one record: linked chats, duplicate suggestions, merges that can be undone

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 17:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import storage.models

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('handles', schema=None) as batch_op:
        batch_op.add_column(sa.Column('preferred', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table('link_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['person_id'], ['persons.id'], name=op.f('fk_link_codes_person_id_persons'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_link_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_link_codes_code_hash'))
    )
    with op.batch_alter_table('link_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_link_codes_person_id'), ['person_id'], unique=False)
    op.create_table('duplicate_suggestions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('first_id', sa.Integer(), nullable=False),
    sa.Column('second_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('score', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['decided_by_id'], ['persons.id'],
                            name=op.f('fk_duplicate_suggestions_decided_by_id_persons'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['first_id'], ['persons.id'], name=op.f('fk_duplicate_suggestions_first_id_persons'),
                            ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['second_id'], ['persons.id'],
                            name=op.f('fk_duplicate_suggestions_second_id_persons'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_duplicate_suggestions')),
    sa.UniqueConstraint('first_id', 'second_id', name=op.f('uq_duplicate_suggestions_first_id_second_id'))
    )
    with op.batch_alter_table('duplicate_suggestions', schema=None) as batch_op:
        batch_op.create_index('ix_duplicate_suggestions_status', ['status'], unique=False)
        batch_op.create_index(batch_op.f('ix_duplicate_suggestions_first_id'), ['first_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_duplicate_suggestions_second_id'), ['second_id'], unique=False)
    op.create_table('person_merges',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('survivor_id', sa.Integer(), nullable=False),
    sa.Column('absorbed_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=16), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('merged_at', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('undo_until', storage.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('undone_at', storage.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('snapshot', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['decided_by_id'], ['persons.id'], name=op.f('fk_person_merges_decided_by_id_persons'),
                            ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['survivor_id'], ['persons.id'], name=op.f('fk_person_merges_survivor_id_persons'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_merges'))
    )
    with op.batch_alter_table('person_merges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_merges_survivor_id'), ['survivor_id'], unique=False)


def downgrade() -> None:
    op.drop_table('person_merges')
    op.drop_table('duplicate_suggestions')
    op.drop_table('link_codes')
    with op.batch_alter_table('handles', schema=None) as batch_op:
        batch_op.drop_column('preferred')

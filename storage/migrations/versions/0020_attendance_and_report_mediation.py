"""who came to a match-making day or a placement; volunteers' reports handed to language mediators

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 20:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('matching_invites', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attended', sa.Boolean(), nullable=True))
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attended', sa.Boolean(), nullable=True))
    with op.batch_alter_table('mediation_requests', schema=None) as batch_op:
        batch_op.alter_column('message_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('report_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_mediation_requests_report_id'), ['report_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_mediation_requests_report_id_case_reports'), 'case_reports',
                                    ['report_id'], ['id'], ondelete='CASCADE')


def downgrade() -> None:
    op.execute("DELETE FROM mediation_requests WHERE message_id IS NULL")
    with op.batch_alter_table('mediation_requests', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_mediation_requests_report_id_case_reports'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_mediation_requests_report_id'))
        batch_op.drop_column('report_id')
        batch_op.alter_column('message_id', existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table('proposals', schema=None) as batch_op:
        batch_op.drop_column('attended')
    with op.batch_alter_table('matching_invites', schema=None) as batch_op:
        batch_op.drop_column('attended')

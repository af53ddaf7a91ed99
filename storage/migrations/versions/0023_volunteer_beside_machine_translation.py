"""a volunteer language mediator's translation stands beside a machine translation of the same text

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 23:30:00.000000

A coordinator may ask a mediator to translate a question or a report that an engine already translated: both are
kept. A message may now hold one translation per target and engine ("volunteer" being one); a report keeps the
mediator's translation in its own columns, beside the machine translation (earlier mediators' translations move
there).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('message_translations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_message_translations_message_id_target'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_message_translations_message_id_target_engine'),
                                          ['message_id', 'target', 'engine'])
    with op.batch_alter_table('case_reports', schema=None) as batch_op:
        batch_op.add_column(sa.Column('volunteer_translation', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('volunteer_translation_status', sa.String(length=8), nullable=True))
    op.execute("UPDATE case_reports SET volunteer_translation = translation, "
               "volunteer_translation_status = translation_status, translation = NULL, translation_target = NULL, "
               "translation_engine = NULL, translation_status = NULL, translation_next_at = NULL "
               "WHERE translation_engine = 'volunteer'")


def downgrade() -> None:
    op.execute("UPDATE case_reports SET translation = volunteer_translation, translation_target = 'de', "
               "translation_engine = 'volunteer', translation_status = volunteer_translation_status "
               "WHERE volunteer_translation_status IS NOT NULL AND translation_engine IS NULL")
    with op.batch_alter_table('case_reports', schema=None) as batch_op:
        batch_op.drop_column('volunteer_translation_status')
        batch_op.drop_column('volunteer_translation')
    op.execute("DELETE FROM message_translations WHERE engine = 'volunteer' AND EXISTS (SELECT 1 FROM "
               "message_translations AS machine WHERE machine.message_id = message_translations.message_id "
               "AND machine.target = message_translations.target AND machine.engine != 'volunteer')")
    with op.batch_alter_table('message_translations', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_message_translations_message_id_target_engine'), type_='unique')
        batch_op.create_unique_constraint(batch_op.f('uq_message_translations_message_id_target'),
                                          ['message_id', 'target'])

"""a person's role is one of the five the code knows (CHECK on persons.role)

PostgreSQL gets a CHECK constraint (no table rewrite). SQLite cannot add one without rebuilding `persons`, and
rebuilding drops the table: with foreign keys on (Lotse's PRAGMA, and a migration runs inside a transaction where
the PRAGMA cannot be turned off) that deletes every handle, consent and profile by ON DELETE CASCADE. So SQLite
gets two triggers that refuse the same rows with the same message as a CHECK.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 17:40:00.000000
"""

from __future__ import annotations

from alembic import op

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

ROLES = ('participant', 'volunteer', 'coordinator', 'admin', 'company')
ALLOWED = ", ".join(f"'{role}'" for role in ROLES)
TRIGGERS = {'ck_persons_role_insert': 'INSERT', 'ck_persons_role_update': 'UPDATE OF role'}


def upgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for name, event in TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON persons WHEN NEW.role NOT IN ({ALLOWED}) "
                       f"BEGIN SELECT RAISE(ABORT, 'CHECK constraint failed: ck_persons_role'); END")
    else:
        op.create_check_constraint(op.f('ck_persons_role'), 'persons', f"role IN ({ALLOWED})")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'sqlite':
        for name in TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    else:
        op.drop_constraint(op.f('ck_persons_role'), 'persons', type_='check')

"""Who may do what, as one table over `bot.core.access.may` (the conversations in test_privacy, test_questions and
test_fuzz show the same answers reaching people), and the database refusing a role the code does not know."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy.exc import IntegrityError

from bot.core.access import STAFF, Action, Role, holders, may
from bot.runtime.app import Lotse
from flows.registry import FEATURE_COMMANDS
from storage.models import PERSON_ROLES, Person

P, V, C, A, K = Role.PARTICIPANT, Role.VOLUNTEER, Role.COORDINATOR, Role.ADMIN, Role.COMPANY

MAY = {
    Action.WORK_AS_STAFF: {C, A},
    Action.SEE_ALL: {A},
    Action.BE_RESPONSIBLE: {C},
    Action.ADD_TO_QUESTION: {P},
    Action.GIVE_CONSENT: {P, V},
    Action.SPEAK_IN_GROUP: {C, A},
    Action.WORK_WITH_PLACES: {C, A},
    Action.ACT_FOR_COMPANY: {K},
    Action.ACCOMPANY: {V},
}
"""The access matrix: for each action that depends on the role alone, the roles that may."""


def person(role: Role, person_id: int = 7) -> Person:
    return Person(id=person_id, role=role)


@pytest.mark.parametrize("action", list(MAY))
@pytest.mark.parametrize("role", list(Role))
def test_the_access_matrix(role: Role, action: Action) -> None:
    assert may(person(role), action) == (role in MAY[action])


def test_queries_filter_by_the_same_table() -> None:
    for action, roles in MAY.items():
        assert set(holders(action)) == roles


@dataclass
class Course:
    run_by_id: int | None


@dataclass
class Appointment:
    booked_by_id: int | None


@pytest.mark.parametrize(("role", "runs", "expected"), [
    (A, False, True), (C, True, True), (C, False, False), (V, True, False), (P, True, False), (K, True, False)])
def test_a_course_is_run_by_admins_and_the_coordinator_who_runs_it(role: Role, runs: bool, expected: bool) -> None:
    assert may(person(role), Action.RUN_COURSE, Course(run_by_id=7 if runs else 8)) == expected


@pytest.mark.parametrize(("role", "booked", "expected"), [(A, False, True), (C, True, True), (C, False, False)])
def test_an_appointment_is_managed_by_admins_and_whoever_booked_it(role: Role, booked: bool, expected: bool) -> None:
    assert may(person(role), Action.MANAGE_APPOINTMENT, Appointment(booked_by_id=7 if booked else 8)) == expected


def test_commands_are_used_by_the_roles_they_declare() -> None:
    assert FEATURE_COMMANDS["case"].roles == STAFF
    for role in Role:
        assert may(person(role), Action.USE, FEATURE_COMMANDS["case"]) == (role in (C, A))


def test_the_roles_are_the_strings_the_database_stores() -> None:
    assert tuple(Role) == PERSON_ROLES
    assert Role.ADMIN == "admin" and f"{Role.COORDINATOR}" == "coordinator"
    assert may(Person(role="coordinator"), Action.WORK_AS_STAFF)  # a role read back from the database is a str


async def test_the_database_refuses_a_role_the_code_does_not_know(app: Lotse) -> None:
    with pytest.raises(IntegrityError):
        async with app.sessions() as session, session.begin():
            session.add(Person(role="boss", display_name="Mallory"))
    async with app.sessions() as session, session.begin():
        staff = Person(role=Role.COORDINATOR, display_name="Anna")
        session.add(staff)
    with pytest.raises(IntegrityError):
        async with app.sessions() as session, session.begin():
            stored = await session.get_one(Person, staff.id)
            assert stored.role == "coordinator"
            stored.role = "superuser"

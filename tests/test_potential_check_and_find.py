"""The potential check's rules, /find's ranking and the export's respect for consent."""

from __future__ import annotations

import csv
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from bot.core.i18n import Translator
from bot.core.network import load_network
from bot.jobs.export import export_participants
from bot.runtime.app import Lotse
from flows.find import ANY, Criteria, rank
from flows.potential_check import score, suggest
from storage.models import AuditEntry, Person, PotentialCheck, Profile
from tests.chat import Chat, RecordingTransport, texts
from tests.test_intake import ANSWERS, consent, staff

NETWORK = load_network()
FIELDS = list(NETWORK.occupations)


@pytest.mark.parametrize(("answers", "interests", "expected"), [
    # Hands, outdoors, team, early, strong, machines: the building trades and metal.
    ({"hands": "hands", "place": "outdoors", "people": "team", "early": "yes", "physical": "yes",
      "technology": "machines", "care": "no", "customers": "no"}, [], ["construction", "agriculture", "metal"]),
    # Desk, indoors, computers, customers: IT and office.
    ({"hands": "desk", "place": "indoors", "people": "alone", "early": "no", "physical": "no",
      "technology": "computers", "care": "no", "customers": "yes"}, [], ["it", "office"]),
    # Helping people, a little physical work, team: care first.
    ({"hands": "both", "place": "indoors", "people": "team", "early": "yes", "physical": "a_little",
      "technology": "neither", "care": "yes", "customers": "yes"}, [], ["care", "hospitality", "office"]),
    # Earlier work as a hairdresser and the profile's interest tip the balance.
    ({"hands": "hands", "place": "indoors", "people": "both", "early": "no", "physical": "no",
      "technology": "neither", "care": "no", "customers": "yes", "earlier": ["beauty"]}, ["beauty"],
     ["beauty", "electrical"]),
    # Nothing strong either way: no suggestion rather than a wrong one.
    ({"hands": "both", "place": "both", "people": "both", "early": "no", "physical": "no",
      "technology": "neither", "care": "no", "customers": "no"}, [], []),
])
def test_potential_check_rules(answers: dict[str, object], interests: list[str], expected: list[str]) -> None:
    assert suggest(score(answers, interests, FIELDS)) == expected


def test_a_third_field_needs_half_the_points_of_the_first() -> None:
    assert suggest({"metal": 10, "wood": 6, "it": 4}) == ["metal", "wood"]
    assert suggest({"metal": 8, "wood": 6, "it": 4}) == ["metal", "wood", "it"]
    assert suggest({"metal": 2, "wood": 1}) == []


async def test_the_check_in_the_chat_encourages_and_tells_the_coordinator(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    yonas = chat("yonas")
    await consent(yonas, "English")
    for answer in ANSWERS:
        await yonas.send(answer)
    await yonas.click("Yes, this is right")
    await yonas.click("No")
    before = len(tom.history)
    intro, first = await yonas.send("/check")
    assert "(Kompetenz- und Potenzialcheck)" in intro.text and first.text.startswith("Question 1 of 10")
    for label in ["With my hands", "Outdoors", "In a team", "Yes", "Yes", "Machines and tools", "No", "No"]:
        await yonas.click(label)
    await yonas.click("Metal work (Metall)")
    await yonas.click("Done")
    result = texts(await yonas.send("Welding and building things"))
    assert "You like to work with your hands." in result
    assert "Work that could suit you: Metal work (Metall), Construction (Bau), Farming and gardening" in result
    assert "you have taken it today" in result
    [to_tom] = tom.history[before:]
    assert to_tom.text.startswith("Potential check done: ")
    assert "Suggested fields: Metal work (Metall), Construction (Bau)" in to_tom.text
    assert "• Do you prefer to work with your hands, or at a desk? With my hands" in to_tom.text
    async with app.sessions() as session:
        check = (await session.scalars(select(PotentialCheck))).one()
        profile = (await session.scalars(select(Profile))).one()
    assert check.suggestions == ["metal", "construction", "agriculture"]
    assert profile.stage == "potential_check"


def _candidate(number: int, district: str, german: str, occupations: list[str], availability: list[str],
               stage: str = "profile_complete", suggestions: list[str] | None = None
               ) -> tuple[Person, Profile, PotentialCheck | None]:
    person = Person(id=number, role="participant", display_name=f"P{number}", district=district)
    profile = Profile(person_id=number, german_level=german, stage=stage,
                      completed_at=datetime(2026, 11, 1, tzinfo=UTC),
                      answers={"occupations": occupations, "availability": availability})
    check = None if suggestions is None else PotentialCheck(person_id=number, suggestions=suggestions,
                                                            answers={"earlier": []})
    return person, profile, check


def test_find_ranks_by_fit_and_says_why() -> None:
    t = Translator("en")
    candidates = [
        _candidate(1, "stadt_oldenburg", "a2", ["metal"], ["mon_morning"]),
        _candidate(2, "stadt_oldenburg", "b1", ["metal"], ["mon_morning", "tue_morning", "wed_morning"],
                   suggestions=["metal"]),
        _candidate(3, "stadt_oldenburg", "b2", ["care"], ["mon_morning"]),          # other field
        _candidate(4, "ammerland", "b1", ["metal"], ["mon_morning"]),               # other district
        _candidate(5, "stadt_oldenburg", "a1", ["metal"], ["mon_morning"]),         # German too weak
        _candidate(6, "stadt_oldenburg", "unknown", ["metal"], ["mon_morning"]),    # level unknown
        _candidate(7, "stadt_oldenburg", "a2", [], ["mon_evening"], suggestions=["metal"]),
    ]
    criteria = Criteria(occupation="metal", district="stadt_oldenburg", german="a2", time="morning")
    ranked = rank(t, NETWORK, criteria, candidates)
    assert [m.person.id for m in ranked] == [2, 1, 7]
    assert ranked[0].reasons == ["German B1", "interested in Metal work (Metall)",
                                 "potential check suggests Metal work (Metall)", "free on 3 days at that time"]
    assert ranked[2].reasons == ["German A2", "potential check suggests Metal work (Metall)"]
    everyone = rank(t, NETWORK, Criteria(stage="profile_complete"), candidates)
    assert len(everyone) == 7 and all(m.points == 0 for m in everyone)
    assert rank(t, NETWORK, Criteria(stage="employment"), candidates) == []
    assert rank(t, NETWORK, Criteria(german=ANY, occupation="it"), candidates) == []


async def test_find_in_the_chat_shows_only_covered_districts_and_is_audited(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    amal = chat("amal")
    await consent(amal, "English")
    for answer in ANSWERS:
        await amal.send(answer)
    await amal.click("Yes, this is right")
    await amal.click("Yes")
    petra = await staff(app, transport, "petra")  # IHK: every district
    [question] = await petra.send("/find")
    assert question.locale == "de" and len(petra.buttons()) == 1 + len(app.network.occupations)
    await petra.click("Metall")
    await petra.click("Stadt Oldenburg")
    await petra.click("A2")
    await petra.click("Vormittags")
    [result] = await petra.click("Beliebig")  # no menu after it: "1" opens the first result's case
    assert result.text.splitlines()[0] == Translator("de").plural(
        ("{count} participant fits. The best first:", "{count} participants fit. The best first:"), 1)
    assert "Amal" in result.text and "Metall" in result.text
    assert [choice.label for choice in result.choices] == [label for label in petra.buttons()]
    [case] = await petra.send("1")
    assert case.text.startswith(Translator("de")("Case: {participant}", participant="@").split("@")[0])
    assert "Amal" in case.text
    async with app.sessions() as session:
        audit = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "participants.searched"))).one()
    assert audit.details["criteria"]["occupation"] == "metal" and len(audit.details["shown"]) == 1
    amal_again = chat("amal")
    [refused, _] = await amal_again.send("/find")
    assert refused.text == "This is not available for you."


async def test_find_with_no_finished_profile_says_so_instead_of_asking_for_fewer_wishes(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    """Found by a newcomer: /find with every filter on Any said "try fewer wishes" while two people were still in
    the middle of their questions."""
    for name in ("amal", "yonas"):
        person = chat(name)
        await consent(person, "English")
        for answer in ANSWERS[:2]:  # where they live and their goals (what makes the chamber responsible), no more
            await person.send(answer)
    petra = await staff(app, transport, "petra")
    await petra.send("/find")
    for _ in range(4):
        await petra.click("Beliebig")
    nobody, unfinished, _menu = await petra.click("Beliebig")
    de = Translator("de")
    assert nobody.text == de("No participant you are responsible for has finished the profile questions yet.")
    assert unfinished.text == de.plural((
        "{count} participant has started the questions but not finished them. They appear here once they have.",
        "{count} participants have started the questions but not finished them. They appear here once they "
        "have."), 2)
    await petra.send("/find")
    await petra.click("Metall")
    for _ in range(3):
        await petra.click("Beliebig")
    narrowed, *_ = await petra.click("Beliebig")
    assert narrowed.text == de("Nobody fits these wishes yet. Try again with fewer wishes (choose Any).")


async def _participants(app: Lotse, chat: Callable[..., Chat]) -> None:
    for name, share in (("amal", "Yes"), ("yonas", "No")):
        person = chat(name)
        await consent(person, "English")
        for answer in ANSWERS:
            await person.send(answer)
        await person.click("Yes, this is right")
        await person.click(share)


async def test_export_leaves_out_what_was_not_agreed(
        app: Lotse, chat: Callable[..., Chat], tmp_path: Path) -> None:
    await _participants(app, chat)
    path = tmp_path / "participants.csv"
    assert await export_participants(app.sessions, app.network, path, "csv", locale="en") == 2
    rows = list(csv.DictReader(path.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))
    shared, private = rows
    assert shared["Shown to partner companies"] == "Yes" and shared["Name"] == "Amal"
    assert shared["Phone"] == "+49 1512 3456789"  # as people write it: a spreadsheet shows text, no formula
    assert shared["Work experience"] == "Welder in Aleppo, 3 years"
    assert private["Shown to partner companies"] == "No"
    assert private["Name"] == private["Phone"] == private["Work experience"] == ""
    assert private["German"] == "A2" and private["District"] == "Oldenburg (city)"


async def test_export_as_a_real_spreadsheet_in_german(
        app: Lotse, chat: Callable[..., Chat], tmp_path: Path) -> None:
    await _participants(app, chat)
    path = tmp_path / "participants.xlsx"
    await export_participants(app.sessions, app.network, path, "xlsx", locale="de")
    sheet = load_workbook(path).active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    assert header[0] == Translator("de")("Number") and Translator("de")("Phone") in header
    values = [[cell.value for cell in row] for row in sheet.iter_rows(min_row=2)]
    assert len(values) == 2
    phone_column = header.index(Translator("de")("Phone"))
    assert values[0][phone_column] == "+49 1512 3456789" and values[1][phone_column] in (None, "")
    async with app.sessions() as session:
        audit = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "participants.exported"))).one()
    assert audit.details == {"format": "xlsx", "rows": 2, "file": "participants.xlsx"}

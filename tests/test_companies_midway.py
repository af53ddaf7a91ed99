"""Halfway through a longer Hospitation, Praktikum or EQ the company is asked: is the candidate coming, any problem?"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

from sqlalchemy import select

from bot.core.config import load_settings
from bot.jobs.placements import deliver_due_follow_ups, import_places
from bot.runtime.app import Lotse
from flows.proposals import midway_day
from storage.models import PlacementFollowUp, StageChange
from tests.chat import Chat, FakeClock, RecordingTransport, texts
from tests.test_companies import TI, company_contact, post_place, tigrinya_participant
from tests.test_intake import staff
from tests.test_matching_and_mentoring import METALLBAU, person_id

MIDWAY_NOON = datetime(2027, 1, 18, 11, 0, tzinfo=UTC)
"""The Praktikum runs from Tuesday 12 to Monday 25 January 2027: halfway is Monday 18 January, noon in Berlin."""


async def matched(app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport,
                  share: bool) -> tuple[Chat, Chat, Chat, int]:
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    number = await post_place(kai)
    amal = await tigrinya_participant(chat, "amal", share=share)
    await tom.send(f"/place {number}")
    await tom.click("Propose participants")
    await tom.send("1")
    await amal.click(TI("Yes"))
    await kai.click("Accept")
    return tom, kai, amal, number


def test_halfway_is_a_weekday_between_the_first_and_the_last_day() -> None:
    assert midway_day(date(2027, 1, 12), date(2027, 1, 25)) == date(2027, 1, 18)  # two weeks: a Monday
    assert midway_day(date(2027, 1, 14), date(2027, 1, 20)) == date(2027, 1, 15)  # a week from Thursday: Sunday -> Fri
    assert midway_day(date(2027, 1, 4), date(2027, 4, 4)) == date(2027, 2, 18)  # three months
    assert midway_day(date(2027, 1, 8), date(2027, 1, 11)) == date(2027, 1, 9)  # never the first day itself


async def test_a_problem_halfway_reaches_the_coordinator_at_once_without_the_name_the_company_may_not_see(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock,
        tmp_path: Path) -> None:
    tom, kai, amal, number = await matched(app, chat, transport, share=False)
    amal_id = await person_id(app, "amal")

    # Planned in the database: not before its time; sent by another process after a restart, and only once.
    clock.now = datetime(2027, 1, 18, 10, 0, tzinfo=UTC)
    before_kai = len(kai.history)
    await deliver_due_follow_ups(app.sessions, app.network, clock())
    await app.drain()
    assert not [m for m in kai.history[before_kai:] if "coming?" in m.text]
    clock.now = MIDWAY_NOON
    url = app.engine.url.render_as_string(hide_password=False)
    again_app = await Lotse.open(load_settings(data_dir=tmp_path), database_url=url, clock=clock)
    again_transport = RecordingTransport()
    again_app.add_transport(again_transport)
    try:
        assert await deliver_due_follow_ups(again_app.sessions, again_app.network, clock()) == 1
        await again_app.drain()
        [asked] = again_transport.sent["kai"]
    finally:
        await again_app.close()
    assert await deliver_due_follow_ups(app.sessions, app.network, clock()) == 0
    assert asked.text == (f"Place no. {number} (Internship (Praktikum)): is candidate no. {amal_id} coming? Any "
                          "problem? Please tap a button.")
    assert "Amal" not in asked.text  # no name without the partner-companies consent
    assert [c.label for c in asked.choices] == ["All good", "A problem", "Did not come"]

    # "A problem": the coordinator knows at once; then the company may say what it is.
    before_tom = len(tom.history)
    [what] = await kai.press_raw(asked.choices[1].key)
    assert what.text.startswith("What is the problem? A few words help the coordinator.")
    assert (f"Check-in during place no. {number}: {METALLBAU} reports a problem with Amal (no. {amal_id}). Please "
            "get in touch.") in texts(tom.history[before_tom:])
    for bad, hint in (("", "Your message was empty. Please write your answer."),
                      ("x" * 5000, "That is too long. Please write at most 1,000 characters.")):
        [answer, again] = await kai.send(bad)
        assert answer.text.startswith(hint) and again.text.startswith("What is the problem?")
    [thanks, *_] = await kai.send("Kommt jeden Tag eine Stunde zu spät ‮ (Bus)")
    assert thanks.text == "Thank you. The coordinator knows now and will get in touch."
    assert tom.last.text.startswith(f"{METALLBAU} about Amal (no. {amal_id}) (place no. {number}): Kommt jeden Tag")
    [stale] = await kai.press_raw(asked.choices[0].key)  # answered: the buttons are spent
    assert stale.text == "This button belongs to an earlier question and no longer works."

    # The company says the candidate is there: the Praktikum counts as started, with a dated history entry.
    async with app.sessions() as session:
        change = (await session.scalars(select(StageChange).where(StageChange.participant_id == amal_id)
                                        .order_by(StageChange.id.desc()).limit(1))).one()
        follow_up = (await session.scalars(select(PlacementFollowUp).where(
            PlacementFollowUp.kind == "company_midway"))).one()
    assert (change.to_stage, change.at) == ("internship", MIDWAY_NOON)
    assert follow_up.status == "answered" and follow_up.answer is not None
    assert follow_up.answer["answer"] == "problem" and follow_up.answer["text"].startswith("Kommt jeden Tag")
    places, *_ = await tom.send("/places")
    assert "accepted: 1, started: 1," in places.text
    case, _menu = await tom.send(f"/case {amal_id}")
    assert f"Place no. {number}, halfway, the company said: A problem – Kommt jeden Tag" in case.text
    assert len(amal.history) > 0 and all("coming?" not in m.text for m in amal.history)  # the company's question


async def test_a_no_show_halfway_is_told_to_the_coordinator_and_a_one_day_place_has_no_halfway(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock,
        tmp_path: Path) -> None:
    tom, kai, _amal, number = await matched(app, chat, transport, share=True)
    amal_id = await person_id(app, "amal")
    clock.now = MIDWAY_NOON
    await deliver_due_follow_ups(app.sessions, app.network, clock())
    await app.drain()
    assert kai.last.text.startswith(f"Place no. {number} (Internship (Praktikum)): is Amal (no. {amal_id}) coming?")
    before_tom = len(tom.history)
    [thanks, *_] = await kai.click("Did not come")
    assert thanks.text == "Thank you. The coordinator knows now and will get in touch."
    assert (f"Check-in during place no. {number}: {METALLBAU} says Amal (no. {amal_id}) did not come. Please get in "
            "touch.") in texts(tom.history[before_tom:])
    async with app.sessions() as session:
        assert not (await session.scalars(select(StageChange).where(
            StageChange.participant_id == amal_id, StageChange.to_stage == "internship"))).all()
    places, *_ = await tom.send("/places")
    assert "accepted: 1, started: 0," in places.text  # a no-show is no start
    case, _menu = await tom.send(f"/case {amal_id}")
    assert f"Place no. {number}, halfway, the company said: Did not come" in case.text

    # A Hospitation of one day has its evening-before and first-day messages, and no halfway check-in.
    path = tmp_path / "plaetze.csv"
    path.write_text("Firma;Art;Berufsfeld;Landkreis;Adresse;Ab;Dauer;Zeit;Kontakt\n"
                    "metallbau_westerstede;Hospitation;Metall;Ammerland;Industriestr. 4, Westerstede;01.02.2027;"
                    "1 Tag;vormittags;Frau Janssen 04488 1234\n", encoding="utf-8")
    assert (await import_places(app.sessions, path, clock(), app.network)).imported == 1
    yonas = await tigrinya_participant(chat)
    await tom.send(f"/place {number + 1}")
    await tom.click("Propose participants")
    await tom.send("1")
    await yonas.click(TI("Yes"))
    await kai.click("Accept")
    async with app.sessions() as session:
        kinds = (await session.scalars(select(PlacementFollowUp.kind).order_by(PlacementFollowUp.id))).all()
    assert kinds.count("company_midway") == 1  # the Praktikum's only


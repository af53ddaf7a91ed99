"""The goal's stages follow recorded contracts: /stage cannot set them by hand, and a withdrawn record is explained
to the participant (issue 18, after the second review)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select

from bot.core.i18n import Translator
from bot.runtime.app import Lotse
from bot.services.stages import reason_text
from storage.models import Contract, Profile, StageChange
from tests.chat import Chat, RecordingTransport
from tests.test_companies import company_contact, tigrinya_participant
from tests.test_contracts import record_apprenticeship
from tests.test_intake import staff
from tests.test_matching_and_mentoring import METALLBAU, person_id

TI = Translator("ti")
DE = Translator("de")


async def test_stage_by_hand_asks_for_the_contract_before_ausbildung_or_svb_and_the_button_starts_it(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    petra = await staff(app, transport, "petra")  # reads German
    await company_contact(app, chat, "kai")
    await tigrinya_participant(chat)
    yonas_id = await person_id(app, "yonas")

    for stage in ("Apprenticeship (Ausbildung)", "Employment (SVB)"):
        await tom.send(f"/stage {yonas_id}")
        [answer, *_] = await tom.click(stage)
        assert answer.text == (f"{stage} counts only with a signed contract (Vertrag). Please record the contract "
                               f"first: /contract {yonas_id}")
        assert [c.label for c in answer.choices] == ["Record the contract"]
    await petra.send(f"/stage {yonas_id}")
    [german, *_] = await petra.click(DE("Apprenticeship (Ausbildung)"))
    assert german.text == DE("{stage} counts only with a signed contract (Vertrag). Please record the contract "
                             "first: /contract {number}", stage=DE("Apprenticeship (Ausbildung)"), number=yonas_id)
    assert german.text.startswith(DE("Apprenticeship (Ausbildung)")) and german.text != answer.text  # in German
    async with app.sessions() as session:
        assert (await session.get_one(Profile, yonas_id)).stage == "profile_complete"
        assert (await session.scalars(select(StageChange))).all() == []

    # Other stages are unchanged: a step forward, with an optional note.
    await tom.send(f"/stage {yonas_id}")
    [note] = await tom.click("Potential check done (Potenzialcheck)")
    assert note.text.startswith("A short note for the record? (optional)")
    [done, _menu] = await tom.click("Skip")
    assert done.text == f"Recorded: Yonas (no. {yonas_id}) is now at stage Potential check done (Potenzialcheck)."

    # The button starts recording the contract; with it recorded, the stage follows (and /stage may set it).
    [employer] = await tom.click("Record the contract")
    assert employer.text.startswith("Which employer?")
    await tom.send("/cancel")
    said = await record_apprenticeship(tom, yonas_id)
    assert said[0].endswith("Stage: Apprenticeship (Ausbildung).")
    await tom.send(f"/stage {yonas_id}")
    [why] = await tom.click("Matching")
    assert why.text.startswith("This skips a stage or goes back.")
    await tom.send("Recorded on the wrong person")
    await tom.send(f"/stage {yonas_id}")
    [back_again] = await tom.click("Apprenticeship (Ausbildung)")  # the contract is there: allowed
    assert back_again.text.startswith("This skips a stage or goes back.")
    await tom.send("Corrected again")
    async with app.sessions() as session:
        assert (await session.get_one(Profile, yonas_id)).stage == "apprenticeship"


async def test_the_participant_is_told_in_their_language_when_a_contract_record_is_withdrawn(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport) -> None:
    tom = await staff(app, transport, "tom")
    await company_contact(app, chat, "kai")
    yonas = await tigrinya_participant(chat)
    yonas_id = await person_id(app, "yonas")
    await record_apprenticeship(tom, yonas_id)
    before = len(yonas.history)
    [withdrawn, *_] = await tom.click("Withdraw (recorded by mistake)")
    assert withdrawn.text == (f"Withdrawn: the contract of Yonas (no. {yonas_id}) (Apprenticeship (Ausbildung)). "
                              "Stage: Profile complete.")
    [told] = yonas.history[before:]
    assert told.locale == "ti"
    assert told.text == TI("The record of your contract (Vertrag) with {employer} was removed. It was entered by "
                           "mistake. Questions? Write /menu.", employer=METALLBAU)
    assert METALLBAU in told.text and "/menu" in told.text and not told.text.startswith("The record")
    async with app.sessions() as session:
        assert (await session.scalars(select(Contract))).all() == []
        changes = (await session.scalars(select(StageChange).where(StageChange.participant_id == yonas_id)
                                         .order_by(StageChange.id))).all()
    assert [(c.from_stage, c.to_stage) for c in changes] == [("profile_complete", "apprenticeship"),
                                                            ("apprenticeship", "profile_complete")]
    assert reason_text(Translator("en"), changes[-1].reason) == (
        "contract withdrawn (recorded by mistake): contract signed: Apprenticeship (Ausbildung), first day 1 Aug 2027")
    assert changes[-1].at is not None

"""A question and its answer cross platforms: the participant on Telegram, the coordinator elsewhere, files included."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from nio.crypto import decrypt_attachment
from sqlalchemy import select

from bot.core.i18n import Translator
from bot.runtime.app import Lotse
from bot.transports.telegram import TelegramTransport
from flows.invites import create_invite
from storage.models import Profile
from tests import test_matrix as matrix_tests
from tests import test_telegram as telegram_tests
from tests.chat import Chat
from tests.matrix_people import MatrixPerson, Seen
from tests.synapse_server import SynapseServer
from tests.telegram_standin import JSON, BotApiStandIn
from tests.test_intake import ANSWERS
from tests.test_matrix import LotseOnMatrix, ask, coordinator_over_matrix, participant_over_matrix, unique
from tests.test_matrix import person as matrix_person
from tests.test_questions import coordinator
from tests.test_telegram import arrive, make_transport

# The Telegram and Matrix tests' fixtures, shared.
standin, telegram = telegram_tests.standin, telegram_tests.telegram
synapse, people = matrix_tests.synapse, matrix_tests.people


async def telegram_participant(app: Lotse, standin: BotApiStandIn, user: int, language: str) -> None:
    """Onboarding and intake typed on a phone: every choice answered by its label or number."""
    for text in ["/start", language, "1", *ANSWERS, "1", "2"]:
        await arrive(app, standin, standin.user_sends(user, text))


async def test_a_photo_from_telegram_reaches_the_coordinator_and_a_file_goes_back(
        app: Lotse, chat: Callable[..., Chat], standin: BotApiStandIn, telegram: TelegramTransport) -> None:
    ben = await coordinator(app, chat, "ben")
    amal = 701
    ar = Translator("ar")
    await telegram_participant(app, standin, amal, "العربية")
    await arrive(app, standin, standin.user_sends(amal, "/menu"))
    await arrive(app, standin, standin.user_sends(amal, ar("Ask a question")))
    await arrive(app, standin, standin.user_sends(amal, app.network.topics["apprenticeship"].name["ar"]))
    await arrive(app, standin, standin.user_sends_photo(amal, caption="ما هذه الرسالة؟"))
    assert standin.sent_to(amal)[-2]["text"] == ar(
        "Thank you. Your question has the number {number}. It went to {organisation}. They usually answer within "
        "one working day (Monday to Friday). The answer comes here, in this chat.", number=1,
        organisation="Oldenburgische IHK")
    notice = ben.history[-2]
    assert "ما هذه الرسالة؟" in notice.text and "Arabic" in notice.text
    [(name, data)] = ben.transport.received_files["ben"]
    assert name == "photo.jpg" and len(data) == 180_000 and data.startswith(b"\xff\xd8")  # fetched with getFile
    await ben.click("Take it")
    notice = next(m for m in ben.history if "ما هذه الرسالة؟" in m.text)
    [sent] = await ben.reply(notice, "Bitte füllen Sie das Formular aus.", file=b"%PDF-1.7 Antrag")
    assert sent.text == "Sent to the participant (question no. 1)."
    answer = standin.sent_to(amal)[-1]
    assert answer["document"]["file_name"] == "answer.pdf"
    assert standin.files[answer["document"]["file_id"]][1] == b"%PDF-1.7 Antrag"  # uploaded to Telegram
    assert answer["caption"].endswith("Bitte füllen Sie das Formular aus.")
    assert "Oldenburgische IHK" in answer["caption"]
    await arrive(app, standin, standin.user_sends(amal, "شكرا"))
    assert "شكرا" in ben.history[-1].text


# -------------------------------------------------------------------------------------------------------------
# Telegram and Matrix in one Lotse: a real Synapse on loopback and the Bot API stand-in


async def telegram_says(standin: BotApiStandIn, user: int, text: str, count: int = 1, reply_to: int | None = None,
                        photo: bool = False) -> list[JSON]:
    """One message from a Telegram user; waits for Lotse's `count` answers while Lotse runs its own workers."""
    before = len(standin.sent_to(user))
    if photo:
        standin.user_sends_photo(user, caption=text or None)
    else:
        standin.user_sends(user, text, reply_to=reply_to)
    for _ in range(300):
        if len(standin.sent_to(user)) >= before + count:
            break
        await asyncio.sleep(0.1)
    await matrix_tests.all_quiet()  # a longer answer would be here now
    answers = standin.sent_to(user)[before:]
    assert len(answers) >= count, f"{count} answer(s) to {text!r}, got {answers}"
    return answers


@pytest.fixture
async def both(synapse: SynapseServer, standin: BotApiStandIn, people: list[MatrixPerson],
               tmp_path: Path) -> AsyncIterator[tuple[LotseOnMatrix, str, list[MatrixPerson]]]:
    """Lotse on Matrix and Telegram at once, the IHK's questions also posted to a coordinators' room."""
    ben = await matrix_person(synapse, people, tmp_path, "ben")
    vera = await matrix_person(synapse, people, tmp_path, "vera")
    bot = unique("lotse")
    synapse.register(bot)
    assert ben.client is not None and vera.client is not None
    group = (await ben.client.room_create(name="IHK coordinators", invite=[f"@{bot}:localhost", vera.user_id])
             ).room_id
    await vera.client.join(group)
    network = Path(__file__).parents[1] / "bot" / "example_network.toml"
    rule = 'organisation = "ihk"\ntopics = ["apprenticeship", "internship", "recognition"]\ndistricts = ["all"]\n'
    text = network.read_text().replace(rule, f'{rule}room = "matrix:{group}"\n', 1)
    assert group in text
    (tmp_path / "network.toml").write_text(text)
    lotse = LotseOnMatrix(synapse, tmp_path / "lotse", bot, network_file=tmp_path / "network.toml",
                          group_rooms=[group])
    await lotse.start()
    assert lotse.app is not None
    on_telegram = make_transport(standin)
    lotse.app.add_transport(on_telegram)
    await on_telegram.start(lotse.app.dispatcher.receive)
    try:
        await ben.until(lambda: ben._joined(group, lotse.user_id), what="Lotse to join the coordinators' room")
        yield lotse, group, [ben, vera]
    finally:
        await on_telegram.stop()
        await lotse.stop()


def decrypted(person: MatrixPerson, seen: Seen) -> Awaitable[bytes]:
    async def fetch() -> bytes:
        assert person.client is not None
        secret = seen.content["file"]
        downloaded = await person.client.download(mxc=secret["url"])
        return bytes(decrypt_attachment(downloaded.body, secret["key"]["k"], secret["hashes"]["sha256"],
                                        secret["iv"]))
    return fetch()


@pytest.mark.slow
async def test_a_telegram_question_with_a_photo_reaches_matrix_coordinators_and_their_answer_comes_back(
        both: tuple[LotseOnMatrix, str, list[MatrixPerson]], standin: BotApiStandIn) -> None:
    lotse, group, (ben, vera) = both
    ben_chat, vera_chat = await coordinator_over_matrix(lotse, ben), await coordinator_over_matrix(lotse, vera)
    amal, ar = 901, Translator("ar")
    assert lotse.app is not None
    topic = lotse.app.network.topics["apprenticeship"].name["ar"]
    for text in ["/start", "العربية", "1", *ANSWERS, "1", "2", "/menu", ar("Ask a question"), topic]:
        await telegram_says(standin, amal, text)
    await telegram_says(standin, amal, "ما هذه الرسالة؟", count=2, photo=True)
    assert "Oldenburgische IHK" in standin.sent_to(amal)[-2]["text"]
    for phone, chat in ((ben, ben_chat), (vera, vera_chat)):
        await phone.until(lambda c=phone, r=chat: len([s for s in c.in_room(r)
                                                                   if s.body.startswith("Question no. 1")]) >= 2,
                                what="the notice and the photo")
    notice = next(s for s in ben.in_room(ben_chat) if s.body.startswith("Question no. 1"))
    photo = next(s for s in ben.in_room(ben_chat) if s.content.get("msgtype") == "m.image")
    assert "ما هذه الرسالة؟" in notice.body and "Arabic" in notice.body and photo.encrypted
    letter = await decrypted(ben, photo)
    assert len(letter) == 180_000 and letter.startswith(b"\xff\xd8")  # from Telegram's getFile, into Synapse
    assert any(s.body.startswith("Frage Nr. 1") for s in ben.in_room(group))  # the room's copy, in German
    before = len(standin.sent_to(amal))
    await ben.say(ben_chat, "Bitte bringen Sie den Brief am Montag mit.", reply_to=notice.event_id)
    for _ in range(300):
        if len(standin.sent_to(amal)) > before:
            break
        await asyncio.sleep(0.1)
    answer = standin.sent_to(amal)[-1]
    assert answer["text"].endswith("Bitte bringen Sie den Brief am Montag mit.")
    assert "Oldenburgische IHK" in answer["text"]
    vera_notice = next(s for s in vera.in_room(vera_chat) if s.body.startswith("Question no. 1"))
    await vera.until(lambda: "Taken by" in vera_notice.body, what="vera's copy to show who took it")
    assert ben.user_id.split(":")[0][1:] in vera_notice.body and vera_notice.options() == []
    mark_ben, mark_vera = len(ben.in_room(ben_chat)), len(vera.in_room(vera_chat))
    await telegram_says(standin, amal, "شكرا، سآتي", count=1)
    await ben.until(lambda: any("شكرا، سآتي" in s.body for s in ben.in_room(ben_chat)[mark_ben:]),
                    what="the follow-up")
    assert len(vera.in_room(vera_chat)) == mark_vera  # only the one who took it hears more


@pytest.mark.slow
async def test_a_matrix_question_with_a_photo_reaches_a_telegram_coordinator_and_the_reply_goes_back(
        both: tuple[LotseOnMatrix, str, list[MatrixPerson]], standin: BotApiStandIn, synapse: SynapseServer,
        people: list[MatrixPerson], tmp_path: Path) -> None:
    lotse, _group, _coordinators = both
    assert lotse.app is not None
    async with lotse.app.sessions() as session, session.begin():
        code, _ = await create_invite(session, lotse.app.network, lotse.app.dispatcher.clock(), "coordinator",
                                      "ihk", ["all"], ["all"], locale="de", days=7)
    tom = 902
    [welcome, _menu] = await telegram_says(standin, tom, f"/start {code}", count=2)
    assert "Oldenburgische IHK" in welcome["text"]
    olena = await matrix_person(synapse, people, tmp_path, "olena")
    room = await participant_over_matrix(lotse, olena)
    async with lotse.app.sessions() as session:  # the intake, typed in Element: "2, 3" ticks two goals
        profile = (await session.scalars(select(Profile))).one()
    assert profile.completed_at is not None and profile.phone == "+4915123456789"
    assert profile.answers["goals"] == ["apprenticeship", "internship"] and profile.german_level == "a2"
    await ask(olena, room, "/menu")
    await ask(olena, room, "Ask a question")
    await ask(olena, room, "Apprenticeship (Ausbildung)")
    before = len(olena.in_room(room))
    await olena.send_file(room, b"\x89PNG the letter from the Jobcenter", "Brief.png", "image/png")
    await olena.until(lambda: len(olena.in_room(room)) >= before + 2, what="thanks and the menu")
    for _ in range(300):
        if any("document" in m for m in standin.sent_to(tom)):
            break
        await asyncio.sleep(0.1)
    notice = next(m for m in standin.sent_to(tom) if str(m.get("text", "")).startswith("Frage Nr. 1"))
    [file] = [m for m in standin.sent_to(tom) if "document" in m]
    assert file["document"]["file_name"] == "Brief.png"
    assert standin.files[file["document"]["file_id"]][1] == b"\x89PNG the letter from the Jobcenter"  # decrypted
    before = len(olena.in_room(room))
    await telegram_says(standin, tom, "Bitte kommen Sie am Montag um 10 Uhr.", reply_to=int(notice["message_id"]))
    await olena.until(lambda: len(olena.in_room(room)) > before, what="the answer")
    answer = olena.in_room(room)[-1]
    assert answer.encrypted and answer.body.endswith("Bitte kommen Sie am Montag um 10 Uhr.")
    assert "Oldenburgische IHK" in answer.body

"""The person's privacy rights in the chat: `/mydata` (a copy), `/delete` (erasure), `/privacy` (withdraw consent).

The data work is in `bot.services.privacy`, which walks every table; this module renders it in the person's language and
asks before anything irreversible. Deleting and withdrawing work even while the person has not (yet) agreed to a
new privacy notice: rights never wait for consent.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from bot.core.access import CONSENT_ROLES
from bot.core.i18n import LANGUAGES, N_, Translator
from bot.core.messages import Choice, Outgoing
from bot.core.network import Network
from bot.services.privacy import (
    TABLE_RULES,
    erase,
    gather,
    release_partners,
    tell_staff_of_erasure,
    tell_staff_of_withdrawal,
)
from flows.engine import END, YES, Flow, Goto, InputKind, Next, Step, Turn
from flows.intake import LABELS, summary_lines
from flows.linking import chat_name, open_link
from flows.menu import open_privacy
from flows.onboarding import privacy_notice
from flows.potential_check import field_names
from flows.registry import Command, register, start_flow
from storage.models import AuditEntry, Consent, Person, Ticket

WITHDRAWN_GRACE_DAYS = 30
"""After withdrawing consent, data waits this long for a change of mind, then retention deletes it."""



# ---------------------------------------------------------------------------------------------------------------
# Erasure from the chat, and telling the coordinators who had the case


async def erase_now(turn: Turn) -> None:
    """Erases the person who is writing; the goodbye is the last message, and its row is blanked once sent."""
    number = turn.person.id
    partners = await release_partners(turn.session, number, turn.now, "erased")  # before the rows go
    erasure = await erase(turn.session, turn.person, turn.now, "request", turn.network)
    turn.say(N_("Everything Lotse stored about you is deleted. The coordinators who had your case were told. "
                "Thank you, and all the best! If you write again, Lotse starts from the beginning."))
    mine = (turn.handle.transport, turn.handle.chat_id)
    turn.outgoing[:] = [replace(m, erase_after_delivery=True) if (m.transport, m.chat) == mine else m
                        for m in turn.outgoing]
    turn.outgoing.extend(await tell_staff_of_erasure(turn.session, erasure.staff_to_tell, number, "request"))
    turn.outgoing.extend(partners)
    turn.deleted = True


# ---------------------------------------------------------------------------------------------------------------
# A copy of one's data: readable in the chat, complete as a JSON file


@dataclass(frozen=True, slots=True)
class Section:
    """How one table reads in the copy; tables without a section get one line with their count."""

    table: str
    render: Callable[[Translator, Network, list[dict[str, Any]], dict[str, list[dict[str, Any]]]], list[str]]


ACCESS = {
    "case.viewed": N_("{who} looked at your case on {date}."),
    "case.listed": N_("{who} saw you in a search for offers on {date}."),
    "ticket.viewed": N_("{who} opened your question on {date}."),
    "ticket.routed": N_("{who} received your question on {date}."),
    "ticket.escalated": N_("{who} received your question on {date}, because it was waiting too long."),
    "stage.changed": N_("{who} recorded a new stage of your path on {date}."),
    "pairing.asked": N_("{who} asked you on {date} whether a volunteer may accompany you."),
    "pairing.ended": N_("{who} ended the accompaniment by your volunteer on {date}."),
    "report.added": N_("{who} wrote a report about you on {date}."),
    "appointment.booked": N_("{who} made an appointment (Termin) for you on {date}."),
    "appointment.moved": N_("{who} moved your appointment (Termin) on {date}."),
    "appointment.cancelled": N_("{who} cancelled your appointment (Termin) on {date}."),
    "course.enrolled": N_("{who} enrolled you in a language course (Sprachkurs) on {date}."),
    "person.merged": N_("{who} joined two records about you into one on {date}."),
    "person.unmerged": N_("{who} separated two records about you again on {date}."),
    "mediation.shown": N_("{who} was asked on {date} to translate a message of yours. They saw only the text, not "
                          "your name."),
}
"""Every access by someone else, in plain words; an action not named here reads as `SOME_ACCESS`."""
SOME_ACCESS = N_("{who} worked with your data on {date}.")
COMPANY_SAW = {
    True: N_("{who} learned your name and saw your profile on {date}, for a place you were proposed for."),
    False: N_("{who} saw your profile without your name on {date}, for a place you were proposed for."),
}
"""What a company was shown (`company.candidate.*`), by whether the participant shares their name with companies."""
MEDIATOR = N_("A volunteer language mediator (Sprachmittler)")
"""A mediator is a volunteer, but not "your volunteer": they saw one text, not the case (a play-test finding)."""
OFFER_CONTEXT = N_("About the offer of place no. {number}:")
"""The line put before a question about an offer, in German for the staff; read back in the reader's language."""
RECEIVED = ("ticket.routed", "ticket.escalated")
"""Actions whose "who" are the staff the question went to (in `details`), not the one who acted."""
WHO = {
    "coordinator": N_("{organisation} (coordinator)"),
    "admin": N_("The network's administrator"),
    "volunteer": N_("Your volunteer"),
    "company": N_("{organisation} (company)"),
}
SOMEONE = N_("A staff member")
"""Someone whose own data is gone, or who acted without a role shown here."""


def _when(t: Translator, value: Any) -> str:
    return t.date(datetime.fromisoformat(value)) if isinstance(value, str) else "–"


def _about_you(t: Translator, network: Network, rows: list[dict[str, Any]], _all: dict[str, Any]) -> list[str]:
    person = rows[0]
    district = network.districts.get(person.get("district") or "")
    return [
        t(N_("Name: {name}"), name=person.get("display_name") or "–"),
        t(N_("Language: {language}"), language=LANGUAGES.get(person.get("locale") or "", "–")),
        t(N_("Where you live: {district}"), district=district.name[t.locale] if district else "–"),
        t(N_("With Lotse since {date}."), date=_when(t, person.get("created_at"))),
    ]


def _profile(t: Translator, network: Network, rows: list[dict[str, Any]], _all: dict[str, Any]) -> list[str]:
    return ["", t(N_("Your profile:")), *summary_lines(t, network, rows[0].get("answers") or {})]


def _consents(t: Translator, network: Network, rows: list[dict[str, Any]], _all: dict[str, Any]) -> list[str]:
    lines = ["", t(N_("Your consents:"))]
    for row in rows:
        kind = str(row["kind"])
        if kind == "companies":
            what = t(LABELS["companies"])
        elif kind.startswith("volunteer:"):
            what = t(N_("Accompaniment by a volunteer"))
        else:
            what = t(N_("Privacy notice (Datenschutz)"))
        lines.append(f"{t.isolate(_when(t, row['at']))}: {what}: {t(N_('Yes')) if row['given'] else t(N_('No'))}")
    return lines


def _questions(t: Translator, network: Network, rows: list[dict[str, Any]], every: dict[str, Any]) -> list[str]:
    lines = ["", t(N_("Your questions:"))]
    messages = every.get("ticket_messages", [])
    for ticket in rows:
        thread = [m for m in messages if m["ticket_id"] == ticket["id"] and m["direction"] in ("in", "out")]
        first = next((m for m in thread if m["direction"] == "in"), None)
        text = _in_reader_language(t, (first or {}).get("text") or "…")
        answers = sum(1 for m in thread if m["direction"] == "out")
        lines.append(t(N_("{date}: {text} (answers: {count})"), date=_when(t, ticket["created_at"]),
                       text=text[:200], count=answers))
    return lines


def _in_reader_language(t: Translator, text: str) -> str:
    """A question's text with the German line Lotse put before it for the staff (which offer it is about) in the
    reader's language: everything in the copy reads in their language (a play-test finding)."""
    german = re.escape(Translator("de")(OFFER_CONTEXT, number="\x00")).replace("\x00", r"(\d{1,9})")
    found = re.match(german + "\n", text)
    if found is None:
        return text
    return t(OFFER_CONTEXT, number=int(found[1])) + "\n" + text[found.end():]


def _checks(t: Translator, network: Network, rows: list[dict[str, Any]], _all: dict[str, Any]) -> list[str]:
    return ["", *(t(N_("Kompetenz- und Potenzialcheck on {date}: {fields}"), date=_when(t, row["completed_at"]),
                    fields=field_names(t, network, list(row.get("suggestions") or []))) for row in rows)]


def _who(t: Translator, network: Network, actors: list[dict[str, Any]], action: str = "") -> str:
    """Staff by organisation and role, never by name (their names are staff data); a company by its name."""
    names: list[str] = []
    for actor in actors:
        organisation = network.organisations.get(actor.get("organisation") or "")
        role = actor.get("role") or ""
        if role == "volunteer" and action.startswith("mediation."):
            name = t(MEDIATOR)
        elif role in ("coordinator", "company") and organisation is not None:
            name = t(WHO[role], organisation=organisation.name)
        else:
            name = t(WHO[role]) if role in WHO and role not in ("coordinator", "company") else t(SOMEONE)
        if name not in names:
            names.append(name)
    return ", ".join(names) or t(SOMEONE)


def _audit(t: Translator, network: Network, rows: list[dict[str, Any]], every: dict[str, Any]) -> list[str]:
    """Every access to the person's data by someone else (and where their questions went), oldest first; the same
    access on the same day is one line."""
    me = every["persons"][0]["id"]
    lines: list[str] = []
    for row in sorted(rows, key=lambda r: (str(r["at"]), r["id"])):
        if row.get("subject_id") != me or (row.get("actor_id") == me and row["action"] not in RECEIVED):
            continue
        actors = row.get("recipients") if row["action"] in RECEIVED else [row.get("actor") or {}]
        message = ACCESS.get(row["action"], SOME_ACCESS)
        if row["action"].startswith("company.candidate."):
            message = COMPANY_SAW[bool((row.get("details") or {}).get("name_shared"))]
        line = t(message, who=_who(t, network, actors or [], row["action"]), date=_when(t, row["at"]))
        if line not in lines:
            lines.append(line)
    if not lines:
        return ["", t(N_("No staff member has opened your case yet."))]
    return ["", t(N_("Who worked with your data:")), *lines]


def _appointments(t: Translator, network: Network, rows: list[dict[str, Any]], _all: dict[str, Any]) -> list[str]:
    from bot.services.reminders import APPOINTMENT_KINDS

    lines = ["", t(N_("Your appointments (Termine):"))]
    for row in sorted(rows, key=lambda r: str(r["starts_at"]))[-30:]:
        kind = t(APPOINTMENT_KINDS.get(row["kind"], APPOINTMENT_KINDS["other"]))
        when = t.isolate(t.when(datetime.fromisoformat(row["starts_at"])))  # as in the appointment notices
        lines.append(f"{when}: {kind} – {t.isolate(row['place'])}")
    return lines


def _reports(t: Translator, network: Network, rows: list[dict[str, Any]], _all: dict[str, Any]) -> list[str]:
    lines = ["", t(N_("Reports by volunteers:"))]
    for row in sorted(rows, key=lambda r: str(r["created_at"]))[-30:]:
        lines.append(f"{t.isolate(_when(t, row['created_at']))}: {row.get('text') or row.get('kind') or '–'}")
    return lines


def _chats(t: Translator, network: Network, rows: list[dict[str, Any]], _all: dict[str, Any]) -> list[str]:
    """Every chat of the person (Telegram, Matrix): a linked chat is theirs as much as the first one."""
    return ["", t(N_("Your chats with Lotse: {chats}."), chats=", ".join(
        f"{chat_name(row['transport'])} ({row['platform_id']})" for row in rows))]


def _inbox(t: Translator, network: Network, rows: list[dict[str, Any]], _all: dict[str, Any]) -> list[str]:
    """Copies of what the person sent since they (last) agreed: after "No" to the consent nothing was kept, so the
    count starts anew; said with why they are kept, so it does not contradict "nothing kept" (a play-test finding)."""
    first = min((str(row["received_at"]) for row in rows if row.get("received_at")), default=None)
    return ["", t(N_("Copies of your messages to Lotse since {date}, kept for a few weeks so that none gets lost: "
                     "{count}"), date=_when(t, first), count=len(rows))]


SECTIONS: list[Section] = [
    Section("persons", _about_you),
    Section("handles", _chats),
    Section("profiles", _profile),
    Section("consents", _consents),
    Section("tickets", _questions),
    Section("potential_checks", _checks),
    Section("appointments", _appointments),
    Section("case_reports", _reports),
    Section("audit_log", _audit),
    Section("inbox", _inbox),
]
"""Capabilities add a section for their tables (appointments, reports...) to make them readable."""
QUIET_TABLES = {"conversations", "link_codes", "outbox", "ticket_messages", "staff_scopes", "invites",
                "retention_notices", "reminders", "reminder_choices"}
"""In the file, but not worth a line in the chat (technical, or read as part of another section)."""
COUNTED = {
    "pairings": N_("Volunteers who accompany you, or were asked to: {count}"),
    "enrolments": N_("Language courses (Sprachkurs) you are enrolled in: {count}"),
    "stage_changes": N_("Stages of your path that were recorded: {count}"),
    "attendance": N_("Your answers to reminders (coming or not): {count}"),
    "volunteer_profiles": N_("What you offer as a volunteer: {count}"),
    "broadcast_deliveries": N_("Messages to many people that you received: {count}"),
}
"""Tables shown as a count, each under a name in the person's language (never a table's name)."""
OTHER_ENTRIES = N_("Other stored entries: {count}")


def _ids(value: Any) -> list[int]:
    return [int(item) for item in (value if isinstance(value, list) else []) if isinstance(item, int)]


async def _with_actors(turn: Turn, data: dict[str, list[dict[str, Any]]]) -> None:
    """Adds each audit row's actor (or, for a routed question, its recipients) as role and organisation only."""
    rows = data.get("audit_log", [])
    wanted: set[int] = set()
    for row in rows:
        wanted.update([int(row["actor_id"])] if row.get("actor_id") else [])
        details = row.get("details") or {}
        wanted.update(_ids(details.get("people")) + _ids(details.get("to")))
    found = {person_id: {"role": role, "organisation": organisation} for person_id, role, organisation in (
        await turn.session.execute(select(Person.id, Person.role, Person.organisation)
                                   .where(Person.id.in_(wanted)))).all()} if wanted else {}
    for row in rows:
        details = row.get("details") or {}
        row["actor"] = found.get(int(row.get("actor_id") or 0), {})
        row["recipients"] = [found[i] for i in _ids(details.get("people")) + _ids(details.get("to")) if i in found]


def readable_copy(t: Translator, network: Network, data: dict[str, list[dict[str, Any]]], now: datetime) -> str:
    lines = [t(N_("Here is everything Lotse stores about you, on {date}."), date=t.date(now)), ""]
    shown: set[str] = set()
    for section in SECTIONS:
        rows = data.get(section.table)
        if rows:
            lines.extend(section.render(t, network, rows, data))
        shown.add(section.table)
    others = [name for name in data if name not in shown and name not in QUIET_TABLES]
    if others:
        lines.append("")
    for name in others:
        if name in COUNTED:
            lines.append(t(COUNTED[name], count=len(data[name])))
    unnamed = sum(len(data[name]) for name in others if name not in COUNTED)
    if unnamed:
        lines.append(t(OTHER_ENTRIES, count=unnamed))
    lines += ["", t(N_("The file below has all of it (JSON). Write /delete to have everything deleted."))]
    return "\n".join(lines)


def write_copy_file(data: dict[str, list[dict[str, Any]]], now: datetime) -> str:
    """An owner-only temporary file; the sender removes it once delivered."""
    document = {"created_at": now.isoformat(), "what_each_part_is": {name: TABLE_RULES[name].why for name in data
                                                                       if name in TABLE_RULES},
                "data": data}
    handle, path = tempfile.mkstemp(prefix="lotse-data-", suffix=".json")
    with os.fdopen(handle, "w", encoding="utf-8") as file:
        json.dump(document, file, ensure_ascii=False, indent=2, default=str)
    return path


async def send_copy(turn: Turn, argument: str = "") -> None:
    data = await gather(turn.session, turn.person)
    await _with_actors(turn, data)
    turn.send(readable_copy(turn.t, turn.network, data, turn.now))
    path = write_copy_file(data, turn.now)
    turn.outgoing.append(Outgoing(transport=turn.handle.transport, chat=turn.handle.chat_id,
                                  text=turn.t(N_("Your data as a file (JSON).")), locale=turn.t.locale,
                                  rtl=turn.t.rtl, document_path=path, document_name="lotse-my-data.json",
                                  erase_after_delivery=True))
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=turn.person.id,
                                action="data.copied", details={"tables": sorted(data)}))


# ---------------------------------------------------------------------------------------------------------------
# /delete


def delete_text(turn: Turn) -> str:
    return turn.t(N_("This deletes everything Lotse stores about you: your profile, your questions and the "
                     "answers, your appointments (Termine) and your messages. It cannot be undone. The "
                     "coordinators who had your case are told that it was deleted, not why.\n\n"
                     "Delete everything now?"))


async def _delete_answered(turn: Turn, value: Any) -> Next:
    if value != YES:
        turn.say(N_("Nothing was deleted."))
        return END
    await erase_now(turn)
    return END


DELETE = Flow(
    name="delete",
    roles=CONSENT_ROLES,
    needs_consent=False,
    steps=(Step(name="confirm", prompt=N_("Delete everything now?"), kind=InputKind.YES_NO, text=delete_text,
                on_answer=_delete_answered, describe="what is deleted; yes erases everything, no keeps it"),),
)


# ---------------------------------------------------------------------------------------------------------------
# /privacy: the notice, the date of consent, and the rights


COPY, ERASE, WITHDRAW, LINK, MENU = "copy", "delete", "withdraw", "link", "menu"


def privacy_text(turn: Turn) -> str:
    notice = privacy_notice(turn).rsplit("\n\n", 1)[0]
    since = turn.data.get("since")
    lines = [notice]
    if since:
        lines.append(turn.t(N_("You agreed on {date}."), date=turn.t.date(datetime.fromisoformat(since))))
    lines.append(turn.t(N_("What would you like to do?")))
    return "\n\n".join(lines)


def privacy_options(turn: Turn) -> list[Choice]:
    options = [Choice(COPY, turn.t(N_("A copy of my data"))), Choice(ERASE, turn.t(N_("Delete my data")))]
    if turn.person.privacy_version is not None:
        options.append(Choice(WITHDRAW, turn.t(N_("Withdraw my consent"))))
        options.append(Choice(LINK, turn.t(N_("Link another chat (Telegram, Matrix)"))))
    options.append(Choice(MENU, turn.t(N_("Main menu"))))
    return options


async def _privacy_chosen(turn: Turn, value: Any) -> Next:
    if value == COPY:
        await send_copy(turn)
        return END
    if value == ERASE:
        return Goto("delete")
    if value == WITHDRAW:
        return "withdraw"
    if value == LINK:
        await open_link(turn)
        return END
    return END


def withdraw_text(turn: Turn) -> str:
    return turn.t(N_("If you withdraw your consent, Lotse stops using your data: coordinators no longer find "
                     "your profile, and your open questions are closed. Your data is deleted after {days} days, "
                     "unless you agree again before.\n\nWithdraw your consent?"), days=WITHDRAWN_GRACE_DAYS)


async def withdraw(turn: Turn) -> None:
    person = turn.person
    person.privacy_version = None
    turn.session.add(Consent(person_id=person.id, kind="privacy", version="withdrawn", given=False, at=turn.now))
    turn.session.add(AuditEntry(at=turn.now, actor_id=person.id, subject_id=person.id, action="consent.withdrawn",
                                details={"kind": "privacy"}))
    await turn.session.execute(update(Ticket).where(Ticket.participant_id == person.id,
                                                    Ticket.status.in_(("open", "claimed")))
                               .values(status="closed", closed_at=turn.now))
    turn.outgoing.extend(await release_partners(turn.session, person.id, turn.now, "withdrawn"))
    turn.outgoing.extend(await tell_staff_of_withdrawal(turn.session, turn.network, person.id,
                                                        WITHDRAWN_GRACE_DAYS))


async def _withdraw_answered(turn: Turn, value: Any) -> Next:
    if value != YES:
        turn.say(N_("Nothing changed. Your consent stays as it was."))
        return END
    await withdraw(turn)
    return "delete_now"


async def _delete_now_answered(turn: Turn, value: Any) -> Next:
    if value == YES:
        await erase_now(turn)
        return END
    turn.say(N_("Your consent is withdrawn. Lotse will delete your data in {days} days. If you change your "
                "mind before, you can agree again here."), days=WITHDRAWN_GRACE_DAYS)
    return END  # without consent, the menu is the privacy question again


PRIVACY = Flow(
    name="privacy",
    roles=CONSENT_ROLES,
    needs_consent=False,
    steps=(
        Step(name="choose", prompt=N_("What would you like to do?"), kind=InputKind.CHOICE, options=privacy_options,
             text=privacy_text, on_answer=_privacy_chosen, describe="the notice, the date of consent, the rights",
             branches=(("delete", "delete"), ("withdraw", "withdraw"))),
        Step(name="withdraw", prompt=N_("Withdraw your consent?"), kind=InputKind.YES_NO, text=withdraw_text,
             on_answer=_withdraw_answered, describe="what withdrawing means; yes withdraws",
             branches=(("yes", "delete_now"),)),
        Step(name="delete_now", prompt=N_("Shall Lotse delete all your data now?"), kind=InputKind.YES_NO,
             on_answer=_delete_now_answered, describe="delete now, or after the grace period"),
    ),
)


async def open_delete(turn: Turn, argument: str = "") -> None:
    start_flow(turn, "delete")


register(DELETE, Command("delete", N_("Delete all your data"), action=open_delete, roles=CONSENT_ROLES,
                         needs_consent=False))
register(PRIVACY, Command("privacy", N_("Your data: consent, copy, deletion"), action=open_privacy,
                          roles=CONSENT_ROLES, needs_consent=False),
         Command("mydata", N_("A copy of everything Lotse stores about you"), action=send_copy,
                 roles=CONSENT_ROLES, needs_consent=False))

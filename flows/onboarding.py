"""First contact: choose a language, read a short privacy notice, consent or not.

Declining keeps nothing personal: the person, their handle and conversation are deleted in the same
transaction and their stored inbound texts are blanked; only the goodbye message is still delivered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from bot.i18n import LANGUAGES, N_, NP_, Translator, negotiate
from bot.messages import Choice
from flows.access import PRIVACY_VERSION, current_privacy_version  # noqa: F401  (tests patch the version here)
from flows.engine import END, NO, Flow, Goto, InputKind, Next, Step, Turn
from storage.models import AuditEntry, Consent

LANGUAGE_PROMPT = N_("Please choose your language.")

AFTER_CONSENT: dict[str, Callable[[Turn], Awaitable[Next]]] = {}
"""What follows a first consent, by role (the intake registers itself for participants); the menu otherwise."""


def language_options(turn: Turn) -> list[Choice]:
    """Every language under its own name; the platform's hint, if any, comes first."""
    hinted = negotiate(turn.incoming.language_hint)
    codes = list(LANGUAGES)
    if hinted:
        codes.remove(hinted)
        codes.insert(0, hinted)
    return [Choice(code, LANGUAGES[code]) for code in codes]


def language_prompt(turn: Turn) -> str:
    """Before we know the language, ask in all of them: one short line each, the likely one first."""
    codes = [choice.key for choice in language_options(turn)]
    return "\n".join(Translator(code)(LANGUAGE_PROMPT) for code in codes)


async def _language_chosen(turn: Turn, code: Any) -> Next:
    turn.person.locale = str(code)
    turn.use_locale(str(code))
    return None


async def _language_changed(turn: Turn, code: Any) -> Next:
    await _language_chosen(turn, code)
    turn.say(N_("From now on I will write to you in {language}."), language=LANGUAGES[str(code)])
    return Goto("__resume__")


def machine_translation_sentence(t: Translator) -> str:
    """Only while an engine is configured (which also gives the notice a new version)."""
    from bot.translation import active

    service = active()
    if service is None:
        return ""
    if service.engine.external:
        return t(N_("Translation: if a coordinator does not read your language, your messages and their answers "
                    "are translated by machine by {engine}, an outside service that processes them for the network "
                    "under a contract. The original is always kept beside the translation."),
                 engine=service.label)
    return t(N_("Translation: if a coordinator does not read your language, your messages and their answers are "
                "translated by machine on the network's own server ({engine}). The original is always kept beside "
                "the translation."), engine=service.label)


def privacy_notice(turn: Turn) -> str:
    """The notice in the person's language: what, why, who, how long, and their rights."""
    network = turn.network
    paragraphs = [
        turn.t(N_("Before we start: how Lotse handles your data (privacy notice, Datenschutz).")),
        turn.t(N_("Lotse is run by {controller} for the integration network. It stores what you tell it here: "
                  "your language, your answers and your messages, and when you wrote them."),
               controller=network.controller),
        turn.t(N_("Why: so that the right person in the network can help you with language courses, "
                  "training and work, and can remind you of appointments (Termine).")),
        turn.t(N_("Who sees it: only the coordinators responsible for your questions, and a volunteer "
                  "only if you agree. We never ask for your residence status, nationality or religion. "
                  "Nothing is passed to other authorities.")),
        machine_translation_sentence(turn.t),
        turn.t.plural(NP_("How long: we delete your data {count} month after your last message.",
                          "How long: we delete your data {count} months after your last message."),
                      network.retention_months),
        turn.t(N_("Your rights: you can get a copy of your data or have it deleted at any time. "
                  "Write to us here or to {contact}."), contact=network.privacy_contact),
        turn.t(N_("Do you agree that Lotse stores your data for this purpose?")),
    ]
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph)


async def _consent_answered(turn: Turn, answer: Any) -> Next:
    person = turn.person
    if answer == NO:
        turn.say(N_("That is fine. Lotse has not kept anything about you. "
                    "If you change your mind, write /start at any time. Goodbye!"))
        from bot.privacy import erase  # everything, also for someone who had agreed to an earlier notice
        from flows.privacy import tell_staff_of_erasure

        number = person.id
        erasure = await erase(turn.session, person, turn.now, "declined", turn.network)
        turn.session.add(AuditEntry(action="consent.declined", details={"transport": turn.handle.transport}))
        mine = (turn.handle.transport, turn.handle.chat_id)
        turn.outgoing[:] = [replace(m, erase_after_delivery=True) if (m.transport, m.chat) == mine else m
                            for m in turn.outgoing]
        turn.outgoing.extend(await tell_staff_of_erasure(turn.session, erasure.staff_to_tell, number, "request"))
        turn.deleted = True
        return END
    first_time = person.privacy_version is None
    version = person.privacy_version = current_privacy_version()
    if turn.incoming.display_name and not person.display_name:  # only now, with consent, is the name kept
        person.display_name = turn.incoming.display_name[:200]
    turn.session.add(Consent(person_id=person.id, kind="privacy", version=version, given=True,
                             at=turn.now))
    turn.session.add(AuditEntry(actor_id=person.id, subject_id=person.id, action="consent.given",
                                details={"kind": "privacy", "version": version}))
    turn.say(N_("Thank you. Your consent was recorded on {date}."), date=turn.t.date(turn.now))
    follow = AFTER_CONSENT.get(person.role)
    if first_time and follow is not None:
        return await follow(turn)
    return END


LANGUAGE_STEP = Step(
    name="language",
    prompt=LANGUAGE_PROMPT,
    kind=InputKind.CHOICE,
    options=language_options,
    text=language_prompt,
    on_answer=_language_chosen,
    next="privacy",
    describe="choose language (platform hint first)",
)

ONBOARDING = Flow(
    name="onboarding",
    needs_consent=False,
    steps=(
        LANGUAGE_STEP,
        Step(
            name="privacy",
            prompt=N_("Do you agree that Lotse stores your data for this purpose?"),
            kind=InputKind.YES_NO,
            text=privacy_notice,
            on_answer=_consent_answered,
            next=END,
            describe="privacy notice, consent yes/no",
            branches=(("no: delete everything, goodbye", "goodbye"),),
        ),
    ),
)

LANGUAGE = Flow(
    name="language",
    needs_consent=False,
    steps=(
        Step(
            name="language",
            prompt=LANGUAGE_PROMPT,
            kind=InputKind.CHOICE,
            options=language_options,
            text=language_prompt,
            on_answer=_language_changed,
            describe="choose language, then back to where the person was",
            branches=(("then", "__resume__"),),
        ),
    ),
)

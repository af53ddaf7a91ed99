"""First contact: choose a language, read the privacy notice in short (the full one a tap away), consent or not.

Declining keeps nothing personal: the person, their handle and conversation are deleted in the same
transaction and their stored inbound texts are blanked; only the goodbye message is still delivered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from functools import lru_cache
from typing import Any

from babel import Locale

from bot.core.access import Action, may, privacy_version_for
from bot.core.i18n import LANGUAGES, N_, NP_, STAFF_LOCALES, Translator, negotiate
from bot.core.messages import Choice
from bot.core.text import clean_text, fold
from bot.services.privacy import erase, tell_staff_of_erasure
from flows.engine import END, NO, YES, Flow, Goto, InputKind, Next, Step, Turn
from flows.registry import register
from storage.models import AuditEntry, Consent

LANGUAGE_PROMPT = N_("Please choose your language.")
CONSENT_QUESTION = N_("Do you agree that Lotse stores your data for this purpose?")
FULL_NOTICE = "full"
FIRST_THINGS_FIRST = N_("First, please choose your language and answer the privacy question.")
FIRST_THE_NOTICE = N_("First, please answer the privacy question.")
"""For someone whose language is known (a volunteer invited by the network, or after a new notice)."""


def first_things_first(turn: Turn) -> str:
    return turn.t(FIRST_THE_NOTICE) if turn.person.locale else before_language(turn, FIRST_THINGS_FIRST)

AFTER_CONSENT: dict[str, Callable[[Turn], Awaitable[Next]]] = {}
"""What follows a first consent, by role (the intake registers itself for participants); the menu otherwise."""


FIRST_CONTACT_LANGUAGES = ("de", "en", "ar", "fa", "ps", "tr", "uk")
"""Before a language is chosen, a line is shown in these (the network's main languages), after the platform's hint."""
FIRST_CONTACT_LINES = 7
"""At most this many lines: short enough for a phone's screen."""


def first_contact_codes(hint: str | None) -> list[str]:
    hinted = negotiate(hint)
    codes = [hinted] if hinted else []
    codes += [code for code in FIRST_CONTACT_LANGUAGES if code not in codes]
    return codes[:FIRST_CONTACT_LINES]


def before_language(turn: Turn, message: str, **values: object) -> str:
    """A catalog line for someone who has not chosen a language: one short line in each first-contact language,
    the platform's hint first; in their own language once they have chosen."""
    if turn.person.locale:
        return turn.t(message, **values)
    codes = first_contact_codes(turn.incoming.language_hint)
    if turn.data.get("language_page"):  # a later page of the picker: the lines in the languages it shows
        codes = language_pages(turn)[_page(turn)]
    return "\n".join(distinct_lines(Translator(code)(message, **values) for code in codes))


def distinct_lines(lines: Iterable[str]) -> list[str]:
    """Each line once: Dari and Persian often share a sentence, and a reader should not see it twice."""
    return list(dict.fromkeys(lines))


PAGE_SIZE = 7
"""Languages per page of the picker: with "More languages" a list of eight, which fits a phone screen."""
MORE_LANGUAGES = "__more__"
MORE_LABEL = N_("More languages")
_DRAWING = "_drawing_language_question"


COMPANY_LANGUAGES_NOTE = N_("Partner companies chat with Lotse in German or English.")


def offered_languages(turn: Turn) -> list[str]:
    """Every language; a partner company's contact chats in German or English only (issue 18)."""
    if may(turn.person, Action.ACT_FOR_COMPANY):
        return [code for code in LANGUAGES if code in STAFF_LOCALES]
    return list(LANGUAGES)


def language_pages(turn: Turn) -> list[list[str]]:
    """Every language offered, the platform's hint first, in pages of PAGE_SIZE (one page while they all fit)."""
    hinted = negotiate(turn.incoming.language_hint)
    codes = offered_languages(turn)
    if hinted in codes:
        codes.remove(hinted)
        codes.insert(0, hinted)
    if len(codes) <= PAGE_SIZE + 1:
        return [codes]
    return [codes[start:start + PAGE_SIZE] for start in range(0, len(codes), PAGE_SIZE)]


def _page(turn: Turn) -> int:
    return int(turn.data.get("language_page", 0)) % len(language_pages(turn))


def language_options(turn: Turn) -> list[Choice]:
    """The languages of this page under their own names, then "More languages" when there are more pages.

    A language of another page that someone types by its name ("ትግርኛ") is understood too: when the answer is read
    (not when the question is drawn, see `language_prompt`), such a name is added as a choice."""
    pages = language_pages(turn)
    shown = pages[_page(turn)]
    choices = [Choice(code, LANGUAGES[code]) for code in shown]
    if len(pages) > 1:
        choices.append(Choice(MORE_LANGUAGES, "🌐 " + turn.t(MORE_LABEL)))
    drawing = turn.data.pop(_DRAWING, False)
    typed = "" if drawing or turn.incoming.choice is not None else clean_text(turn.incoming.text or "")
    named = language_named(typed) if typed else None
    if named is not None and named in offered_languages(turn):  # read under the name it was typed as, so that
        choices.append(Choice(named, typed))  # the engine's label match finds it
    return choices


LANGUAGE_ALIASES: dict[str, str] = {
    "farsi": "fa", "dari": "fa_AF", "sorani": "ckb", "kurmanji": "ku", "pashtu": "ps", "pushto": "ps",
    "tigrigna": "ti", "tigrinja": "ti", "somali": "so", "afsomali": "so",
    "پشتو": "ps", "پختو": "ps", "ትግሪኛ": "ti", "ትግርኛ ቋንቋ": "ti", "فارسی دری": "fa_AF", "سورانی": "ckb",
}
"""Names people type for their language that neither its own name nor CLDR's English and German names give,
including other spellings (Pashto as a Persian keyboard writes it, "پشتو"; a play-tester found them refused)."""
UNCLEAR_LANGUAGE_NAMES = frozenset({"kurdish", "kurdisch"})
"""CLDR gives these to Kurmanji, but Sorani speakers say them too: the list, with both, is the answer."""


@lru_cache(maxsize=1)
def _language_names() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Every way of naming a language that we read: whole names, and the single words in them."""
    whole: dict[str, set[str]] = {}
    words: dict[str, set[str]] = {}
    for code, label in LANGUAGES.items():
        locale = Locale.parse(code)
        # English and German names from CLDR (their data is loaded anyway); the own name is our label: loading
        # CLDR for every language only for its own name cost 13 MB of memory at the first typed answer.
        names = {label, *(locale.get_display_name(reader) or "" for reader in ("en", "de"))}
        names |= {alias for alias, target in LANGUAGE_ALIASES.items() if target == code}
        for name in filter(None, (fold(name) for name in names)):
            whole.setdefault(name, set()).add(code)
            for word in name.split():
                if len(word) >= 3:
                    words.setdefault(word, set()).add(code)
    return whole, words


def language_named(typed: str) -> str | None:
    """The language someone typed by a name ("سۆرانی", "Kurdî", "Farsi", "Arabisch"), in any script; None when
    the text names none, or more than one ("Kurdish": Kurmanji or Sorani? then the list is the answer)."""
    folded = fold(typed)
    if not folded or len(folded) > 40:
        return None
    if folded in UNCLEAR_LANGUAGE_NAMES:
        return None
    whole, words = _language_names()
    found = whole.get(folded) or (words.get(folded) if " " not in folded else None) or set()
    return next(iter(found)) if len(found) == 1 else None


def language_prompt(turn: Turn) -> str:
    """Before we know the language, ask in all of this page's languages, the likely one first; then name the
    languages of the other pages, so that someone whose language is there knows to press "More languages"."""
    turn.data[_DRAWING] = True  # the engine draws the text, then the options: those of this page only
    pages = language_pages(turn)
    page = _page(turn)
    lines = distinct_lines(Translator(code)(LANGUAGE_PROMPT) for code in pages[page])
    others = [LANGUAGES[code] for number, codes in enumerate(pages) if number != page for code in codes]
    if others:
        lines.append("🌐 " + " · ".join(others))
    if may(turn.person, Action.ACT_FOR_COMPANY):
        lines.append(turn.t(COMPANY_LANGUAGES_NOTE))
    return "\n".join(lines)


async def _language_chosen(turn: Turn, code: Any) -> Next:
    if code == MORE_LANGUAGES:  # the same question with the next page of languages
        turn.data["language_page"] = _page(turn) + 1
        return "language"
    turn.data.pop("language_page", None)
    turn.person.locale = str(code)
    turn.use_locale(str(code))
    return None


async def _language_changed(turn: Turn, code: Any) -> Next:
    if code == MORE_LANGUAGES:
        return await _language_chosen(turn, code)
    await _language_chosen(turn, code)
    turn.say(N_("From now on I will write to you in {language}."), language=LANGUAGES[str(code)])
    resume = turn.state.get("resume")
    if isinstance(resume, dict) and resume.get("flow") == "onboarding" and resume.get("step") == "language":
        # /language in the middle of the first language question answers it: on to the notice, in that language
        # (it went back to the question's second page, and the next number chose another language)
        resume["step"] = "privacy"
        resume.get("data", {}).pop("language_page", None)
    return Goto("__resume__")


def _retention_and_rights(turn: Turn) -> list[str]:
    network = turn.network
    return [
        turn.t.plural(NP_("How long: we delete your data {count} month after your last message.",
                          "How long: we delete your data {count} months after your last message."),
                      network.retention_months),
        turn.t(N_("Your rights: you can get a copy of your data or have it deleted at any time. "
                  "Write to us here or to {contact}."), contact=network.privacy_contact),
    ]


def consent_question(turn: Turn) -> str:
    """The consent question alone, for asking again: the notice itself was just shown."""
    return turn.t(CONSENT_QUESTION)


MEDIATOR_SENTENCE = N_("Translation by volunteers: if nobody who answers you reads your language, a volunteer "
                       "language mediator (Sprachmittler) may translate your message or the answer. They see only "
                       "that text, never your name or anything else about you.")
MEDIATOR_SHORT = N_("A volunteer language mediator may translate a message, but never sees your name.")


def machine_translation_sentence(t: Translator) -> str:
    """Only while an engine is configured (which also gives the notice a new version)."""
    from bot.core.translation import active

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


def participant_notice(turn: Turn) -> str:
    """The participants' notice in their language: what, why, who, how long, and their rights."""
    paragraphs = [
        turn.t(N_("Before we start: how Lotse handles your data (privacy notice, Datenschutz).")),
        turn.t(N_("Lotse is run by {controller} for the integration network. It stores what you tell it here: "
                  "your language, your answers and your messages, and when you wrote them."),
               controller=turn.network.controller),
        turn.t(N_("Why: so that the right person in the network can help you with language courses, "
                  "training and work, and can remind you of appointments (Termine).")),
        turn.t(N_("Who sees it: only the coordinators responsible for your questions, and a volunteer "
                  "only if you agree. We never ask for your residence status, nationality or religion. "
                  "Nothing is passed to other authorities.")),
        turn.t(N_("Several organisations of the network may have you on their lists. To avoid double entries, "
                  "Lotse compares names, phone numbers and districts, and a coordinator joins two entries of the "
                  "same person into one record. If you write to Lotse from two messengers, you can link both "
                  "chats into one.")),  # issue 15
        machine_translation_sentence(turn.t),
        turn.t(MEDIATOR_SENTENCE),  # issue 16: a mediator sees a message's text, so the notice says so
        *_retention_and_rights(turn),
        turn.t(CONSENT_QUESTION),
    ]
    return "\n\n".join(paragraph for paragraph in paragraphs if paragraph)


def volunteer_notice(turn: Turn) -> str:
    """The volunteers' notice: what is stored about them, and about the participants they accompany."""
    paragraphs = [
        turn.t(N_("Before we start: how Lotse handles your data as a volunteer (privacy notice, Datenschutz).")),
        turn.t(N_("Lotse is run by {controller} for the integration network. It stores what you tell it here: "
                  "your language, what you offer, where and when you can help, your messages and reports, "
                  "and when you wrote them."), controller=turn.network.controller),
        turn.t(N_("About the participants you accompany: you see only what accompanying needs (first name, "
                  "languages, district, goals, times), and only after they agreed. Your reports about them "
                  "are stored with their case.")),
        turn.t(N_("Why: so that the coordinators can plan the help together with you, and everyone knows "
                  "what the others do.")),
        turn.t(N_("Who sees it: the coordinators of the network. The participants you accompany see your "
                  "name. Please keep what you learn about them to yourself.")),
        *_retention_and_rights(turn),
        turn.t(CONSENT_QUESTION),
    ]
    return "\n\n".join(paragraphs)


def staff_notice(turn: Turn) -> str:
    """What Lotse keeps about coordinators and partner companies' contacts, who consent to nothing here: they use
    Lotse for their work (a play-tester's company contact was shown the participants' notice and its promises)."""
    return "\n\n".join([
        turn.t(N_("How Lotse handles your data as a member of staff or a partner company's contact (Datenschutz).")),
        turn.t(N_("Lotse is run by {controller} for the integration network. It keeps your name, your "
                  "organisation, the chats you use and what you do here. Every time you see a participant's data "
                  "is recorded, so that the participant can be told who saw it."),
               controller=turn.network.controller),
        turn.t(N_("For a copy of your data, a correction or deletion, write to {contact}."),
               contact=turn.t.isolate(turn.network.privacy_contact)),
    ])


def privacy_notice(turn: Turn) -> str:
    """The full notice for the person's role, ending with the consent question (its version is recorded)."""
    return volunteer_notice(turn) if turn.person.role == "volunteer" else participant_notice(turn)


def notice_summary(turn: Turn) -> str:
    """What a phone shows first: the notice in four short sentences, then the question; the full one a tap away."""
    if turn.person.role == "volunteer":
        short = turn.t(N_("Privacy (Datenschutz), in short: Lotse stores what you write here, what you offer and "
                          "your reports about the participants you accompany. The network's coordinators see "
                          "it. Please keep what you learn about participants to yourself. You can have your "
                          "data deleted at any time."))
    else:
        short = turn.t(N_("Privacy (Datenschutz), in short: Lotse stores what you write here, so that the network "
                          "can help you with courses, training and work. Only the coordinators responsible for "
                          "your questions see it. We never ask about your residence status, nationality or "
                          "religion. You can have your data deleted at any time."))
        translated = machine_translation_sentence(turn.t)  # a processor is named even in the short version
        short = f"{short}\n\n{translated}" if translated else short
        short = f"{short}\n\n{turn.t(MEDIATOR_SHORT)}"  # and so are the volunteers who may read a message
    return f"{short}\n\n{turn.t(CONSENT_QUESTION)}"


def consent_options(turn: Turn) -> list[Choice]:
    return [Choice(YES, turn.t(N_("Yes"))), Choice(NO, turn.t(N_("No"))),
            Choice(FULL_NOTICE, turn.t(N_("Read the full notice")))]


async def _summary_answered(turn: Turn, answer: Any) -> Next:
    if answer == FULL_NOTICE:
        return "privacy_full"
    return await _consent_answered(turn, answer)


async def _consent_answered(turn: Turn, answer: Any) -> Next:
    person = turn.person
    if answer == NO:
        turn.say(N_("That is fine. Lotse has not kept anything about you. "
                    "If you change your mind, write /start at any time. Goodbye!"))

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
    version = privacy_version_for(person.role)  # the full notice's version, also when only the summary was read
    person.privacy_version = version
    if turn.incoming.display_name and not person.display_name:  # only now, with consent, is the name kept
        person.display_name = turn.incoming.display_name[:200]
    turn.session.add(Consent(person_id=person.id, kind="privacy", version=version, given=True, at=turn.now))
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
    hint=before_language,
    on_answer=_language_chosen,
    next="privacy",
    describe="choose language (platform hint first, pages of seven)",
    branches=(("more languages", "language"),),
)

ONBOARDING = Flow(
    name="onboarding",
    needs_consent=False,
    steps=(
        LANGUAGE_STEP,
        Step(
            name="privacy",
            prompt=CONSENT_QUESTION,
            kind=InputKind.CHOICE,
            options=consent_options,
            text=notice_summary,
            again=consent_question,
            on_answer=_summary_answered,
            next=END,
            describe="the notice in short (participants' or volunteers'), consent yes/no",
            branches=(("read the full notice", "privacy_full"), ("no: delete everything, goodbye", "goodbye")),
        ),
        Step(
            name="privacy_full",
            prompt=CONSENT_QUESTION,
            kind=InputKind.YES_NO,
            text=privacy_notice,
            again=consent_question,
            on_answer=_consent_answered,
            next=END,
            describe="the full notice, consent yes/no (its version is recorded either way)",
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
            branches=(("then", "__resume__"), ("more languages", "language")),
        ),
    ),
)

register(ONBOARDING)
register(LANGUAGE)

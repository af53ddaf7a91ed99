"""The participant's intake: district, goals, fields, German, languages, times, start, mobility, contact, school.

Every answer is saved to the participant's `Profile` the moment it is given, so a break of a week, a `/cancel`
or a crash loses nothing: "Your profile" continues at the first open question. After a summary the participant
confirms or changes single answers; a second, separate consent (off by default) decides whether partner
companies may see the profile. On first completion the coordinators responsible for the participant's district
and goals get a summary in their own language.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import date
from typing import Any

import phonenumbers
from babel import Locale
from babel.dates import get_day_names
from sqlalchemy.orm.attributes import flag_modified

from bot.core.i18n import N_, Translator
from bot.core.messages import Choice
from bot.core.network import Network
from bot.core.notify import messages_for
from bot.core.text import clean_text
from bot.services.routing import responsible_staff
from flows.duplicates import look_for_duplicates
from flows.engine import END, STAY, YES, Flow, InputKind, Invalid, Next, Step, Turn
from flows.menu import MENU_ENTRIES, MenuEntry
from flows.moments import dotted_day, example_day
from flows.onboarding import AFTER_CONSENT
from flows.registry import Command, register, start_flow
from storage.models import AuditEntry, Consent, Person, Profile

PARTICIPANT = frozenset({"participant"})
GOAL_TOPICS = ("language_course", "apprenticeship", "internship", "work", "recognition")
"""Goals are the network's topics of the same name, so routing and goals speak the same language."""
OTHER = "other"
LANGUAGE_ONLY_GOALS = frozenset({"language_course"})
ASAP = "asap"
GERMAN_LEVELS: tuple[tuple[str, str], ...] = (
    ("none", N_("None yet")),
    ("a1", "A1"),
    ("a2", "A2"),
    ("b1", "B1"),
    ("b2", "B2"),
    ("c1", N_("C1 or higher")),
    ("unknown", N_("I don't know")),
)
GERMAN_ORDER = {key: rank for rank, (key, _) in enumerate(GERMAN_LEVELS[:-1])}
"""Levels that can be compared; "I don't know" has no rank."""
SPOKEN_LANGUAGES = ("ar", "fa", "ps", "ku", "ckb", "ti", "am", "so", "uk", "ru", "tr", "en", "fr", "ur", "sq")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
DAY_PARTS: tuple[tuple[str, str], ...] = (
    ("morning", N_("{day} morning")),
    ("afternoon", N_("{day} afternoon")),
    ("evening", N_("{day} evening")),
)
PART_NAMES: tuple[tuple[str, str], ...] = (
    ("morning", N_("Mornings")),
    ("afternoon", N_("Afternoons")),
    ("evening", N_("Evenings")),
)
LICENCE: tuple[tuple[str, str], ...] = (
    ("yes", N_("Yes, I have one")),
    ("no", N_("No")),
    ("in_progress", N_("I am getting one now")),
)
CONTACT: tuple[tuple[str, str], ...] = (
    ("chat", N_("Only here in the chat")),
    ("phone", N_("Also by phone")),
)
MAX_SCHOOL_YEARS = 25
COMPANIES_CONSENT_VERSION = "2026-11"

# The questions in order, with the label the summary uses. Follow-ups (other field, phone) share their parent's
# number in "Question 2 of 11" and appear only when the parent's answer asks for them.
LABELS: dict[str, str] = {
    "district": N_("Where you live"),
    "goals": N_("Your goals"),
    "occupations": N_("Work that interests you"),
    "occupation_other": N_("Other work"),
    "german": N_("German"),
    "languages": N_("Other languages"),
    "availability": N_("When you have time"),
    "start": N_("Earliest start"),
    "licence": N_("Driving licence (Führerschein)"),
    "transport": N_("Bus and train"),
    "contact": N_("Contact"),
    "phone": N_("Phone"),
    "school": N_("Years at school"),
    "experience": N_("Work experience"),
    "companies": N_("Shown to partner companies"),
}
STAFF_LABELS: dict[str, str] = {
    **LABELS,
    "district": N_("District"),
    "goals": N_("Goals"),
    "occupations": N_("Work of interest"),
    "availability": N_("Available times"),
}
"""The same answers as staff read them (case view, a new profile's summary, exports): about the participant,
not addressed to them."""
MAIN_QUESTIONS = ("district", "goals", "occupations", "german", "languages", "availability", "start", "licence",
                  "transport", "contact", "school", "experience")
FOLLOW_UPS = {"occupation_other": "occupations", "phone": "contact"}
SECOND_HALVES = {"availability_times": "availability"}
"""Questions asked in two short lists: the second half shares the number and saves the answer."""
NUMBERED_WITH = {**FOLLOW_UPS, **SECOND_HALVES, "occupations": "goals", "occupation_other": "goals"}
"""Questions that share another's number. The kinds of work are asked only for a goal about work, so they count as
part of the goals question: the total never changes in the middle of the intake ("1 of 12", then "3 of 11")."""
COUNTED_QUESTIONS = tuple(question for question in MAIN_QUESTIONS if question not in NUMBERED_WITH)
"""The steps "Question N of M" counts: asked of everyone, whatever they answered before."""


# ---------------------------------------------------------------------------------------------------------------
# Options: built from the reader's translator and the network, so summaries for coordinators use them too


def district_choices(t: Translator, network: Network) -> list[Choice]:
    return [Choice(key, district.name[t.locale]) for key, district in network.districts.items()]


def goal_choices(t: Translator, network: Network) -> list[Choice]:
    return [Choice(key, network.topics[key].name[t.locale]) for key in GOAL_TOPICS if key in network.topics]


def occupation_choices(t: Translator, network: Network) -> list[Choice]:
    fields = [Choice(key, field.name[t.locale]) for key, field in network.occupations.items()]
    return [*fields, Choice(OTHER, t(N_("Something else")))]


def german_choices(t: Translator, network: Network) -> list[Choice]:
    return [Choice(key, t(label)) for key, label in GERMAN_LEVELS]


KURDISH_NAMES = {"ku": N_("Kurdish (Kurmanji)"), "ckb": N_("Kurdish (Sorani)")}
"""CLDR calls them "Kurdish" and "Central Kurdish"; Kurds and the people who work with them say Kurmanji and Sorani."""


CLDR_NAME_FIXES: dict[tuple[str, str], str] = {
    ("so", "tr"): "Turki",  # CLDR has no Somali name for Turkish and gives the English one
    ("ckb", "uk"): "ئۆکراینی",  # CLDR writes it with the Arabic kaf (ك), which Sorani does not use (ک)
}
"""(reader, language): a name CLDR gets wrong for that reader, as a native reader spotted it."""


def language_name(t: Translator, code: str) -> str:
    """The language's name in the reader's language, from CLDR (falls back to English)."""
    if code in KURDISH_NAMES:
        return t(KURDISH_NAMES[code])
    fixed = CLDR_NAME_FIXES.get((t.locale, code))
    if fixed is not None:
        return fixed
    name = Locale.parse(t.locale).languages.get(code) or Locale("en").languages.get(code) or code
    return str(name)


def spoken_choices(t: Translator, network: Network) -> list[Choice]:
    return [Choice(code, language_name(t, code)) for code in SPOKEN_LANGUAGES]


def other_language_choices(turn: Turn) -> list[Choice]:
    """The languages someone may speak besides the one they chose to read (Dari counts as Persian here)."""
    own = (turn.person.locale or "").split("_")[0]
    return [choice for choice in spoken_choices(turn.t, turn.network) if choice.key != own]


def day_names(t: Translator) -> dict[str, str]:
    names = get_day_names("wide", locale=t.locale)
    return {key: str(names[index]) for index, key in enumerate(WEEKDAYS)}


def availability_choices(t: Translator, network: Network) -> list[Choice]:
    """The whole weekly grid (15 entries): for reading answers back, never shown as one list."""
    days = day_names(t)
    return [Choice(f"{day}_{part}", t(label, day=days[day])) for day in WEEKDAYS for part, label in DAY_PARTS]


def weekday_choices(t: Translator, network: Network) -> list[Choice]:
    """The grid's first half on a phone: the days (5 entries)."""
    return [Choice(day, name) for day, name in day_names(t).items()]


def day_part_choices(t: Translator, network: Network) -> list[Choice]:
    """The grid's second half: the times of day (3 entries)."""
    return [Choice(part, t(label)) for part, label in PART_NAMES]


def chosen_days(value: Any) -> list[str]:
    """The days in a days answer ("mon") or in a stored grid answer ("mon_morning"), in week order."""
    found = {str(key).split("_", 1)[0] for key in (value or [])}
    return [day for day in WEEKDAYS if day in found]


def grid(days: Sequence[str], parts: Sequence[str]) -> list[str]:
    """Every chosen day at every chosen time of day, stored as the grid's keys ("mon_morning")."""
    return [f"{day}_{part}" for day in WEEKDAYS if day in days for part, _ in DAY_PARTS if part in parts]


def start_choices(t: Translator, network: Network) -> list[Choice]:
    return [Choice(ASAP, t(N_("As soon as possible")))]


def licence_choices(t: Translator, network: Network) -> list[Choice]:
    return [Choice(key, t(label)) for key, label in LICENCE]


def contact_choices(t: Translator, network: Network) -> list[Choice]:
    return [Choice(key, t(label)) for key, label in CONTACT]


Choices = Callable[[Translator, Network], list[Choice]]


def for_turn(build: Choices) -> Callable[[Turn], list[Choice]]:
    return lambda turn: build(turn.t, turn.network)


# ---------------------------------------------------------------------------------------------------------------
# Validators


def validate_phone(turn: Turn, value: Any) -> str:
    """Any German or foreign number a person might type; stored in E.164 (+4915123456789)."""
    text = str(value)
    try:
        number = phonenumbers.parse(text, "DE")
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise Invalid(N_("This does not look like a phone number. Please write it like 0151 23456789 "
                         "or +49 151 23456789."))
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


def validate_words(turn: Turn, value: Any) -> str:
    """Free text must say something: emoji or punctuation alone cannot be read by a coordinator."""
    text = str(value)
    if not any(ch.isalnum() for ch in text):
        raise Invalid(N_("Please write a few words, not only emoji or signs."))
    return text


def validate_school_years(turn: Turn, value: Any) -> int:
    text = clean_text(str(value))
    if not text.isdigit() or int(text) > MAX_SCHOOL_YEARS:
        raise Invalid(N_("Please write a number from 0 to {limit}, for example 9."), limit=MAX_SCHOOL_YEARS)
    return int(text)


# ---------------------------------------------------------------------------------------------------------------
# Saving answers as they come


async def profile_of(turn: Turn, person: Person | None = None) -> Profile:
    person = person or turn.person
    with turn.session.no_autoflush:  # the turn's other writes (consent, audit) go in its one flush at the end
        profile = await turn.session.get(Profile, person.id)
    if profile is None:  # added earlier in this turn and not flushed yet: the same one
        profile = next((added for added in turn.session.new
                        if isinstance(added, Profile) and added.person_id == person.id), None)
    if profile is None:
        profile = Profile(person_id=person.id, answers={})
        turn.session.add(profile)
    return profile


def applicable(answers: dict[str, Any], question: str) -> bool:
    """Follow-ups only count when their parent's answer asks for them; kinds of work only when a goal is about work
    (someone who wants only a language course is not asked which trade interests them)."""
    if question == "occupations":
        goals = answers.get("goals")
        return goals is None or any(goal not in LANGUAGE_ONLY_GOALS for goal in goals or [])
    if question == "occupation_other":
        return applicable(answers, "occupations") and OTHER in (answers.get("occupations") or [])
    if question == "phone":
        return answers.get("contact") == "phone"
    return True


def question_order() -> list[str]:
    order: list[str] = []
    for question in MAIN_QUESTIONS:
        order.append(question)
        order.extend(follow for follow, parent in FOLLOW_UPS.items() if parent == question)
    return order


def first_open_question(answers: dict[str, Any]) -> str | None:
    for question in question_order():
        if applicable(answers, question) and question not in answers:
            return question
    return None


def _saving(question: str) -> Callable[[Turn, Any], Awaitable[Next]]:
    async def save(turn: Turn, value: Any) -> Next:
        profile = await profile_of(turn)
        answers = dict(profile.answers)
        answers[question] = value
        if question == "district":
            turn.person.district = str(value)
        elif question == "german":
            profile.german_level = str(value)
        elif question == "phone":
            profile.phone = value
        elif question == "contact" and value != "phone":
            answers.pop("phone", None)
            profile.phone = None
        elif question == "occupations" and OTHER not in (value or []):
            answers.pop("occupation_other", None)
        profile.answers = answers
        flag_modified(profile, "answers")
        turn.data.update({key: answers[key] for key in answers})
        follow = next((f for f, parent in FOLLOW_UPS.items() if parent == question), None)
        if follow is not None and applicable(answers, follow) and (follow not in answers or
                                                                   not turn.data.get("_editing")):
            return follow
        if turn.data.get("_editing") or profile.completed_at is not None:
            # A changed answer may open a question that did not apply before (a work goal added: kinds of work).
            newly_open = first_open_question(answers)
            return newly_open if newly_open == "occupations" else "summary"
        return first_open_question(answers) or "summary"

    return save


def _asked_order(question: str) -> int:
    """Where a question comes in the intake; a second half right after its first."""
    order = question_order()
    if question in SECOND_HALVES:
        return order.index(SECOND_HALVES[question]) * 10 + 1
    return order.index(question) * 10


def progress_text(question: str, prompt: str, values: Callable[[Turn], dict[str, object]] | None = None
                  ) -> Callable[[Turn], str]:
    """The question with "Question 3 of 11" above it, so people see how far they are. Only the steps everyone is
    asked are counted (`COUNTED_QUESTIONS`), so the total stays the same from the first question to the last."""
    root = NUMBERED_WITH.get(question, question)
    number = COUNTED_QUESTIONS.index(root) + 1
    # A question that shares another's number is its next part ("Question 2 of 11, part 2"): two different
    # questions under the same "Question 2 of 11" read as a counter that got stuck.
    sharing = [q for q in (*question_order(), *SECOND_HALVES) if NUMBERED_WITH.get(q, q) == root]
    part = sorted(sharing, key=_asked_order).index(question) + 1

    def render(turn: Turn) -> str:
        head = turn.t(N_("Question {number} of {total}, part {part}"), number=number, total=len(COUNTED_QUESTIONS),
                      part=part) if part > 1 else \
            turn.t(N_("Question {number} of {total}"), number=number, total=len(COUNTED_QUESTIONS))
        return f"{head}\n{turn.t(prompt, **(values(turn) if values else {}))}"

    return render


async def _days_chosen(turn: Turn, value: Any) -> Next:
    """The days are kept in the conversation only; the answer is saved once the times of day are known."""
    return "availability_times"


async def _times_chosen(turn: Turn, value: Any) -> Next:
    return await _saving("availability")(turn, grid(chosen_days(turn.data.get("availability")), list(value)))


def start_example(turn: Turn) -> dict[str, object]:
    """Next Monday: a start date computed from today, never in the past."""
    return {"example": dotted_day(example_day(turn.now, turn.person.time_zone))}


def question(name: str, prompt: str, kind: InputKind, options: Callable[[Turn], Sequence[Choice]] | None = None,
             optional: bool = False, validate: Callable[[Turn, Any], Any] | None = None,
             max_length: int = 1000, describe: str = "",
             values: Callable[[Turn], dict[str, object]] | None = None) -> Step:
    return Step(name=name, prompt=prompt, kind=kind, options=options, text=progress_text(name, prompt, values),
                optional=optional, validate=validate, on_answer=_saving(name), max_length=max_length,
                describe=describe or prompt)


# ---------------------------------------------------------------------------------------------------------------
# The summary, for the participant and for coordinators


def _labels(t: Translator, network: Network, build: Choices, keys: Sequence[str]) -> str:
    names = {choice.key: choice.label for choice in build(t, network)}
    return t.comma.join(names.get(key, key) for key in keys)


CHOICE_ANSWERS: dict[str, Choices] = {
    "district": district_choices, "goals": goal_choices, "occupations": occupation_choices,
    "german": german_choices, "languages": spoken_choices, "availability": availability_choices,
    "licence": licence_choices, "contact": contact_choices,
}


def answer_text(t: Translator, network: Network, answers: dict[str, Any], question: str) -> str:
    """One answer as the reader should see it, in the reader's language."""
    value = answers.get(question)
    if question in ("companies", "transport") and value is not None:
        return t(N_("Yes")) if value in (True, YES) else t(N_("No"))
    if value is None or value == []:
        return t(N_("(no answer)"))
    if question in CHOICE_ANSWERS:
        keys = value if isinstance(value, list) else [value]
        return t.isolate(_labels(t, network, CHOICE_ANSWERS[question], keys))
    if question == "start":
        return t(N_("As soon as possible")) if value == ASAP else t.isolate(t.date(date.fromisoformat(value)))
    return t.isolate(value)


def summary_lines(t: Translator, network: Network, answers: dict[str, Any],
                  labels: dict[str, str] = LABELS) -> list[str]:
    """One line per answer; staff views pass `STAFF_LABELS`."""
    names = [q for q in question_order() if applicable(answers, q)]
    if "companies" in answers:
        names.append("companies")
    return [f"{t(labels[name])}: {answer_text(t, network, answers, name)}" for name in names]


def summary_render(turn: Turn) -> str:
    answers = {key: value for key, value in turn.data.items() if key in LABELS}
    lines = summary_lines(turn.t, turn.network, answers)
    return "\n".join([turn.t(N_("Here is your profile:")), "", *lines, "", turn.t(N_("Is everything right?"))])


# ---------------------------------------------------------------------------------------------------------------
# Summary, changes and the second consent


CONFIRM, CHANGE = "confirm", "change"


def summary_options(turn: Turn) -> list[Choice]:
    return [Choice(CONFIRM, turn.t(N_("Yes, this is right"))), Choice(CHANGE, turn.t(N_("Change an answer")))]


async def _summary_answered(turn: Turn, value: Any) -> Next:
    if value == CHANGE:
        return "change"
    profile = await profile_of(turn)
    if "companies" not in profile.answers:
        return "companies"
    return await _finish(turn, profile)


def change_options(turn: Turn) -> list[Choice]:
    answers = turn.data
    names = [q for q in question_order() if applicable(answers, q)] + ["companies"]
    return [Choice(name, turn.t(LABELS[name])) for name in names]


async def _change_chosen(turn: Turn, value: Any) -> Next:
    turn.data["_editing"] = True
    return str(value)


def companies_text(turn: Turn) -> str:
    return "\n\n".join([
        turn.t(N_("One more question, separate from the first consent. Partner companies of the network "
                  "offer internships (Praktikum). May we show them your profile: your first name, your goals, "
                  "the work that interests you, your German, when you have time and your work experience?")),
        turn.t(N_("If you say no, nothing is shared. You can change this at any time with /profile.")),
        turn.t(N_("May we show your profile to partner companies?")),
    ])


async def _companies_answered(turn: Turn, value: Any) -> Next:
    profile = await profile_of(turn)
    share = value == YES
    answers = dict(profile.answers)
    answers["companies"] = share
    profile.answers = answers
    flag_modified(profile, "answers")
    turn.data["companies"] = share
    turn.session.add(Consent(person_id=turn.person.id, kind="companies", version=COMPANIES_CONSENT_VERSION,
                             given=share, at=turn.now))
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=turn.person.id,
                                action="consent.given" if share else "consent.refused", details={"kind": "companies"}))
    profile.share_with_companies = share
    if turn.data.get("_editing") or profile.completed_at is not None:
        return "summary"
    return await _finish(turn, profile)


async def _finish(turn: Turn, profile: Profile) -> Next:
    if profile.completed_at is not None:
        turn.say(N_("Your profile is saved."))
        return END
    profile.completed_at = turn.now
    if profile.stage == "registered":
        profile.stage = "profile_complete"
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=turn.person.id, action="profile.completed"))
    turn.say(N_("Thank you! Your profile is complete. The coordinators of the network can now look for "
                "suitable offers for you. You can see and change it at any time with /profile."))
    turn.say(N_("If you like, answer ten short questions about what kind of work suits you "
                "(Kompetenz- und Potenzialcheck). Choose it in the menu or write /check."))
    await notify_coordinators(turn, profile)
    await look_for_duplicates(turn)  # issue 15: the same person entered twice (flows/duplicates.py)
    return END


async def notify_coordinators(turn: Turn, profile: Profile) -> None:
    """The coordinators responsible for the participant (`bot.services.routing`: goals, district, scope) get the
    summary."""
    for coordinator in await responsible_staff(turn.session, turn.network, turn.person):
        turn.outgoing.extend(await messages_for(
            turn.session, coordinator, lambda t: coordinator_summary(t, turn.network, turn.person, profile)))


def participant_label(t: Translator, person: Person) -> str:
    return t(N_("{name} (no. {number})"), name=person.display_name or t(N_("no name given")), number=person.id)


STAFF_ROLE_NAMES: dict[str, str] = {
    "coordinator": N_("Coordinator"),
    "volunteer": N_("Volunteer"),
    "company": N_("Contact at a partner company"),
    "admin": N_("The network's administrator"),
}
_MATRIX_ID = re.compile(r"@[^\s:]+:\S+")


def proper_name(person: Person) -> str | None:
    """The name a person gave, or None when what is stored is only a handle: the demo's persona ("jobc", which
    the console sends as the name) or the Matrix ID a client shows for someone who set no display name."""
    name = (person.display_name or "").strip()
    if not name or name == person.persona or _MATRIX_ID.fullmatch(name):
        return None
    return name


def staff_name(t: Translator, network: Network, person: Person) -> str:
    """How a staff member is named to others: their name, else their role and organisation in the reader's
    language ("Coordinator, Jobcenter Oldenburg"), never a handle."""
    name = proper_name(person)
    if name is not None:
        return name
    role = t(STAFF_ROLE_NAMES.get(person.role, N_("A staff member")))
    organisation = network.organisations.get(person.organisation or "")
    if organisation is None or person.role == "admin":
        return role
    return t(N_("{role}, {organisation}"), role=role, organisation=organisation.name)


def person_label(t: Translator, network: Network, person: Person) -> str:
    """Anyone in a staff view (who took a question, changed a stage, wrote a report): a participant by name and
    number, staff by `staff_name` and number."""
    if person.role == "participant":
        return participant_label(t, person)
    return t(N_("{name} (no. {number})"), name=staff_name(t, network, person), number=person.id)


def first_name(t: Translator, network: Network, person: Person) -> str:
    """A staff member as a participant reads them: the first name they gave, else `staff_name`."""
    name = proper_name(person)
    return name.split(" ")[0] if name else staff_name(t, network, person)


def coordinator_summary(t: Translator, network: Network, participant: Person, profile: Profile) -> str:
    head = t(N_("New participant profile: {participant}. Their language: {language}."),
             participant=participant_label(t, participant), language=language_name(t, participant.locale or "en"))
    return "\n".join([head, "", *summary_lines(t, network, profile.answers, STAFF_LABELS)])


# ---------------------------------------------------------------------------------------------------------------
# Entering: after consent, from the menu, with /profile


async def open_profile(turn: Turn, argument: str = "") -> None:
    """Continues at the first open question, or shows the summary of a complete profile."""
    profile = await profile_of(turn)
    answers = dict(profile.answers)
    data = dict(answers)
    open_question = None if profile.completed_at is not None else first_open_question(answers)
    if open_question is not None:
        if answers:
            turn.say(N_("Welcome back to your profile. We continue with the next open question."))
        answered = [q for q in question_order() if q in answers]
        start_flow(turn, "intake", data, at=open_question, trail=answered)
        return
    if profile.completed_at is not None:
        data["_editing"] = True
    start_flow(turn, "intake", data, at="summary")


async def _after_consent(turn: Turn) -> Next:
    turn.say(N_("Now a few questions about you, so that the network can help you. It takes about five minutes. "
                "You can skip some questions, and go back with /back."))
    await open_profile(turn)
    return STAY


def _summary_step() -> Step:
    return Step(name="summary", prompt=N_("Is everything right?"), kind=InputKind.CHOICE, options=summary_options,
                text=summary_render, on_answer=_summary_answered, describe="summary: confirm or change",
                branches=(("change", "change"), ("first time", "companies"), ("confirmed", "menu")))


INTAKE = Flow(
    name="intake",
    roles=PARTICIPANT,
    resume_after_idle=True,
    steps=(
        question("district", N_("Where do you live? Choose your district (Landkreis) or city."), InputKind.CHOICE,
                 for_turn(district_choices)),
        question("goals", N_("What are you looking for? Choose all that fit."), InputKind.MULTI,
                 for_turn(goal_choices)),
        question("occupations", N_("Which kinds of work interest you? Choose all that fit."), InputKind.MULTI,
                 for_turn(occupation_choices)),
        question("occupation_other", N_("Which other work interests you? Write it in a few words."),
                 InputKind.TEXT, optional=True, validate=validate_words, max_length=200),
        question("german", N_("How good is your German? If you have a certificate, choose its level."),
                 InputKind.CHOICE, for_turn(german_choices)),
        question("languages", N_("Which other languages do you speak? Choose all that fit, or skip."),
                 InputKind.MULTI, other_language_choices, optional=True),
        Step(name="availability", prompt=N_("On which days do you have time for a course, an internship or "
                                            "work? Choose all that fit."), kind=InputKind.MULTI,
             options=for_turn(weekday_choices), text=progress_text("availability", N_(
                 "On which days do you have time for a course, an internship or work? Choose all that fit.")),
             on_answer=_days_chosen, describe="weekly times, first the days (Monday to Friday)"),
        Step(name="availability_times", prompt=N_("At what times of day? Choose all that fit."),
             kind=InputKind.MULTI, options=for_turn(day_part_choices),
             text=progress_text("availability_times", N_("At what times of day? Choose all that fit.")),
             on_answer=_times_chosen, describe="then the times of day; saved as days x times"),
        question("start", N_("From when can you start? Write a date, for example {example}."), InputKind.DATE,
                 for_turn(start_choices), values=start_example),
        question("licence", N_("Do you have a driving licence (Führerschein) for cars?"), InputKind.CHOICE,
                 for_turn(licence_choices)),
        question("transport", N_("Can you get to places by bus and train?"), InputKind.YES_NO),
        question("contact", N_("How may the coordinators contact you?"), InputKind.CHOICE, for_turn(contact_choices)),
        question("phone", N_("Which phone number may they call? For example 0151 23456789."), InputKind.TEXT,
                 optional=True, validate=validate_phone, max_length=40),
        replace(question("school", N_("How many years did you go to school? Write the number of years, for "
                                      "example 9. Every number is an answer: 1 means one year."), InputKind.TEXT,
                         optional=True, validate=validate_school_years, max_length=10), takes_numbers=True),
        question("experience", N_("What work have you done before? Write it in a few words."), InputKind.TEXT,
                 optional=True, validate=validate_words, max_length=500),
        _summary_step(),
        Step(name="change", prompt=N_("Which answer do you want to change?"), kind=InputKind.CHOICE,
             options=change_options, on_answer=_change_chosen, describe="pick one answer to change",
             branches=(("that question, then", "summary"),)),
        Step(name="companies", prompt=N_("May we show your profile to partner companies?"), kind=InputKind.YES_NO,
             text=companies_text, on_answer=_companies_answered, describe="second consent: partner companies",
             branches=(("then", "summary"),)),
    ),
)

register(INTAKE, Command("profile", N_("Your profile: see or change it"), action=open_profile, roles=PARTICIPANT))
MENU_ENTRIES.append(MenuEntry("profile", N_("Your profile"), action=open_profile, roles=PARTICIPANT, order=10))
AFTER_CONSENT["participant"] = _after_consent

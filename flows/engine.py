"""The small flow engine: flows are declared as steps; the engine parses input, re-prompts and persists state.

A flow never calls a transport. It reads the `Turn` (who, what they sent, in which language) and adds
messages to it; the dispatcher commits the state change and those messages in one transaction.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bot.core.i18n import N_, Translator
from bot.core.messages import Choice, Incoming, Outgoing, attachment_record
from bot.core.text import clean_text as clean_text  # flows take their text tools from the engine
from bot.core.text import fold as fold
from bot.services.routing import is_working_day

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from bot.core.network import Network
    from storage.models import Conversation, Handle, Person


class InputKind(StrEnum):
    TEXT = "text"
    CHOICE = "choice"
    MULTI = "multi"
    YES_NO = "yes_no"
    DATETIME = "datetime"
    DATE = "date"
    ATTACHMENT = "attachment"
    MESSAGE = "message"
    """Text, or a photo, document or voice message with an optional caption (a question to a person)."""


class Invalid(Exception):
    """Raised by a parser or validator: `hint` is a catalog message shown before the prompt again."""

    def __init__(self, hint: str, **values: object) -> None:
        super().__init__(hint)
        self.hint = hint
        self.values = values


@dataclass(frozen=True, slots=True)
class Goto:
    """Where a step leads when it is not the next step of the same flow: another flow, or the menu."""

    flow: str


END = Goto("menu")
STAY = Goto("__stay__")
"""Returned by a hook that has already moved the conversation on (e.g. started another flow at some step)."""
DONE_KEY = "__done__"
MAX_ATTACHMENT_BYTES = 20_000_000
"""Telegram lets bots download files up to 20 MB; the same limit everywhere keeps the answer consistent."""
YES, NO = "yes", "no"

Next = str | Goto | None
OptionsFn = Callable[["Turn"], Sequence[Choice]]
ValuesFn = Callable[["Turn"], dict[str, object]]
Hook = Callable[["Turn", Any], Awaitable[Next]]


@dataclass(frozen=True, slots=True)
class Step:
    """One question. `next` is the following step name, a `Goto`, or a hook deciding from the answer."""

    name: str
    prompt: str
    kind: InputKind
    options: OptionsFn | None = None
    prompt_values: ValuesFn | None = None
    text: Callable[[Turn], str] | None = None
    validate: Callable[[Turn, Any], Any] | None = None
    on_answer: Hook | None = None
    next: Next = None
    optional: bool = False
    max_length: int = 1000
    describe: str = ""
    takes_numbers: bool = False
    """A typed number is the answer itself (years of school, an hour), not the number of a shown option."""
    branches: tuple[tuple[str, str], ...] = ()
    """Other destinations `on_answer` may choose, as (label, step or flow name): drawn in the diagram."""
    hint: Callable[..., str] | None = None
    """Renders a line about the step (its message id and values) for the reader: see `step_hint`."""
    again: Callable[[Turn], str] | None = None
    """A shorter text for asking the same question again after an answer it could not use: a long notice is not
    sent a second time to a cheap phone, only its question and options."""
    """Renders the line under a choice (given the catalog message), e.g. in several languages before one is chosen."""


@dataclass(frozen=True, slots=True)
class Flow:
    name: str
    steps: tuple[Step, ...]
    roles: frozenset[str] = frozenset({"participant", "volunteer", "coordinator", "admin", "company"})
    needs_consent: bool = True
    resume_after_idle: bool = False
    """A long questionnaire continues at its question after a break instead of returning to the menu."""

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"flow {self.name} has no step {name}")

    @property
    def first(self) -> Step:
        return self.steps[0]


@dataclass
class Turn:
    """Everything a flow may touch while handling one inbound event."""

    session: AsyncSession
    person: Person
    handle: Handle
    conversation: Conversation
    incoming: Incoming
    network: Network
    now: datetime
    translator: Translator
    outgoing: list[Outgoing] = field(default_factory=list)
    prompt_index: int | None = None
    deleted: bool = False

    @property
    def t(self) -> Translator:
        return self.translator

    @property
    def state(self) -> dict[str, Any]:
        return self.conversation.state

    @property
    def data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.state.setdefault("data", {})
        return data

    def use_locale(self, locale: str) -> None:
        self.translator = Translator(locale, self.person.time_zone)

    def say(self, message: str, **values: object) -> None:
        self.send(self.t(message, **values))

    async def tell(self, person: Person, message: str, choices: Sequence[Choice] = (), **values: object) -> int:
        """Sends a catalog message to someone else, in their language; returns on how many handles. A value may
        be a function of the reader's translator (a name with "no.", a date), so nothing arrives half in German."""
        from bot.core.notify import messages_for  # engine stays free of queries at import time

        def render(t: Translator) -> str:
            return t(message, **{key: value(t) if callable(value) else value for key, value in values.items()})

        found = await messages_for(self.session, person, render, (lambda t: choices) if choices else None)
        self.outgoing.extend(found)
        return len(found)

    def send(self, text: str, choices: Sequence[Choice] = (), selection: str = "none",
             selected: Sequence[str] = (), hint: str | None = None, done_label: str | None = None,
             done_key: str | None = None) -> None:
        body = text if hint is None else f"{text}\n\n{hint}"
        self.outgoing.append(
            Outgoing(
                transport=self.handle.transport,
                chat=self.handle.chat_id,
                text=body,
                choices=tuple(choices),
                selection=selection,  # type: ignore[arg-type]
                selected=tuple(selected),
                locale=self.t.locale,
                rtl=self.t.rtl,
                done_label=done_label,
                done_key=done_key,
            )
        )


# ---------------------------------------------------------------------------------------------------------------
# Parsing what people type


_NUMBER = re.compile(r"^\d{1,6}$")
_NUMERIC_LOOKING = re.compile(r"^[-+]?\d[\d.,]*$")


def looks_like_number(text: str) -> bool:
    """Typed text that is a number of some kind ("3", "٣", "-1", "1.5"): meant as a choice, whether or not it is one."""
    return bool(_NUMERIC_LOOKING.match(clean_text(text).rstrip(".)")))


def pick_option(text: str, options: Sequence[Choice]) -> Choice | None:
    """The option a typed number ("2", "٢", "2.") or label names; None when it names none of them."""
    raw = clean_text(text).rstrip(".)")
    if _NUMBER.match(raw):  # int() reads Arabic-Indic and Persian digits too
        index = int(raw)
        return options[index - 1] if 1 <= index <= len(options) else None
    if _NUMERIC_LOOKING.match(raw):  # "-1", "1.5", "+3": a number, but not one of ours
        return None
    folded = fold(text)
    if not folded:
        return None
    for option in options:
        if folded in (fold(option.label), fold(option.key), fold(_UMLAUTS.sub(_digraph, option.label))):
            return option
    return None


def is_number(text: str) -> bool:
    """Whether the text is a whole number as people type one ("3", "٣", "3."), i.e. meant as an option's number."""
    return bool(_NUMBER.match(clean_text(text).rstrip(".)")))


def is_zero(text: str) -> bool:
    """"0" in any script people type digits in ("٠", "۰"): the hint says "write 0" in their language."""
    digits = clean_text(text).rstrip(".)")
    return bool(digits) and all(unicodedata.digit(ch, -1) == 0 for ch in digits)


_UMLAUTS = re.compile("[äöüÄÖÜß]")


def _digraph(match: re.Match[str]) -> str:
    """People without a German keyboard write "gruen" for "grün"."""
    return {"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"}[match.group(0)]


def parse_single(text: str, options: Sequence[Choice]) -> Choice:
    choice = pick_option(text, options)
    if choice is None:
        raise Invalid(N_("Please answer with a number from 1 to {count}."), count=len(options))
    return choice


_SEPARATORS = re.compile(r"[,;،؛\s]+")


def parse_multiple(text: str, options: Sequence[Choice]) -> list[Choice]:
    """Reads "1, 3 5", "1,3", "١، ٣", or labels separated by commas; "-1" or "1.5" name no option."""
    chosen: list[Choice] = []
    parts = [p for p in _SEPARATORS.split(clean_text(text)) if p]
    if parts and all(_NUMERIC_LOOKING.match(p.rstrip(".)")) for p in parts):
        candidates = [pick_option(p, options) for p in parts]
    else:
        candidates = [pick_option(p, options) for p in re.split(r"[,;،؛\n]+", text) if p.strip()]
    for candidate in candidates:
        if candidate is None:
            raise Invalid(N_("Please answer with one or more numbers from 1 to {count}, like 1, 3."),
                          count=len(options))
        if candidate not in chosen:
            chosen.append(candidate)
    if not chosen:
        raise Invalid(N_("Please answer with one or more numbers from 1 to {count}, like 1, 3."),
                      count=len(options))
    return chosen


def example_day(now: datetime, time_zone: str) -> date:
    """The day examples in prompts name: next Monday that is a working day, so an example is never in the past
    (a fixed "24.11." was, from late November on) and never a day a booking would be asked about."""
    return monday_after(now.astimezone(ZoneInfo(time_zone)).date())


def monday_after(today: date) -> date:
    day = today + timedelta(days=7 - today.weekday())
    while not is_working_day(day):
        day += timedelta(days=7)
    return day


def dotted_day(day: date, year: bool = True) -> str:
    """A day as people here write it and as the parsers read it: 07.12.2026 (or 07.12.)."""
    return f"{day.day:02d}.{day.month:02d}." + (str(day.year) if year else "")


def moment_example(now: datetime, time_zone: str) -> str:
    """A day and time as the date parsers read it, computed from today: next Monday at 10:30."""
    return f"{dotted_day(example_day(now, time_zone))} 10:30"


_DATE_FORMS = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), ("y", "m", "d")),
    (re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$"), ("d", "m", "y")),
    (re.compile(r"^(\d{1,2})\.(\d{1,2})\.?$"), ("d", "m")),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$"), ("d", "m", "y")),
)
_TIME_FORM = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?\s*(?:uhr|h)?$")


def parse_datetime(text: str, now: datetime, time_zone: str) -> datetime:
    """Reads "24.11.2026 10:30", "24.11. 10:30", "2026-11-24 10:30" in the person's zone; returns UTC. A hint's
    example is computed from today, as the prompts' are: a fixed one would be in the past some day."""
    folded = clean_text(text).lower()
    match = re.match(r"^(\S+)(?:\s+(.+))?$", folded)
    if not match:
        raise Invalid(N_("Please write a date and time like {example}."), example=moment_example(now, time_zone))
    date_part, time_part = match.group(1), match.group(2)
    zone = ZoneInfo(time_zone)
    local_now = now.astimezone(zone)
    day: date | None = None
    for pattern, order in _DATE_FORMS:
        found = pattern.match(date_part)
        if found:
            parts = dict(zip(order, (int(g) for g in found.groups()), strict=True))
            year = parts.get("y", local_now.year)
            try:
                day = date(year, parts["m"], parts["d"])
            except ValueError:
                raise Invalid(N_("There is no such date. Please check the day and the month.")) from None
            if "y" not in parts and day < local_now.date():
                day = day.replace(year=year + 1)
            break
    if day is None:
        raise Invalid(N_("Please write a date and time like {example}."), example=moment_example(now, time_zone))
    clock = time(9, 0)
    if time_part:
        found_time = _TIME_FORM.match(time_part.strip())
        if not found_time:
            raise Invalid(N_("Please write a date and time like {example}."), example=moment_example(now, time_zone))
        hour, minute = int(found_time.group(1)), int(found_time.group(2) or 0)
        if hour > 23 or minute > 59:
            raise Invalid(N_("There is no such time. Please use hours 0 to 23 and minutes 0 to 59."))
        clock = time(hour, minute)
    if not 2000 <= day.year <= local_now.year + 5:
        raise Invalid(N_("Please choose a date within the next five years."))
    moment = datetime.combine(day, clock, tzinfo=zone)
    # A wall time that does not exist (the spring DST gap) is moved forward by the gap, as clocks do.
    return moment.astimezone(UTC)


def parse_date(text: str, now: datetime, time_zone: str) -> date:
    """Reads a day ("1.3.2027", "01.03.", "2027-03-01", "1/3/2027") from today to two years ahead."""
    raw = clean_text(text).lower()
    today = now.astimezone(ZoneInfo(time_zone)).date()
    for pattern, order in _DATE_FORMS:
        found = pattern.match(raw)
        if not found:
            continue
        parts = dict(zip(order, (int(g) for g in found.groups()), strict=True))
        year = parts.get("y", today.year)
        try:
            day = date(year, parts["m"], parts["d"])
        except ValueError:
            raise Invalid(N_("There is no such date. Please check the day and the month.")) from None
        if "y" not in parts and day < today:
            day = day.replace(year=year + 1)
        if day < today:
            raise Invalid(N_("This date is in the past. Please write a date from today on."))
        if day > date(today.year + 2, today.month, min(today.day, 28)):
            raise Invalid(N_("Please choose a date within the next two years."))
        return day
    raise Invalid(N_("Please write a date like {example}."), example=dotted_day(monday_after(today)))


# ---------------------------------------------------------------------------------------------------------------
# Rendering and answering steps


def yes_no_options(turn: Turn) -> list[Choice]:
    return [Choice(YES, turn.t(N_("Yes"))), Choice(NO, turn.t(N_("No")))]


def step_options(turn: Turn, step: Step) -> list[Choice]:
    if step.kind is InputKind.YES_NO:
        return yes_no_options(turn)
    return list(step.options(turn)) if step.options else []


SKIP_KEY = "__skip__"
TYPED_KINDS = (InputKind.TEXT, InputKind.DATE, InputKind.DATETIME, InputKind.MESSAGE)
"""Steps answered by typing, which may show options too (quick answers, Skip)."""


def _translated(turn: Turn, message: str, **values: object) -> str:
    return turn.t(message, **values)


def step_hint(turn: Turn, step: Step, message: str, **values: object) -> str:
    """A line about the step (e.g. why an answer was not taken) in the languages the step is asked in: before a
    language is chosen that is several, not English alone."""
    return (step.hint or _translated)(turn, message, **values)


def _skip_option(turn: Turn) -> Choice:
    return Choice(SKIP_KEY, turn.t(N_("Skip")))


def shown_options(turn: Turn, step: Step) -> list[Choice]:
    """The options as `render_prompt` shows them, Skip included, in the same order (so numbers match)."""
    options = step_options(turn, step)
    if step.optional and step.kind is not InputKind.MULTI and not step.takes_numbers:
        options.append(_skip_option(turn))
    return options


def typed_option(step: Step, text: str, options: Sequence[Choice]) -> Choice | None:
    """On a typed-answer step, the shown option a typed number or label names; None for an answer of one's own.

    A number out of the list's range, and any number on a step that `takes_numbers`, is the answer itself."""
    if not options or (step.takes_numbers and is_number(text)):
        return None
    return pick_option(text, options)


def prompt_text(turn: Turn, step: Step) -> str:
    """The step's question in the person's language, without options or hints."""
    if step.text is not None:
        return step.text(turn)
    values = step.prompt_values(turn) if step.prompt_values else {}
    return turn.t(step.prompt, **values)


def accepts(turn: Turn, step: Step) -> bool:
    """Whether the step would take the inbound event as its answer (validators aside); changes nothing."""
    try:
        parse_answer(turn, step)
    except (Invalid, Stale, Toggle):
        return False
    return True


def names_option(turn: Turn, step: Step) -> bool:
    """Whether the typed text picks one of the options the step shows (not an answer of one's own)."""
    if step.kind in (InputKind.CHOICE, InputKind.YES_NO, InputKind.MULTI):
        return accepts(turn, step)
    if step.kind not in TYPED_KINDS or not accepts(turn, step):
        return False
    return typed_option(step, turn.incoming.text or "", shown_options(turn, step)) is not None


def render_prompt(turn: Turn, step: Step, again: bool = False) -> None:
    """Sends the step's question with its options, in the person's language (`again`: after an unusable answer)."""
    text = step.again(turn) if again and step.again is not None else prompt_text(turn, step)
    options = step_options(turn, step)
    hint: str | None = None
    if step.kind in (InputKind.CHOICE, InputKind.YES_NO):
        if step.optional:
            options.append(_skip_option(turn))
        hint = (step.hint or _translated)(turn, N_("Write the number of your answer."))
        selection = "single"
    elif step.kind is InputKind.MULTI:
        hint = turn.t(N_("Write the numbers of all that fit, like 1, 3."))
        if step.optional:  # a Skip in the list would be ticked like a choice: 0 (or Done with none) skips instead
            hint += "\n" + turn.t(N_("To skip this question, write 0."))
        selection = "multiple"
    else:  # free text, a date or a file; quick answers (and Skip) as buttons
        if step.optional and step.takes_numbers:  # "1. Skip" would read as the answer 1 (years at school)
            hint = turn.t(N_("To skip this question, write: {skip}"), skip=turn.t(N_("Skip")))
        elif step.optional:
            options.append(_skip_option(turn))
        selection = "single" if options else "none"
    # Keys carry the question's sequence number: a button only ever answers the question it came with.
    seq = turn.state.get("seq", 0)
    keyed = [Choice(f"{seq}:{option.key}", option.label) for option in options]
    selected = [f"{seq}:{key}" for key in turn.data.get(f"_selected:{step.name}", [])]
    multiple = step.kind is InputKind.MULTI
    turn.prompt_index = len(turn.outgoing)
    turn.send(text, keyed, selection, selected, hint=hint,
              done_label=turn.t(N_("Done")) if multiple else None,
              done_key=f"{seq}:{DONE_KEY}" if multiple else None)


def parse_answer(turn: Turn, step: Step) -> Any:
    """Turns the inbound event into the step's value, or raises `Invalid` with a hint."""
    incoming = turn.incoming
    if incoming.undecodable:
        raise Invalid(N_("I could not read that message. Please write it again."))
    options = shown_options(turn, step)
    if incoming.choice is not None:
        seq, _, key = incoming.choice.partition(":")
        if seq != str(turn.state.get("seq")):
            raise Stale()
        if step.kind is InputKind.MULTI and key == DONE_KEY:
            chosen = turn.data.get(f"_selected:{step.name}", [])
            if not chosen and step.optional:
                return None
            if not chosen:
                raise Invalid(N_("Please choose at least one option, then press Done."))
            return chosen
        for option in options:
            if option.key == key:
                if option.key == SKIP_KEY:
                    return None
                if step.kind is InputKind.MULTI:
                    raise Toggle(option.key)
                return option.key
        raise Stale()
    if step.kind is InputKind.ATTACHMENT:
        if incoming.attachment is None:
            raise Invalid(N_("Please send a photo or a file."))
        if (incoming.attachment.size or 0) > MAX_ATTACHMENT_BYTES:
            raise Invalid(N_("This file is too big. Please send a file smaller than {limit} MB, "
                             "or a photo of the page."), limit=MAX_ATTACHMENT_BYTES // 1_000_000)
        return attachment_record(incoming.attachment, incoming.transport)
    text = clean_text(incoming.text or "")
    if step.kind is InputKind.MESSAGE and incoming.attachment is not None:
        if (incoming.attachment.size or 0) > MAX_ATTACHMENT_BYTES:
            raise Invalid(N_("This file is too big. Please send a file smaller than {limit} MB, "
                             "or a photo of the page."), limit=MAX_ATTACHMENT_BYTES // 1_000_000)
        return {"text": text[:step.max_length],
                "attachment": attachment_record(incoming.attachment, incoming.transport)}
    if incoming.attachment is not None and not text:
        raise Invalid(N_("Please answer with text, not a file."))
    if not text:
        raise Invalid(N_("Your message was empty. Please write your answer."))
    if len(text) > step.max_length:
        raise Invalid(N_("That is too long. Please write at most {limit} characters."), limit=step.max_length)
    if step.optional and (fold(text) in (fold(turn.t(N_("Skip"))), "skip") or text == "-"
                          or (step.kind is InputKind.MULTI and is_zero(text))):
        return None
    if step.kind in TYPED_KINDS:
        quick = typed_option(step, text, options)
        if quick is not None:  # a shown option by its number or its words: "1", "as soon as possible", "Skip"
            return None if quick.key == SKIP_KEY else quick.key
    if step.kind in (InputKind.CHOICE, InputKind.YES_NO):
        choice = _match_yes_no(turn, text) if step.kind is InputKind.YES_NO else None
        return (choice or parse_single(text, options)).key
    if step.kind is InputKind.MULTI:
        return [c.key for c in parse_multiple(text, options)]
    if step.kind is InputKind.DATETIME:
        return parse_datetime(text, turn.now, turn.person.time_zone).isoformat()
    if step.kind is InputKind.DATE:
        return parse_date(text, turn.now, turn.person.time_zone).isoformat()
    if step.kind is InputKind.MESSAGE:
        return {"text": text, "attachment": None}
    return text


def _match_yes_no(turn: Turn, text: str) -> Choice | None:
    folded = fold(text)
    yes_words = {fold(turn.t(N_("Yes"))), "yes", "y", "ja", "j"}
    no_words = {fold(turn.t(N_("No"))), "no", "n", "nein"}
    if folded in yes_words:
        return Choice(YES, "")
    if folded in no_words:
        return Choice(NO, "")
    return None


class Stale(Exception):
    """A button from an earlier question, or callback data that does not belong to this conversation."""


class Toggle(Exception):
    """A multiple-choice button was pressed: flip it and show the question again."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key

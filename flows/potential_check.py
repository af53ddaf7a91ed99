"""Kompetenz- und Potenzialcheck: ten short questions, an encouraging summary, and suggested fields.

The rules are plain on purpose, so a coordinator can explain them to the participant:

* Every occupational field starts at 0 points. Each answer adds (or removes) points as in `RULES`:
  working with the hands favours the crafts (metal, electrical, vehicles, construction, wood, hair and beauty,
  farming); a desk favours office and IT; outdoors favours construction, farming and logistics; early shifts
  favour farming, construction, logistics, restaurants and care; heavy physical work favours construction,
  logistics and farming (and "no" counts against them); machines and tools favour metal, vehicles and electrical
  work, computers favour IT; helping people favours care; talking to customers favours shops, restaurants and
  hair and beauty.
* Each field the person has worked in before adds 2 points; each field named in their profile adds 1.
* The suggestion is the two or three fields with the most points (at least 3 points; a third field only when it
  has at least half the points of the first). Ties keep the network file's order. Nobody is ever told a field is
  closed to them: the participant sees what they are good at and what could fit, the coordinator the numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.core.i18n import N_, Translator
from bot.core.messages import Choice
from bot.core.network import Network
from bot.core.notify import messages_for
from bot.services.routing import responsible_staff
from flows.engine import END, NO, YES, Flow, InputKind, Next, Step, Turn
from flows.intake import PARTICIPANT, occupation_choices, participant_label, profile_of, validate_words
from flows.menu import MENU_ENTRIES, MenuEntry
from flows.registry import Command, register, start_flow
from storage.models import AuditEntry, Person, PotentialCheck

CRAFTS = ("metal", "electrical", "vehicles", "construction", "wood", "beauty", "agriculture")
Points = dict[str, int]

RULES: dict[str, dict[Any, Points]] = {
    "hands": {
        "hands": dict.fromkeys(CRAFTS, 2),
        "desk": {"office": 2, "it": 2},
        "both": {**dict.fromkeys(CRAFTS, 1), "office": 1, "it": 1},
    },
    "place": {
        "outdoors": {"construction": 2, "agriculture": 2, "logistics": 1},
        "indoors": {"office": 1, "it": 1, "care": 1, "hospitality": 1, "beauty": 1, "electrical": 1},
        "both": {},
    },
    "people": {
        "team": {"hospitality": 1, "care": 1, "construction": 1, "logistics": 1},
        "alone": {"it": 1, "wood": 1, "vehicles": 1},
        "both": {},
    },
    "early": {
        YES: {"agriculture": 1, "construction": 1, "logistics": 1, "hospitality": 1, "care": 1},
        NO: {"agriculture": -1, "construction": -1},
    },
    "physical": {
        "yes": {"construction": 2, "logistics": 2, "agriculture": 2, "metal": 1, "wood": 1},
        "a_little": {"hospitality": 1, "care": 1, "vehicles": 1, "electrical": 1},
        "no": {"construction": -2, "logistics": -2, "agriculture": -2, "metal": -1, "wood": -1},
    },
    "technology": {
        "machines": {"metal": 2, "vehicles": 2, "electrical": 2, "wood": 1},
        "computers": {"it": 3, "office": 1},
        "neither": {},
    },
    "care": {YES: {"care": 3}, NO: {"care": -2}},
    "customers": {
        YES: {"office": 2, "hospitality": 2, "beauty": 2},
        NO: {"office": -1, "hospitality": -1, "beauty": -1},
    },
}
EARLIER_WORK_POINTS = 2
PROFILE_INTEREST_POINTS = 1
MIN_POINTS = 3


def score(answers: dict[str, Any], interests: list[str], fields: list[str]) -> Points:
    """Points per occupational field, by the rules in the module's docstring."""
    points = dict.fromkeys(fields, 0)
    for question, by_answer in RULES.items():
        for field, value in by_answer.get(answers.get(question), {}).items():
            if field in points:
                points[field] += value
    for field in answers.get("earlier") or []:
        if field in points:
            points[field] += EARLIER_WORK_POINTS
    for field in interests:
        if field in points:
            points[field] += PROFILE_INTEREST_POINTS
    return points


def suggest(points: Points) -> list[str]:
    """Two or three fields: the best with at least MIN_POINTS; a third only if it has half the first's points."""
    ranked = sorted((field for field in points if points[field] >= MIN_POINTS), key=lambda f: -points[f])
    chosen = ranked[:2]
    if len(ranked) > 2 and points[ranked[2]] * 2 >= points[ranked[0]]:
        chosen.append(ranked[2])
    return chosen


# ---------------------------------------------------------------------------------------------------------------
# Questions


Pairs = tuple[tuple[str, str], ...]
BOTH = ("both", N_("Both"))
QUESTIONS: tuple[tuple[str, str, InputKind, Pairs], ...] = (
    ("hands", N_("Do you prefer to work with your hands, or at a desk?"), InputKind.CHOICE,
     (("hands", N_("With my hands")), ("desk", N_("At a desk")), BOTH)),
    ("place", N_("Would you rather work indoors or outdoors?"), InputKind.CHOICE,
     (("indoors", N_("Indoors")), ("outdoors", N_("Outdoors")), BOTH)),
    ("people", N_("Do you like to work in a team, or alone?"), InputKind.CHOICE,
     (("team", N_("In a team")), ("alone", N_("Alone")), BOTH)),
    ("early", N_("Could you start work early in the morning, at 6 o'clock?"), InputKind.YES_NO, ()),
    ("physical", N_("Is hard physical work all right for you, for example lifting heavy things?"), InputKind.CHOICE,
     (("yes", N_("Yes")), ("a_little", N_("A little")), ("no", N_("No")))),
    ("technology", N_("What do you like to work with?"), InputKind.CHOICE,
     (("machines", N_("Machines and tools")), ("computers", N_("Computers")), ("neither", N_("Neither")))),
    ("care", N_("Do you like to help and look after people, for example old or sick people?"), InputKind.YES_NO,
     ()),
    ("customers", N_("Do you like talking with customers?"), InputKind.YES_NO, ()),
    ("earlier", N_("In which of these have you worked before, in any country? Choose all that fit, or skip."),
     InputKind.MULTI, ()),
    ("enjoyed", N_("What did you enjoy most in earlier work or at school? Write a few words, or skip."),
     InputKind.TEXT, ()),
)


def _earlier_options(turn: Turn) -> list[Choice]:
    return [c for c in occupation_choices(turn.t, turn.network) if c.key != "other"]


def _options(pairs: Pairs) -> Callable[[Turn], list[Choice]]:
    return lambda turn: [Choice(key, turn.t(label)) for key, label in pairs]


OPTIONAL = {"earlier", "enjoyed"}


def _numbered(index: int, prompt: str) -> Callable[[Turn], str]:
    def render(turn: Turn) -> str:
        head = turn.t(N_("Question {number} of {total}"), number=index + 1, total=len(QUESTIONS))
        return f"{head}\n{turn.t(prompt)}"

    return render


STRENGTHS: dict[tuple[str, Any], str] = {
    ("hands", "hands"): N_("You like to work with your hands."),
    ("hands", "desk"): N_("You like to work at a desk."),
    ("hands", "both"): N_("You can work with your hands and at a desk."),
    ("people", "team"): N_("You like to work in a team."),
    ("people", "alone"): N_("You can work well on your own."),
    ("people", "both"): N_("You can work in a team and on your own."),
    ("early", YES): N_("You can start early in the morning."),
    ("physical", "yes"): N_("You are strong enough for hard physical work."),
    ("technology", "machines"): N_("You like machines and tools."),
    ("technology", "computers"): N_("You like working with computers."),
    ("care", YES): N_("You like to help people."),
    ("customers", YES): N_("You like talking with customers."),
}


def field_names(t: Translator, network: Network, fields: list[str]) -> str:
    return ", ".join(network.occupations[f].name[t.locale] for f in fields if f in network.occupations)


async def _finished(turn: Turn, value: Any) -> Next:
    answers = {name: turn.data.get(name) for name, *_ in QUESTIONS}
    profile = await profile_of(turn)
    interests = list(profile.answers.get("occupations") or [])
    points = score(answers, interests, list(turn.network.occupations))
    suggestions = suggest(points)
    check = PotentialCheck(person_id=turn.person.id, answers=answers, suggestions=suggestions, completed_at=turn.now)
    turn.session.add(check)
    if profile.stage in ("registered", "profile_complete"):
        profile.stage = "potential_check"
    turn.session.add(AuditEntry(actor_id=turn.person.id, subject_id=turn.person.id, action="potential_check.done",
                                details={"suggestions": suggestions}))
    lines = [turn.t(N_("Thank you! Here is what we learned about you:"))]
    lines += [turn.t(text) for (question, answer), text in STRENGTHS.items() if answers.get(question) == answer]
    if suggestions:
        lines.append(turn.t(N_("Work that could suit you: {fields}."),
                            fields=field_names(turn.t, turn.network, suggestions)))
    else:
        lines.append(turn.t(N_("Many kinds of work are possible for you. Let us find out together what you like.")))
    lines.append(turn.t(N_("A coordinator will talk with you about it. Every path starts with a first step, "
                           "and you have taken it today.")))
    turn.send("\n".join(lines))
    await _tell_coordinators(turn, answers, points, suggestions, interests)
    return END


async def _tell_coordinators(turn: Turn, answers: dict[str, Any], points: Points, suggestions: list[str],
                             interests: list[str]) -> None:
    """The coordinators responsible for the participant (`bot.services.routing`) get the result."""
    for coordinator in await responsible_staff(turn.session, turn.network, turn.person):
        turn.outgoing.extend(await messages_for(
            turn.session, coordinator,
            lambda t: coordinator_result(t, turn.network, turn.person, answers, points, suggestions)))


def coordinator_result(t: Translator, network: Network, participant: Person, answers: dict[str, Any],
                       points: Points, suggestions: list[str]) -> str:
    """The structured result: suggested fields with points, then every answer."""
    ranked = sorted((f for f in points if points[f] > 0), key=lambda f: -points[f])[:5]
    scores = ", ".join(f"{network.occupations[f].name[t.locale]} {points[f]}" for f in ranked)
    lines = [
        t(N_("Potential check done: {participant}."), participant=participant_label(t, participant)),
        t(N_("Suggested fields: {fields}."), fields=field_names(t, network, suggestions) or "–"),
        t(N_("Points: {scores}."), scores=scores or "–"),
    ]
    for name, prompt, kind, pairs in QUESTIONS:
        value = answers.get(name)
        if value is None:
            continue
        if name == "earlier":
            shown = field_names(t, network, list(value)) or "–"
        elif kind is InputKind.YES_NO:
            shown = t(N_("Yes")) if value == YES else t(N_("No"))
        else:
            shown = t.isolate(t(dict(pairs)[value]) if value in dict(pairs) else value)
        lines.append(f"• {t(prompt)} {shown}")
    return "\n".join(lines)


def _steps() -> tuple[Step, ...]:
    steps = []
    for index, (name, prompt, kind, pairs) in enumerate(QUESTIONS):
        last = index == len(QUESTIONS) - 1
        options = _earlier_options if name == "earlier" else (_options(pairs) if pairs else None)
        steps.append(Step(
            name=name, prompt=prompt, kind=kind, options=options, text=_numbered(index, prompt),
            optional=name in OPTIONAL, max_length=500, on_answer=_finished if last else None,
            validate=validate_words if kind is InputKind.TEXT else None,
            next=END if last else QUESTIONS[index + 1][0], describe=prompt,
        ))
    return tuple(steps)


async def _intro(turn: Turn, argument: str = "") -> None:
    turn.say(N_("Ten short questions about what kind of work suits you (Kompetenz- und Potenzialcheck). "
                "There are no wrong answers."))
    start_flow(turn, "potential_check")


POTENTIAL_CHECK = Flow(name="potential_check", roles=PARTICIPANT, resume_after_idle=True, steps=_steps())

register(POTENTIAL_CHECK, Command("check", N_("Find out what kind of work suits you"), action=_intro,
                                  roles=PARTICIPANT))
MENU_ENTRIES.append(MenuEntry("check", N_("What work suits me? (Potenzialcheck)"), action=_intro,
                                 roles=PARTICIPANT, order=20))

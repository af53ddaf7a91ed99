"""Volunteers: what they offer, pairing with a participant (with the participant's consent), and their reports.

A volunteer joins by invite (`flows.invites`), consents like a participant, and then says which languages they
speak, where they live, what they offer and when they have time (the participants' weekly grid). A coordinator
pairs a volunteer with a participant (`/pair`), choosing from suggestions ranked like `/find`, with the reasons
shown. A volunteer may also agree to be a language mediator (Sprachmittler) for some of their languages:
then they translate questions coordinators cannot read, seeing only the text (flows/mediation.py). The participant
is asked first; until they agree the volunteer sees nothing, and afterwards only what
accompanying needs (first name, languages, district, goals, times). A volunteer's `/report` is stored on the
case; "missed" and "needs help" reach the responsible coordinator at once, a milestone proposes a stage change
the coordinator confirms with one button, everything else waits for the Monday digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import STAFF, Action, holders, may
from bot.core.i18n import N_, NP_, Translator
from bot.core.messages import Choice, button_key
from bot.core.network import Network
from bot.core.notify import messages_for, translator_for
from bot.core.text import clean_text
from bot.services.routing import is_responsible, responsible_staff
from bot.services.stages import STAGE_RANK, STAGES, has_contract_for, stage_name
from flows.cases import MILESTONES, NOT_YOURS, REPORT_KINDS, change_stage, contract_first, one_participant
from flows.engine import END, STAY, Flow, InputKind, Invalid, Next, Step, Turn, render_prompt
from flows.intake import (
    answer_text,
    chosen_days,
    day_part_choices,
    district_choices,
    first_name,
    for_turn,
    grid,
    language_name,
    participant_label,
    person_label,
    spoken_choices,
    weekday_choices,
)
from flows.mediation import report_for_staff, report_mediator_button, report_mediator_wanted, translate_report
from flows.menu import MENU_ENTRIES, MenuEntry
from flows.onboarding import AFTER_CONSENT
from flows.registry import Command, register, register_button, reprompt, start_flow
from storage.models import AuditEntry, CaseReport, Consent, Pairing, Person, Profile, VolunteerProfile

VOLUNTEER = frozenset({"volunteer"})
OFFERS: dict[str, str] = {
    "tandem": N_("Language tandem"),
    "accompany": N_("Going along to appointments (Termine)"),
    "letters": N_("Help with letters and homework"),
    "mentoring": N_("Mentoring an apprentice (Ausbildung)"),
}
OFFER_FOR_GOAL = {"language_course": "tandem", "apprenticeship": "mentoring", "internship": "mentoring",
                  "work": "mentoring", "recognition": "letters"}
MAX_REPORT = 2000
MAX_SUGGESTIONS = 8
URGENT = ("missed", "needs_help")
VOLUNTEER_CONSENT_VERSION = "2026-12"


# ---------------------------------------------------------------------------------------------------------------
# The volunteer's own profile


def volunteer_language_choices(t: Translator, network: Network) -> list[Choice]:
    """German first, then the participants' languages (the intake's list)."""
    return [Choice("de", language_name(t, "de")), *spoken_choices(t, network)]


def offer_choices(t: Translator, network: Network) -> list[Choice]:
    return [Choice(key, t(label)) for key, label in OFFERS.items()]


def volunteer_summary(t: Translator, network: Network, profile: VolunteerProfile) -> list[str]:
    languages = {c.key: c.label for c in volunteer_language_choices(t, network)}
    offers = {c.key: c.label for c in offer_choices(t, network)}
    district = network.districts.get(profile.district or "")
    mediates = ", ".join(languages.get(k, k) for k in (profile.mediates or []))
    return [
        t(N_("Languages: {languages}"), languages=", ".join(languages.get(k, k) for k in profile.languages) or "–"),
        t(N_("Language mediator (Sprachmittler) for: {languages}"), languages=mediates) if mediates else
        t(N_("Language mediator (Sprachmittler): no")),
        t(N_("District: {district}"), district=district.name[t.locale] if district else "–"),
        t(N_("Offers: {offers}"), offers=", ".join(offers.get(k, k) for k in profile.offers) or "–"),
        t(N_("Times: {times}"), times=answer_text(t, network, {"availability": profile.availability},
                                                  "availability")),
    ]


async def _offer_saved(turn: Turn, value: Any) -> Next:
    profile = await turn.session.get(VolunteerProfile, turn.person.id)
    if profile is None:
        profile = VolunteerProfile(person_id=turn.person.id)
        turn.session.add(profile)
    profile.languages = list(turn.data["languages"])
    profile.district = str(turn.data["district"])
    profile.offers = list(turn.data["offers"])
    profile.availability = grid(chosen_days(turn.data.get("availability")), list(value))
    profile.mediates = [code for code in turn.data.get("mediates") or [] if code in profile.languages]
    profile.completed_at = turn.now
    turn.person.district = profile.district
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=turn.person.id,
                                action="volunteer.profile"))
    turn.send("\n".join([turn.t(N_("Thank you! This is what coordinators see when they look for a volunteer:")),
                         *volunteer_summary(turn.t, turn.network, profile),
                         "", turn.t(N_("You can change it at any time with /offer."))]))
    return END


def mediable(turn: Turn) -> list[Choice]:
    """The languages a volunteer speaks that a coordinator may not read: all but German and English."""
    chosen = set(turn.data.get("languages") or [])
    return [choice for choice in volunteer_language_choices(turn.t, turn.network)
            if choice.key in chosen and choice.key not in ("de", "en")]


async def _where_they_live(turn: Turn) -> str:
    """The district step, unless Lotse knows it already: a volunteer the network file places in a district (the
    demo's Jana) is not asked it on their first /offer; a later /offer asks again, so it can be changed."""
    known = turn.person.district
    if known in turn.network.districts and await turn.session.get(VolunteerProfile, turn.person.id) is None:
        turn.data["district"] = known
        return "offers"
    return "district"


async def _languages_chosen(turn: Turn, value: Any) -> Next:
    turn.data["mediates"] = []
    return "mediate" if mediable(turn) else await _where_they_live(turn)


async def _mediate_chosen(turn: Turn, value: Any) -> Next:
    if value != "yes":
        return await _where_they_live(turn)
    choices = mediable(turn)
    if len(choices) == 1:
        turn.data["mediates"] = [choices[0].key]
        return await _where_they_live(turn)
    return "mediates"


async def _mediates_chosen(turn: Turn, value: Any) -> Next:
    turn.data["mediates"] = list(value)
    return await _where_they_live(turn)


OFFER = Flow(name="offer", roles=VOLUNTEER, steps=(
    Step(name="languages", prompt=N_("Which languages do you speak? Choose all that fit."), kind=InputKind.MULTI,
         options=for_turn(volunteer_language_choices), on_answer=_languages_chosen, describe="languages",
         branches=(("another language than German", "mediate"), ("only German", "district"),
                   ("district known", "offers"))),
    Step(name="mediate", prompt=N_("Would you also translate as a language mediator (Sprachmittler)? Coordinators "
                                   "who cannot read a question would send you its text only: no name, no phone. "
                                   "You translate it into German or English, or say \"Not now\"."),
         kind=InputKind.YES_NO, on_answer=_mediate_chosen, describe="language mediator?",
         branches=(("yes, several languages", "mediates"), ("yes, one language / no", "district"),
                   ("district known", "offers"))),
    Step(name="mediates", prompt=N_("From which languages can you translate?"), kind=InputKind.MULTI,
         options=mediable, on_answer=_mediates_chosen, describe="languages mediated",
         branches=(("", "district"), ("district known", "offers"))),
    Step(name="district", prompt=N_("Where do you live? Choose your district (Landkreis) or city."),
         kind=InputKind.CHOICE, options=for_turn(district_choices), next="offers", describe="district"),
    Step(name="offers", prompt=N_("What can you offer? Choose all that fit."), kind=InputKind.MULTI,
         options=for_turn(offer_choices), next="availability", describe="tandem, going along, letters, mentoring"),
    Step(name="availability", prompt=N_("On which days do you have time? Choose all that fit."),
         kind=InputKind.MULTI, options=for_turn(weekday_choices), next="times",
         describe="the participants' weekly grid, first the days"),
    Step(name="times", prompt=N_("At what times of day? Choose all that fit."), kind=InputKind.MULTI,
         options=for_turn(day_part_choices), on_answer=_offer_saved, next=END,
         describe="then the times of day; then saved"),
))


async def _volunteer_after_consent(turn: Turn) -> Next:
    if turn.person.district in turn.network.districts:  # the district is known: one question less
        turn.say(N_("Thank you for helping! Four short questions about what you can offer, so that coordinators "
                    "can find the right person for you."))
        start_flow(turn, "offer")
        return STAY
    turn.say(N_("Thank you for helping! Five short questions about what you can offer, so that coordinators "
                "can find the right person for you."))
    start_flow(turn, "offer")
    return STAY


# ---------------------------------------------------------------------------------------------------------------
# Suggestions: volunteers ranked for a participant, with the reasons shown


@dataclass
class Suggestion:
    volunteer: Person
    profile: VolunteerProfile
    points: int = 0
    reasons: list[str] = field(default_factory=list)


def rank_volunteers(t: Translator, network: Network, participant: Person, answers: dict[str, Any],
                    candidates: list[tuple[Person, VolunteerProfile, int]]) -> list[Suggestion]:
    """Shared language counts most, then district, shared times and an offer that fits a goal.

    `candidates` carries how many participants each volunteer already accompanies: fewer ranks higher on a tie.
    """
    # Languages by their base: a participant reading Dari (fa_AF) shares Persian (fa) with a volunteer.
    spoken = {code.split("_")[0] for code in (participant.locale or "", *(answers.get("languages") or []))} - {""}
    times = set(answers.get("availability") or [])
    wanted = {OFFER_FOR_GOAL[g] for g in (answers.get("goals") or []) if g in OFFER_FOR_GOAL}
    found: list[tuple[Suggestion, int]] = []
    for volunteer, profile, load in candidates:
        suggestion = Suggestion(volunteer, profile)
        shared = [code for code in profile.languages if code.split("_")[0] in spoken]
        if shared:
            suggestion.points += 4
            suggestion.reasons.append(t(N_("speaks {languages}"), languages=", ".join(
                language_name(t, code) for code in shared)))
        if participant.district and profile.district == participant.district:
            suggestion.points += 3
            suggestion.reasons.append(t(N_("same district")))
        overlap = len(times & set(profile.availability))
        if overlap:
            suggestion.points += min(overlap, 5)
            suggestion.reasons.append(t.plural(NP_("{count} shared time", "{count} shared times"), overlap))
        fitting = [key for key in profile.offers if key in wanted]
        if fitting:
            suggestion.points += 2
            suggestion.reasons.append(", ".join(t(OFFERS[key]) for key in fitting))
        elif "accompany" in profile.offers:
            suggestion.points += 1
            suggestion.reasons.append(t(OFFERS["accompany"]))
        found.append((suggestion, load))
    found.sort(key=lambda pair: (-pair[0].points, pair[1], pair[0].volunteer.id))
    return [suggestion for suggestion, _ in found]


async def suggestions_for(session: AsyncSession, t: Translator, network: Network,
                          participant: Person) -> list[Suggestion]:
    profile = await session.get(Profile, participant.id)
    rows = (await session.execute(select(Person, VolunteerProfile).join(
        VolunteerProfile, VolunteerProfile.person_id == Person.id).where(
        Person.role.in_(holders(Action.ACCOMPANY)), VolunteerProfile.completed_at.is_not(None)))).all()
    loads: dict[int, int] = {}
    for volunteer_id in (await session.scalars(select(Pairing.volunteer_id).where(
            Pairing.status.in_(("asked", "active"))))).all():
        loads[volunteer_id] = loads.get(volunteer_id, 0) + 1
    candidates = [(person, volunteer, loads.get(person.id, 0)) for person, volunteer in rows]
    return rank_volunteers(t, network, participant, profile.answers if profile else {}, candidates)


# ---------------------------------------------------------------------------------------------------------------
# /pair: a coordinator links a volunteer to a participant


async def pair_command(turn: Turn, argument: str) -> None:
    if not clean_text(argument):
        start_flow(turn, "pair")
        return
    participant = await one_participant(turn, argument)
    if participant is not None:
        await _offer_suggestions(turn, participant)


async def _offer_suggestions(turn: Turn, participant: Person) -> bool:
    """Shows the ranked volunteers with the reason for each, as the choices of the pairing's question."""
    suggestions = (await suggestions_for(turn.session, turn.t, turn.network, participant))[:MAX_SUGGESTIONS]
    if not suggestions:
        turn.say(N_("No volunteer has told us yet what they offer. Invite volunteers with /invite."))
        return False
    lines = [turn.t(N_("Volunteers for {participant}, the best fit first:"),
                    participant=participant_label(turn.t, participant))]
    labels: dict[str, str] = {}
    for number, suggestion in enumerate(suggestions, start=1):
        label = person_label(turn.t, turn.network, suggestion.volunteer)
        labels[str(suggestion.volunteer.id)] = label
        why = "; ".join(suggestion.reasons) or turn.t(N_("no match yet, but available"))
        lines.append(f"{number}. {label} – {why}")
    text = "\n".join([*lines, "", turn.t(N_("Which volunteer?"))])
    start_flow(turn, "pair", {"participant": participant.id, "_labels": labels, "_text": text}, at="volunteer")
    return True


async def _who(turn: Turn, value: Any) -> Next:
    participant = await one_participant(turn, str(value))
    if participant is None:
        render_prompt(turn, PAIR.step("who"))
        return STAY
    if not await _offer_suggestions(turn, participant):
        return END
    return STAY


def volunteer_options(turn: Turn) -> list[Choice]:
    labels: dict[str, str] = turn.data.get("_labels", {})
    return [Choice(key, label) for key, label in labels.items()]


def suggestion_prompt(turn: Turn) -> str:
    return str(turn.data.get("_text") or turn.t(N_("Which volunteer?")))


async def _volunteer_chosen(turn: Turn, value: Any) -> Next:
    participant = await turn.session.get(Person, int(turn.data.get("participant", 0)))
    volunteer = await turn.session.get(Person, int(value))
    if participant is None or volunteer is None or not may(volunteer, Action.ACCOMPANY) or \
            not await is_responsible(turn.session, turn.network, turn.person, participant):
        turn.say(NOT_YOURS)
        return END
    existing = (await turn.session.scalars(select(Pairing).where(
        Pairing.participant_id == participant.id, Pairing.volunteer_id == volunteer.id,
        Pairing.status.in_(("asked", "active"))))).first()
    if existing is not None:
        turn.say(N_("{volunteer} is already paired with {participant}, or the participant was already asked."),
                 volunteer=person_label(turn.t, turn.network, volunteer),
                 participant=participant_label(turn.t, participant))
        return END
    pairing = Pairing(volunteer_id=volunteer.id, participant_id=participant.id, coordinator_id=turn.person.id,
                      status="asked", created_at=turn.now)
    turn.session.add(pairing)
    await turn.session.flush()
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=participant.id, action="pairing.asked",
                                details={"pairing": pairing.id, "volunteer": volunteer.id}))
    volunteer_name = first_name(translator_for(participant), turn.network, volunteer)  # in their language
    reached = await turn.tell(participant, N_(
        "The network would like a volunteer, {volunteer}, to accompany you: for example to appointments (Termine), "
        "with letters or with German. {volunteer} would see your first name, your languages, your district, your "
        "goals and when you have time. Nothing else. Do you agree?"), volunteer=volunteer_name,
        choices=[Choice(button_key("pr", f"yes:{pairing.id}"), translator_label(participant, N_("Yes, I agree"))),
                 Choice(button_key("pr", f"no:{pairing.id}"), translator_label(participant, N_("No, thank you")))])
    if not reached:
        turn.say(N_("The participant cannot be reached at the moment (they may have blocked the bot). "
                    "The request is saved."))
    turn.say(N_("We asked {participant} for consent. {volunteer} sees nothing until they agree. "
                "You will hear the answer here."), participant=participant_label(turn.t, participant),
             volunteer=person_label(turn.t, turn.network, volunteer))
    return END


def translator_label(person: Person, message: str) -> str:
    return translator_for(person)(message)


PAIR = Flow(name="pair", roles=STAFF, steps=(
    Step(name="who", prompt=N_("Whom should a volunteer accompany? Write a name or a number."), kind=InputKind.TEXT,
         max_length=100, on_answer=_who, describe="participant by name or number",
         branches=(("suggestions", "volunteer"),)),
    Step(name="volunteer", prompt=N_("Which volunteer?"), kind=InputKind.CHOICE, options=volunteer_options,
         text=suggestion_prompt, on_answer=_volunteer_chosen, next=END,
         describe="ranked suggestions with reasons; then the participant is asked"),
))


async def _pairing_button(turn: Turn, payload: str) -> None:
    answer, _, number = payload.partition(":")
    pairing = await turn.session.get(Pairing, int(number)) if number.isdigit() and len(number) < 10 else None
    if pairing is None or pairing.participant_id != turn.person.id or pairing.status != "asked" or \
            answer not in ("yes", "no"):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    agreed = answer == "yes"
    pairing.status, pairing.decided_at = ("active" if agreed else "declined"), turn.now
    turn.session.add(Consent(person_id=turn.person.id, kind=f"volunteer:{pairing.volunteer_id}",
                             version=VOLUNTEER_CONSENT_VERSION, given=agreed, at=turn.now))
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=turn.person.id,
                                action="pairing.agreed" if agreed else "pairing.declined",
                                details={"pairing": pairing.id}))
    volunteer = await turn.session.get_one(Person, pairing.volunteer_id)
    coordinator = await turn.session.get(Person, pairing.coordinator_id) if pairing.coordinator_id else None
    participant = turn.person
    if agreed:
        turn.say(N_("Thank you. {volunteer} will accompany you. The network will tell you how you meet."),
                 volunteer=first_name(turn.t, turn.network, volunteer))
        profile = await turn.session.get(Profile, participant.id)
        turn.outgoing.extend(await messages_for(turn.session, volunteer, lambda t: "\n".join([
            t(N_("You now accompany {participant}. What you need to know:"),
              participant=participant_label(t, participant)),
            *needed_lines(t, turn.network, participant, profile),
            "", t(N_("Tell the network how it goes with /report."))])))
        if coordinator is not None:
            turn.outgoing.extend(await messages_for(turn.session, coordinator, lambda t: t(
                N_("{participant} agreed: {volunteer} accompanies them now."),
                participant=participant_label(t, participant), volunteer=person_label(t, turn.network, volunteer))))
    else:
        turn.say(N_("That is fine. Nothing was shared with the volunteer."))
        if coordinator is not None:
            turn.outgoing.extend(await messages_for(turn.session, coordinator, lambda t: t(
                N_("{participant} does not want {volunteer} as a volunteer. Nothing was shared."),
                participant=participant_label(t, participant), volunteer=person_label(t, turn.network, volunteer))))
    reprompt(turn)  # back to whatever they were doing (the intake, the menu)


def needed_lines(t: Translator, network: Network, participant: Person, profile: Profile | None) -> list[str]:
    """Only what accompanying needs: no phone, no work history, no potential check, no questions."""
    answers = {**(profile.answers if profile else {}), "district": participant.district}
    languages = [language_name(t, participant.locale or "en"), *(
        language_name(t, code) for code in (answers.get("languages") or []))]
    return [
        t(N_("Languages: {languages}"), languages=", ".join(dict.fromkeys(languages))),
        t(N_("District: {district}"), district=answer_text(t, network, answers, "district")),
        t(N_("Goals: {goals}"), goals=answer_text(t, network, answers, "goals")),
        t(N_("Times: {times}"), times=answer_text(t, network, answers, "availability")),
    ]


# ---------------------------------------------------------------------------------------------------------------
# /report: a volunteer tells the network how it goes


async def paired_participants(session: AsyncSession, volunteer_id: int) -> list[Person]:
    return list((await session.scalars(select(Person).join(Pairing, Pairing.participant_id == Person.id).where(
        Pairing.volunteer_id == volunteer_id, Pairing.status == "active").order_by(Person.id))).all())


def paired_options(turn: Turn) -> list[Choice]:
    labels: dict[str, str] = turn.data.get("_paired", {})
    return [Choice(key, label) for key, label in labels.items()]


NOT_PAIRED = N_("You can only report on the participants you accompany. Write /report and choose one of them.")


async def report_command(turn: Turn, argument: str) -> None:
    paired = await paired_participants(turn.session, turn.person.id)
    if not paired:
        turn.say(N_("You do not accompany anyone yet. A coordinator will pair you with a participant."))
        return
    labels = {str(p.id): participant_label(turn.t, p) for p in paired}
    wanted = clean_text(argument).lstrip("#")
    if wanted:
        if wanted not in labels:
            turn.say(NOT_PAIRED)
            turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, action="report.refused",
                                        details={"asked": wanted[:20]}))
            return
        start_flow(turn, "report", {"_paired": labels, "who": wanted}, at="kind")
        return
    start_flow(turn, "report", {"_paired": labels})


def kind_options(turn: Turn) -> list[Choice]:
    return [Choice(key, turn.t(label)) for key, label in REPORT_KINDS.items()]


def milestone_options(turn: Turn) -> list[Choice]:
    return [Choice(key, turn.t(label)) for key, label in MILESTONES.items()]


async def _kind_chosen(turn: Turn, value: Any) -> Next:
    return "milestone" if value == "milestone" else "text"


def _report_text(turn: Turn, value: Any) -> dict[str, Any]:
    if value["attachment"] is None and not any(ch.isalnum() for ch in value["text"]):
        raise Invalid(N_("Please write a few words, not only emoji or signs."))
    return dict(value)


async def _reported(turn: Turn, value: Any) -> Next:
    participant = await turn.session.get(Person, int(turn.data.get("who", 0)))
    active = participant is not None and (await turn.session.scalar(select(Pairing.id).where(
        Pairing.participant_id == participant.id, Pairing.volunteer_id == turn.person.id,
        Pairing.status == "active").limit(1))) is not None
    if participant is None or not active:
        turn.say(NOT_PAIRED)
        return END
    kind = str(turn.data["kind"])
    report = CaseReport(participant_id=participant.id, volunteer_id=turn.person.id, kind=kind,
                        milestone=turn.data.get("milestone") if kind == "milestone" else None,
                        text=value["text"] or None, attachment=value["attachment"], needs_action=kind in URGENT,
                        created_at=turn.now)
    turn.session.add(report)
    await turn.session.flush()
    turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=participant.id, action="report.added",
                                details={"report": report.id, "kind": kind}))
    if kind in URGENT or kind == "milestone":
        told = await tell_coordinators(turn, participant, report)
        if kind in URGENT:
            turn.say(N_("Thank you. Your report is saved, and a coordinator was told at once.") if told else
                     N_("Thank you. Your report is saved. It is in the coordinators' weekly overview."))
        else:
            turn.say(N_("Thank you. Your report is saved. A coordinator will confirm the new stage."))
    else:  # translated now for the weekly overview and /case; nobody is told
        coordinators = await responsible_coordinators(turn.session, turn.network, participant)
        turn.outgoing.extend(await translate_report(turn.session, report, turn.person.locale or "de", coordinators,
                                                    turn.now))
        turn.say(N_("Thank you. Your report is saved. The coordinators will see it in their weekly overview."))
    return END


async def responsible_coordinators(session: AsyncSession, network: Network, participant: Person) -> list[Person]:
    """The coordinator who made the pairing, else those responsible for the participant (`bot.services.routing`)."""
    pairing = (await session.scalars(select(Pairing).where(
        Pairing.participant_id == participant.id, Pairing.status == "active",
        Pairing.coordinator_id.is_not(None)).order_by(Pairing.id.desc()).limit(1))).first()
    if pairing is not None and pairing.coordinator_id is not None:
        made_by = await session.get(Person, pairing.coordinator_id)
        if made_by is not None and may(made_by, Action.BE_RESPONSIBLE):
            return [made_by]
    return await responsible_staff(session, network, participant)


def skipped_stages(current: str | None, target: str) -> list[str]:
    """The stages between the participant's current one and a milestone's, in order: what the move jumps over."""
    low, high = STAGE_RANK.get(current or "registered", 0), STAGE_RANK.get(target, 0)
    return [key for key, _ in STAGES if low < STAGE_RANK[key] < high]


def stage_names(t: Translator, stages: list[str]) -> str:
    return t.comma.join(stage_name(t, stage) for stage in stages)


def report_notice(t: Translator, network: Network, participant: Person, volunteer: Person,
                  report: CaseReport, current_stage: str | None = None) -> str:
    """The report as a coordinator sees it; in a language they do not read, the translation below the original.
    A milestone that would move the participant over stages names them, so the confirmation is not blind."""
    kind = t(REPORT_KINDS[report.kind])
    lines = [t(N_("Report from volunteer {volunteer} about {participant}: {kind}"),
               volunteer=person_label(t, network, volunteer), participant=participant_label(t, participant),
               kind=kind)]
    if report.kind == "milestone" and report.milestone:
        lines.append(t(N_("Proposed new stage: {stage}"), stage=stage_name(t, report.milestone)))
        skipped = skipped_stages(current_stage, report.milestone)
        if skipped:
            lines.append(t(N_("Now at: {current}. Confirming skips these stages: {stages}."),
                           current=stage_name(t, current_stage or "registered"), stages=stage_names(t, skipped)))
    if report.text:
        lines += ["", *report_for_staff(t, report, volunteer.locale or "de")]
    if report.attachment:
        lines.append(t(N_("[voice message or file]")))
    lines += ["", t(N_("The whole case: /case {number}"), number=participant.id)]
    return "\n".join(lines)


async def tell_coordinators(turn: Turn, participant: Person, report: CaseReport) -> bool:
    coordinators = await responsible_coordinators(turn.session, turn.network, participant)
    to_mediator = await translate_report(turn.session, report, turn.person.locale or "de", coordinators, turn.now)
    profile = await turn.session.get(Profile, participant.id)
    current = profile.stage if profile else None
    told = 0
    for coordinator in coordinators:
        def buttons(t: Translator) -> list[Choice]:
            """A milestone's confirmation; "Ask a mediator" (last) for a report they cannot read, translated by
            an engine or not, when no mediator was asked yet."""
            found = []
            if report.kind == "milestone" and report.milestone:
                found.append(Choice(button_key("ms", f"ok:{report.id}"),
                                    t(N_("Confirm: {stage}"), stage=stage_name(t, report.milestone))))
            if report_mediator_wanted(t, report, turn.person.locale or "de"):
                found.append(report_mediator_button(t, report))
            return found

        found = await messages_for(turn.session, coordinator,
                                   lambda t: report_notice(t, turn.network, participant, turn.person, report,
                                                           current),
                                   buttons)
        turn.outgoing.extend(found)
        told += len(found)
    turn.outgoing.extend(to_mediator)  # after the coordinators' notice, which says a volunteer was asked
    return told > 0


REPORT = Flow(name="report", roles=VOLUNTEER, steps=(
    Step(name="who", prompt=N_("About whom is your report?"), kind=InputKind.CHOICE, options=paired_options,
         next="kind", describe="only participants paired with this volunteer"),
    Step(name="kind", prompt=N_("What happened?"), kind=InputKind.CHOICE, options=kind_options,
         on_answer=_kind_chosen, describe="attended, missed, needs help, milestone, other",
         branches=(("milestone", "milestone"), ("other kinds", "text"))),
    Step(name="milestone", prompt=N_("Which milestone?"), kind=InputKind.CHOICE, options=milestone_options,
         next="text", describe="potential check, internship, apprenticeship, job"),
    Step(name="text", prompt=N_("Please write a few words, or send a voice message."), kind=InputKind.MESSAGE,
         validate=_report_text, on_answer=_reported, next=END, max_length=MAX_REPORT,
         describe="text or voice; stored; urgent ones and milestones to the coordinator at once"),
))


async def _milestone_button(turn: Turn, payload: str) -> None:
    """A coordinator confirms the stage a volunteer's milestone report proposes."""
    action, _, number = payload.partition(":")
    report = await turn.session.get(CaseReport, int(number)) if number.isdigit() and len(number) < 10 else None
    participant = await turn.session.get(Person, report.participant_id) if report else None
    if action != "ok" or report is None or participant is None or not report.milestone or \
            not may(turn.person, Action.WORK_AS_STAFF) or \
            not await is_responsible(turn.session, turn.network, turn.person, participant):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    if report.confirmed_at is not None:
        turn.say(N_("This stage change was already confirmed."))
        return
    if not await has_contract_for(turn.session, participant.id, report.milestone):  # the goal follows a contract
        contract_first(turn, participant.id, report.milestone)
        return
    report.confirmed_at, report.confirmed_by_id = turn.now, turn.person.id
    profile = await turn.session.get(Profile, participant.id)
    current = profile.stage if profile else "registered"
    if STAGE_RANK.get(current, 0) >= STAGE_RANK[report.milestone] and current != report.milestone:
        turn.say(N_("{participant} is already further along ({stage}). The stage stays as it is; the report is "
                    "kept on the case."), participant=participant_label(turn.t, participant),
                 stage=stage_name(turn.t, current))
        return
    reason = f"#{report.id}: {report.text or ''}".strip()[:MAX_REPORT]
    skipped = skipped_stages(current, report.milestone)
    await change_stage(turn.session, participant.id, report.milestone, turn.person.id, turn.now, reason=reason,
                       report_id=report.id)
    if skipped:
        turn.say(N_("Recorded: {participant} is now at stage {stage}. These stages were skipped: {stages}."),
                 participant=participant_label(turn.t, participant), stage=stage_name(turn.t, report.milestone),
                 stages=stage_names(turn.t, skipped))
        return
    turn.say(N_("Recorded: {participant} is now at stage {stage}."),
             participant=participant_label(turn.t, participant), stage=stage_name(turn.t, report.milestone))


# ---------------------------------------------------------------------------------------------------------------
# Ending a pairing, and the volunteer's own list


async def unpair_command(turn: Turn, argument: str) -> None:
    """Ends a participant's pairings (the volunteer is told, and sees nothing more of them)."""
    if not clean_text(argument):
        turn.say(N_("Please write the participant's name or number, for example /unpair 12."))
        return
    participant = await one_participant(turn, argument)
    if participant is None:
        return
    pairings = (await turn.session.scalars(select(Pairing).where(
        Pairing.participant_id == participant.id, Pairing.status.in_(("asked", "active"))))).all()
    if not pairings:
        turn.say(N_("{participant} has no volunteer."), participant=participant_label(turn.t, participant))
        return
    for pairing in pairings:
        pairing.status, pairing.decided_at = "ended", turn.now
        volunteer = await turn.session.get(Person, pairing.volunteer_id)
        if volunteer is not None:
            turn.outgoing.extend(await messages_for(turn.session, volunteer, lambda t: t(
                N_("You no longer accompany {participant}. Thank you for your help!"),
                participant=participant_label(t, participant))))
        turn.session.add(AuditEntry(at=turn.now, actor_id=turn.person.id, subject_id=participant.id,
                                    action="pairing.ended",
                                    details={"pairing": pairing.id}))
    turn.say(N_("{participant} no longer has a volunteer."), participant=participant_label(turn.t, participant))


async def show_mine(turn: Turn, argument: str = "") -> None:
    """The participants a volunteer accompanies, with only what accompanying needs."""
    paired = await paired_participants(turn.session, turn.person.id)
    if not paired:
        turn.say(N_("You do not accompany anyone yet. A coordinator will pair you with a participant."))
        return
    lines: list[str] = []
    for participant in paired:
        profile = await turn.session.get(Profile, participant.id)
        lines += [participant_label(turn.t, participant), *needed_lines(turn.t, turn.network, participant, profile),
                  ""]
    turn.send("\n".join(lines).strip())


async def _offer_entry(turn: Turn) -> None:
    start_flow(turn, "offer")


async def _report_entry(turn: Turn) -> None:
    await report_command(turn, "")


register(OFFER, Command("offer", N_("What you offer as a volunteer"), flow="offer", roles=VOLUNTEER))
register(REPORT, Command("report", N_("Report how it goes with a participant"), action=report_command,
                         roles=VOLUNTEER))
register(PAIR, Command("pair", N_("Pair a volunteer with a participant: /pair NAME or NUMBER"), action=pair_command,
                       roles=STAFF))
register(None, Command("unpair", N_("End a participant's pairing: /unpair NAME or NUMBER"), action=unpair_command,
                        roles=STAFF),
         Command("mine", N_("The participants you accompany"), action=show_mine, roles=VOLUNTEER))
register_button("pr", _pairing_button)
register_button("ms", _milestone_button)
AFTER_CONSENT["volunteer"] = _volunteer_after_consent
MENU_ENTRIES.extend([
    MenuEntry("report", N_("Report how it goes"), action=_report_entry, roles=VOLUNTEER, order=5),
    MenuEntry("mine", N_("Your participants"), action=lambda turn: show_mine(turn), roles=VOLUNTEER, order=7),
    MenuEntry("offer", N_("What you offer"), action=_offer_entry, roles=VOLUNTEER, order=10),
    MenuEntry("pair", N_("Pair a volunteer"), flow="pair", roles=STAFF, order=20),
])

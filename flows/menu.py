"""The main menu: only entries that work for this person's role; later capabilities add theirs here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from bot.core.access import ALL_ROLES, Action, may
from bot.core.i18n import N_
from bot.core.messages import Choice
from flows.engine import STAY, Flow, Goto, InputKind, Next, Step, Turn
from flows.onboarding import privacy_notice, staff_notice
from flows.open_choices import offers_own_choices
from flows.registry import help_text, register, start_flow
from storage.models import Consent


@dataclass(frozen=True, slots=True)
class MenuEntry:
    key: str
    label: str
    flow: str | None = None
    action: Callable[[Turn], Awaitable[None]] | None = None
    roles: frozenset[str] = ALL_ROLES
    order: int = 50
    """Position in the menu: a capability's entries come before language, privacy and help (80-90)."""


HELP_TEXT = N_(
    "You can write these commands at any time:\n"
    "/menu – the main menu\n"
    "/back – the previous question\n"
    "/cancel – stop what you are doing\n"
    "/language – change the language\n"
    "/help – this help"
)


async def show_help(turn: Turn) -> None:
    turn.send(help_text(turn, HELP_TEXT))


async def show_privacy(turn: Turn) -> None:
    if may(turn.person, Action.GIVE_CONSENT):  # their rights: a copy, deletion, withdrawing consent
        await open_privacy(turn)
        return
    if turn.person.role not in ("participant", "volunteer"):  # staff and company contacts consent to nothing here
        turn.send(staff_notice(turn))
        return
    notice = privacy_notice(turn).rsplit("\n\n", 1)[0]
    turn.send(notice)
    consent = await turn.session.scalar(
        Consent.__table__.select()
        .with_only_columns(Consent.at)
        .where(Consent.person_id == turn.person.id, Consent.kind == "privacy", Consent.given.is_(True))
        .order_by(Consent.at.desc())
        .limit(1)
    )
    if consent is not None:
        turn.say(N_("You agreed on {date}."), date=turn.t.date(consent))


MENU_ENTRIES: list[MenuEntry] = [
    MenuEntry("language", N_("Change language"), flow="language", order=80),
    MenuEntry("privacy", N_("About your data"), action=show_privacy, order=85),
    MenuEntry("help", N_("Help"), action=show_help, order=90),
]


def entries_for(turn: Turn) -> list[MenuEntry]:
    return sorted((entry for entry in MENU_ENTRIES if may(turn.person, Action.USE, entry)), key=lambda e: e.order)


def menu_options(turn: Turn) -> list[Choice]:
    return [Choice(entry.key, turn.t(entry.label)) for entry in entries_for(turn)]


async def _chosen(turn: Turn, key: Any) -> Next:
    entry = next(entry for entry in entries_for(turn) if entry.key == key)
    if entry.action is not None:
        await entry.action(turn)
        if turn.state.get("flow") != "menu" or offers_own_choices(turn):
            return STAY  # the menu stays where it is, unshown: a number answers what the entry just sent
        return Goto("menu")
    return Goto(entry.flow or "menu")


MENU = Flow(
    name="menu",
    steps=(
        Step(
            name="menu",
            prompt=N_("What would you like to do?"),
            kind=InputKind.CHOICE,
            options=menu_options,
            on_answer=_chosen,
            describe="entries for the person's role",
            branches=tuple((entry.key, entry.flow or "menu") for entry in MENU_ENTRIES),
        ),
    ),
)


async def open_privacy(turn: Turn, argument: str = "") -> None:
    """A participant's or volunteer's rights (a copy, deletion, withdrawing consent): the privacy flow."""
    since = await turn.session.scalar(
        select(Consent.at).where(Consent.person_id == turn.person.id, Consent.kind == "privacy",
                                 Consent.given.is_(True)).order_by(Consent.at.desc()).limit(1))
    start_flow(turn, "privacy", {"since": since.isoformat() if since and turn.person.privacy_version else None})


register(MENU)

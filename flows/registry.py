"""Where capabilities plug in: their flows, commands and buttons by name, and how a flow is started.

Every capability module imports this (never the runner in `flows.conversation`), so the runner can import the
menu and onboarding without a loop."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bot.core.access import ALL_ROLES, Action, may, may_start, needs_consent
from bot.core.i18n import N_
from flows.engine import Flow, Step, Turn, render_prompt

FLOWS: dict[str, Flow] = {}
"""Every declared flow by name; each module registers its own with `register` (onboarding, menu, capabilities)."""

COMMANDS: dict[str, str] = {
    "start": N_("Start or start again"),
    "menu": N_("Main menu"),
    "back": N_("Previous question"),
    "cancel": N_("Stop what you are doing"),
    "language": N_("Change the language"),
    "help": N_("What you can write"),
}
"""Commands that work in every step, with the description platforms show in their command menu."""
_COMMAND = re.compile(r"^[/!]([A-Za-z_]{1,32})(?:@\w+)?(?:\s+(.*))?$", re.DOTALL)

CommandAction = Callable[[Turn, str], Awaitable[None]]
ButtonAction = Callable[[Turn, str], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Command:
    """A capability's command: it starts a flow (the argument lands in `data["argument"]`) or runs an action.

    Roles are checked here for every command, with the same rule as for flows (`bot.core.access`).
    """

    name: str
    description: str
    flow: str | None = None
    action: CommandAction | None = None
    roles: frozenset[str] = ALL_ROLES
    needs_consent: bool = True


FEATURE_COMMANDS: dict[str, Command] = {}
START_ARGUMENT: list[CommandAction] = []
"""Who handles `/start CODE` (a Telegram deep link or a typed invite code); at most one capability."""
Interceptor = Callable[[Turn], Awaitable[bool]]
INTERCEPTORS: list[Interceptor] = []
"""Looked at before the current question for plain messages: a reply to a ticket notification, a participant's
follow-up to an open question. Each returns True when it took the message."""
BUTTON_ACTIONS: dict[str, ButtonAction] = {}
"""Buttons that live outside the current question (a reminder's "I'll be there"): key `@prefix:payload`.

The handler gets the payload and must itself check that it acts on the presser's own data.
"""


def register(flow: Flow | None = None, *commands: Command) -> None:
    """Adds a capability's flow and commands; each capability module calls this once at import."""
    if flow is not None:
        FLOWS[flow.name] = flow
    for command in commands:
        if command.name in COMMANDS or command.name in FEATURE_COMMANDS:
            raise ValueError(f"command /{command.name} is registered twice")
        FEATURE_COMMANDS[command.name] = command


def register_button(prefix: str, action: ButtonAction) -> None:
    """Adds the handler of buttons outside the current question; the press also answers the notice it came on."""
    if prefix in BUTTON_ACTIONS:
        raise ValueError(f"button prefix {prefix!r} is registered twice")
    BUTTON_ACTIONS[prefix] = action




def commands_for(role: str | None) -> dict[str, str]:
    """Command name -> description for a role (None: what the platform menu shows everyone)."""
    listed = dict(COMMANDS)
    for command in FEATURE_COMMANDS.values():
        if (role is None and "participant" in command.roles) or (role is not None and role in command.roles):
            listed[command.name] = command.description
    return listed


def help_text(turn: Turn, fixed: str) -> str:
    """The fixed help, then the commands of the capabilities this person may use."""
    lines = [turn.t(fixed)]
    for command in FEATURE_COMMANDS.values():
        if may(turn.person, Action.USE, command):
            lines.append(f"{turn.t.isolate('/' + command.name)} – {turn.t(command.description)}")  # RTL: in order
    return "\n".join(lines)


def parse_command(text: str | None) -> tuple[str, str] | None:
    """`/name arg` or `!name arg` (Element swallows unknown slash commands); None for ordinary text."""
    if not text:
        return None
    match = _COMMAND.match(text.strip())
    if not match:
        return None
    return match.group(1).lower(), (match.group(2) or "").strip()


def _snapshot(state: dict[str, Any]) -> dict[str, Any]:
    return {key: state[key] for key in ("flow", "step", "data", "trail") if key in state}


def _enter(turn: Turn, flow: Flow, step: Step, data: dict[str, Any], trail: list[str]) -> None:
    state = turn.state
    state.update(flow=flow.name, step=step.name, data=data, trail=trail)
    state["seq"] = int(state.get("seq", 0)) + 1
    render_prompt(turn, step)


def rest_in_menu(turn: Turn) -> None:
    """Back to the menu without showing it: the turn just sent a message with its own choices, which a typed
    number should answer (the menu never competes with such a message, but a freshly drawn menu would)."""
    turn.state.update(flow="menu", step="menu", data={}, trail=["menu"])
    turn.state["seq"] = int(turn.state.get("seq", 0)) + 1


def start_flow(turn: Turn, name: str, data: dict[str, Any] | None = None, at: str | None = None,
               trail: list[str] | None = None) -> None:
    """Starts a flow at its first step, or falls back to what this person may do."""
    if name == "__resume__":
        resume = turn.state.pop("resume", None)
        if resume and resume.get("flow") in FLOWS:
            flow = FLOWS[resume["flow"]]
            if may_start(turn.person, flow) or not flow.needs_consent:
                _enter(turn, flow, flow.step(resume["step"]), resume.get("data", {}), resume.get("trail", []))
                return
        name = "menu"
    if needs_consent(turn.person) and name != "language" and (name not in FLOWS or FLOWS[name].needs_consent):
        name = "onboarding"  # rights (a copy, deletion) never wait for consent; everything else does
    flow = FLOWS[name]
    if not may_start(turn.person, flow):
        turn.say(N_("This is not available for you."))
        flow = FLOWS["menu"]
    if flow.name != "language":
        turn.state.pop("resume", None)
    step = flow.step(at) if at and flow is FLOWS.get(name) else flow.first
    if flow.name == "onboarding" and turn.person.locale and turn.state.get("flow") != "onboarding":
        step = flow.step("privacy")  # asked again after a new notice: the language is known
    _enter(turn, flow, step, dict(data or {}), [*(trail or []), step.name] if step.name == at else [step.name])


def reprompt(turn: Turn) -> None:
    flow_name, step_name = turn.state.get("flow"), turn.state.get("step")
    if flow_name in FLOWS and step_name:
        flow = FLOWS[flow_name]
        if may_start(turn.person, flow) or not flow.needs_consent:
            render_prompt(turn, flow.step(step_name))
            return
    start_flow(turn, "menu")



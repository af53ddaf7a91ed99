"""Runs one inbound event through the person's conversation: commands, answers, transitions, idle return."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from bot.i18n import N_
from flows import open_choices
from flows.access import Action, may, may_speak_in_group, may_start, needs_consent
from flows.engine import (
    DONE_KEY,
    STAY,
    Flow,
    Goto,
    InputKind,
    Invalid,
    Next,
    Stale,
    Step,
    Toggle,
    Turn,
    parse_answer,
    render_prompt,
)
from flows.menu import ALL_ROLES, HELP_TEXT, MENU
from flows.onboarding import LANGUAGE, ONBOARDING, first_things_first

FLOWS: dict[str, Flow] = {flow.name: flow for flow in (ONBOARDING, LANGUAGE, MENU)}
"""Every declared flow by name; later capabilities register theirs with `register`."""

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

    Roles are checked here for every command, with the same rule as for flows (`flows.access`).
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


def button_key(prefix: str, payload: str) -> str:
    """The choice key for a button outside the current question; Telegram allows 64 bytes of it."""
    key = f"@{prefix}:{payload}"
    if len(key.encode()) > 64:
        raise ValueError(f"button key {key!r} is longer than 64 bytes")
    return key


def commands_for(role: str | None) -> dict[str, str]:
    """Command name -> description for a role (None: what the platform menu shows everyone)."""
    listed = dict(COMMANDS)
    for command in FEATURE_COMMANDS.values():
        if (role is None and "participant" in command.roles) or (role is not None and role in command.roles):
            listed[command.name] = command.description
    return listed


def help_text(turn: Turn) -> str:
    """The fixed help, then the commands of the capabilities this person may use."""
    lines = [turn.t(HELP_TEXT)]
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
        flow = MENU
    if flow.name != "language":
        turn.state.pop("resume", None)
    step = flow.step(at) if at and flow is FLOWS.get(name) else flow.first
    if flow is ONBOARDING and turn.person.locale and turn.state.get("flow") != "onboarding":
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


def _idle(turn: Turn, idle: timedelta, last: datetime | None) -> bool:
    flow = turn.state.get("flow")
    return last is not None and flow not in (None, "menu") and turn.now - last > idle


def _resumable(turn: Turn) -> bool:
    flow = FLOWS.get(turn.state.get("flow") or "")
    return flow is not None and flow.resume_after_idle


async def handle(turn: Turn, idle: timedelta, last_activity: datetime | None) -> None:
    """The single entry point: decide what this inbound event means for this person, and answer."""
    if turn.incoming.in_group and not may_speak_in_group(turn.person):
        return
    command = parse_command(turn.incoming.text)
    tracked = not turn.incoming.in_group and not needs_consent(turn.person)
    before = await open_choices.refresh(turn) if tracked else None  # what reached them before they wrote this
    if command is None and await _answers_a_notice(turn, before, idle, last_activity):
        return
    if _idle(turn, idle, last_activity) and _resumable(turn) and command is None and turn.incoming.choice is None:
        turn.say(N_("Welcome back! Let us continue where you stopped."))
        reprompt(turn)
        return
    if _idle(turn, idle, last_activity) and not _resumable(turn):
        turn.state.pop("resume", None)
        turn.say(N_("Welcome back! It has been a while, so we start again from the menu."))
        if command is None:
            start_flow(turn, "menu")
            return
        turn.state.update(flow=None, step=None)
    if command is not None:
        await _command(turn, *command)
        return
    if not needs_consent(turn.person):  # after a new privacy notice, nothing new is stored before consent
        for intercept in INTERCEPTORS:
            if await intercept(turn):
                return
    if turn.incoming.unsupported == "edit":  # Matrix: an edited message is not read as an answer (docs/matrix.md)
        turn.say(N_("I do not read changes to a message I already have. Please send your correction as a new "
                    "message."))
        reprompt(turn)
        return
    if turn.incoming.unsupported:
        turn.say(N_("I can read text, photos, documents and voice messages. Please send one of those."))
        reprompt(turn)
        return
    if not turn.state.get("flow") or turn.state["flow"] not in FLOWS:
        start_flow(turn, "menu")
        return
    if needs_consent(turn.person) and FLOWS[turn.state["flow"]].needs_consent:
        start_flow(turn, "menu")  # a new privacy notice: asked before this answer is taken (and stored)
        return
    await _answer(turn, FLOWS[turn.state["flow"]])


async def _command(turn: Turn, name: str, argument: str) -> None:
    in_flow = turn.state.get("flow") not in (None, "menu")
    if name == "start" and argument and START_ARGUMENT:
        await START_ARGUMENT[0](turn, argument[:100])
    elif name == "start":
        if turn.state.get("flow") == "onboarding" and turn.state.get("step") in ("privacy", "privacy_full"):
            reprompt(turn)
        else:
            start_flow(turn, "menu")
    elif name in ("menu", "cancel"):
        if needs_consent(turn.person):
            turn.send(first_things_first(turn))
            reprompt(turn)
            return
        if name == "cancel" and in_flow:
            turn.say(N_("Stopped. Here is the menu."))
        turn.state.pop("resume", None)
        start_flow(turn, "menu")
    elif name == "back":
        _back(turn)
    elif name == "language":
        if turn.state.get("flow") not in (None, "language"):
            turn.state["resume"] = _snapshot(turn.state)
        start_flow(turn, "language")
    elif name == "help":
        turn.send(help_text(turn))
        reprompt(turn)
    elif name in FEATURE_COMMANDS:
        await _feature_command(turn, FEATURE_COMMANDS[name], argument)
    else:
        turn.say(N_("I do not know the command /{command}. Write /help to see what I understand."),
                 command=name[:32])
        reprompt(turn)


async def _feature_command(turn: Turn, command: Command, argument: str) -> None:
    if command.needs_consent and needs_consent(turn.person):
        turn.send(first_things_first(turn))
        reprompt(turn)
        return
    if not may(turn.person, Action.USE, command):
        turn.say(N_("This is not available for you."))
        reprompt(turn)
        return
    if command.flow is not None:
        turn.state.pop("resume", None)
        start_flow(turn, command.flow, {"argument": argument})
        return
    if command.action is not None:
        await command.action(turn, argument)
        # A command whose answer carries its own choices (/ticket 1: "Take it / Hand over") ends there: a menu
        # after it would take the number the person types next.
        if not turn.deleted and turn.prompt_index is None and not open_choices.offers_own_choices(turn):
            reprompt(turn)


def _current_question(turn: Turn) -> Step | None:
    flow_name, step_name = turn.state.get("flow"), turn.state.get("step")
    if flow_name not in FLOWS or not step_name:
        return None
    flow = FLOWS[flow_name]
    if not (may_start(turn.person, flow) or not flow.needs_consent):
        return None
    try:
        return flow.step(step_name)
    except KeyError:
        return None


async def _answers_a_notice(turn: Turn, before: int | None, idle: timedelta, last_activity: datetime | None) -> bool:
    """A button of a notice (a reminder's "I'll be there"), or typed text that answers one; True when handled.

    `before` is None where notices are not followed (a group room, before consent). This comes before the return
    from a break: an answer to yesterday evening's reminder is not lost to a "welcome back", and the question left
    unanswered before the break is dropped instead of taking the next message."""
    incoming = turn.incoming
    if before is None:
        if incoming.choice is not None and incoming.choice.startswith("@"):
            await _button(turn, incoming.choice[1:])
            return True
        if incoming.in_group and not needs_consent(turn.person) and incoming.reply_to and incoming.choice is None:
            replied = await open_choices.replied_choice(turn)  # "1" in reply to a notice in a coordinators' room
            if replied is not None:
                await press(turn, replied)
                return True
        return False
    if incoming.choice is not None:
        if not incoming.choice.startswith("@"):
            return False
        key = incoming.choice
    elif incoming.text and incoming.attachment is None and not incoming.undecodable and not incoming.unsupported:
        step = _current_question(turn)
        stale = _idle(turn, idle, last_activity) and not _resumable(turn)
        resolution = await open_choices.resolve(turn, step, stale or turn.state.get("flow") == "menu", before)
        if resolution is None:
            return False
        if resolution.key is None:
            return True  # asked which message was meant
        key = resolution.key
    else:
        return False
    if _idle(turn, idle, last_activity) and not _resumable(turn):
        turn.state.pop("resume", None)
        turn.state.update(flow=None, step=None)  # the question left before the break is not waiting any more
    await press(turn, key)
    return True


async def press(turn: Turn, key: str) -> None:
    """Answers a notice's button (`@prefix:payload`): it is answered now, wherever it was shown."""
    open_choices.close(turn, key)
    await _button(turn, key[1:])


async def _which(turn: Turn, payload: str) -> None:
    """The person said which message their earlier typed answer was for."""
    chosen = await open_choices.which_chosen(turn, payload)
    if chosen is None:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
    elif chosen.key is not None:
        await press(turn, chosen.key)
    elif chosen.text is not None and turn.state.get("flow") in FLOWS:
        turn.incoming = replace(turn.incoming, text=chosen.text, choice=None)
        await _answer(turn, FLOWS[turn.state["flow"]])


async def _button(turn: Turn, key: str) -> None:
    prefix, _, payload = key.partition(":")
    action = BUTTON_ACTIONS.get(prefix)
    if action is None or needs_consent(turn.person):
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    await action(turn, payload)


def _back(turn: Turn) -> None:
    trail: list[str] = list(turn.state.get("trail", []))
    flow_name = turn.state.get("flow")
    if flow_name not in FLOWS or len(trail) < 2:
        if _resumable(turn):  # a questionnaire's first question
            turn.say(N_("This is the first question, there is nothing to go back to."))
        else:  # a picker, a list or the menu: no "question" to speak of, and the same options again
            turn.say(N_("There is nothing to go back to here. Here are the options again."))
        reprompt(turn)
        return
    trail.pop()
    previous = trail[-1]
    data = dict(turn.state.get("data", {}))
    answered = data.pop(previous, None)
    data.pop(f"_selected:{previous}", None)
    flow = FLOWS[flow_name]
    step = flow.step(previous)
    if step.kind is InputKind.MULTI and isinstance(answered, list):  # the ticks they gave stay ticked
        data[f"_selected:{previous}"] = [str(key) for key in answered]
    _enter(turn, flow, step, data, trail)


async def _answer(turn: Turn, flow: Flow) -> None:
    step = flow.step(turn.state["step"])
    try:
        value = parse_answer(turn, step)
        if step.validate is not None and value is not None:
            value = step.validate(turn, value)
    except Stale:
        turn.say(N_("This button belongs to an earlier question and no longer works."))
        return
    except Toggle as toggle:
        _toggle(turn, step, toggle.key)
        return
    except Invalid as invalid:
        turn.say(invalid.hint, **invalid.values)
        render_prompt(turn, step, again=True)
        return
    turn.data[step.name] = value
    turn.data.pop(f"_selected:{step.name}", None)
    destination: Next = step.next
    if step.on_answer is not None:
        decided = await step.on_answer(turn, value)
        if decided is not None:
            destination = decided
    if turn.deleted:
        return
    _go(turn, flow, destination)


def _go(turn: Turn, flow: Flow, destination: Next) -> None:
    if isinstance(destination, str):
        trail = [*turn.state.get("trail", []), destination]
        _enter(turn, flow, flow.step(destination), turn.data, trail)
    elif destination == STAY:
        return
    elif isinstance(destination, Goto):
        start_flow(turn, destination.flow)
    else:
        start_flow(turn, "__resume__" if turn.state.get("resume") else "menu")


def _toggle(turn: Turn, step: Step, key: str) -> None:
    """Flips one option of a multiple choice and redraws the same question in place."""
    slot = f"_selected:{step.name}"
    selected: list[str] = list(turn.data.get(slot, []))
    if key in selected:
        selected.remove(key)
    elif key != DONE_KEY:
        selected.append(key)
    turn.data[slot] = selected
    render_prompt(turn, step)
    target = turn.state.get("prompt_outbox")
    if target:  # replace the question already on screen instead of sending it again
        turn.outgoing[-1] = replace(turn.outgoing[-1], edit_of=int(target))


register_button(open_choices.WHICH, _which)

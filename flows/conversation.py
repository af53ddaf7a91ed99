"""Runs one inbound event through the person's conversation: commands, answers, transitions, idle return."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from bot.core.access import Action, may, may_speak_in_group, may_start, needs_consent
from bot.core.i18n import N_
from flows import open_choices
from flows.engine import (
    DONE_KEY,
    END,
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
    step_hint,
)
from flows.menu import HELP_TEXT
from flows.onboarding import first_things_first
from flows.registry import (
    BUTTON_ACTIONS,
    FEATURE_COMMANDS,
    FLOWS,
    INTERCEPTORS,
    START_ARGUMENT,
    Command,
    _enter,
    _snapshot,
    help_text,
    parse_command,
    register_button,
    reprompt,
    rest_in_menu,
    start_flow,
)


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
        turn.send(help_text(turn, HELP_TEXT))
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
    elif incoming.text is not None and incoming.attachment is None and not incoming.undecodable \
            and not incoming.unsupported:  # an empty line too: at "which message?" it keeps that question
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
        turn.send(step_hint(turn, step, invalid.hint, **invalid.values))
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
    elif destination == END and open_choices.offers_own_choices(turn, new_only=True):
        # The flow ended with a message of its own choices (a new course's actions): a menu drawn after it would
        # take the number typed next, as after a command (a play-tester could not reach the course's actions).
        turn.state.pop("resume", None)
        rest_in_menu(turn)
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

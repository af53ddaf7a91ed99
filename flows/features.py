"""Every capability, imported once so that it registers its flows, commands, buttons and menu entries.

A new capability adds one import here; nothing else in the core needs to know about it.
"""

from __future__ import annotations

from dataclasses import replace

from flows import (  # noqa: F401
    appointments,
    broadcasts,
    cases,
    contracts,
    course_sessions,
    courses,
    duplicates,
    find,
    intake,
    invites,
    linking,
    matching_days,
    mentoring,
    places,
    potential_check,
    privacy,
    proposals,
    tickets,
    volunteers,
)
from flows.menu import MENU, MENU_ENTRIES
from flows.registry import FLOWS, commands_for

# The menu's diagram shows every registered entry, so it is drawn after all capabilities have added theirs.
FLOWS["menu"] = replace(MENU, steps=(replace(MENU.steps[0], branches=tuple(
    (entry.key, entry.flow or "menu") for entry in sorted(MENU_ENTRIES, key=lambda e: e.order))),))

__all__ = ["FLOWS", "commands_for"]

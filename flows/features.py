"""Every capability, imported once so that it registers its flows, commands, buttons and menu entries.

A new capability adds one import here; nothing else in the core needs to know about it.
"""

from __future__ import annotations

from flows.conversation import FLOWS, commands_for

__all__ = ["FLOWS", "commands_for"]

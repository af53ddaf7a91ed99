"""The stages of a participant's way toward the goal (Ausbildung or a job subject to social insurance, SVB).

Cases, /find, progress, the digest and exports all count the same stages in the same order."""

from __future__ import annotations

import json
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.i18n import N_, Translator
from storage.models import Contract

STAGES: tuple[tuple[str, str], ...] = (
    ("registered", N_("Registered")),
    ("profile_complete", N_("Profile complete")),
    ("potential_check", N_("Potential check done (Potenzialcheck)")),
    ("matching", N_("Matching")),
    ("internship", N_("Internship (Praktikum / Hospitation)")),
    ("apprenticeship", N_("Apprenticeship (Ausbildung)")),
    ("employment", N_("Employment (SVB)")),
)
STAGE_NAMES = dict(STAGES)
STAGE_RANK = {"registered": 0, "profile_complete": 1, "potential_check": 2, "matching": 3, "internship": 4,
              "apprenticeship": 5, "employment": 5}
"""Apprenticeship (Ausbildung) and employment (SVB) are both the goal: moving between them skips nothing."""


def stage_name(t: Translator, stage: str | None) -> str:
    return t(STAGE_NAMES[stage]) if stage in STAGE_NAMES else "–"


REASON_MARK = "§"
"""Starts a stage change's reason that Lotse wrote itself: a catalog message and its values, as JSON."""


def lotse_reason(message: str, **values: object) -> str:
    """A reason Lotse gives for a stage change, stored as its catalog message and values so that every reader sees
    it in their own language (it was stored in English and shown so in German case views). Values named `stage`
    are stage keys, `label` catalog messages, `day` ISO dates and `reason` another stored reason. The same
    message and values always give the same text, so a stored reason can be looked up again."""
    return REASON_MARK + json.dumps({"m": message, "v": values}, ensure_ascii=False, sort_keys=True)


def reason_text(t: Translator, reason: str | None) -> str:
    """A stored reason for the reader: Lotse's own in their language; what a person wrote, as written."""
    if not reason:
        return ""
    if not reason.startswith(REASON_MARK):
        return reason
    try:
        stored = json.loads(reason[len(REASON_MARK):])
        values = {key: _reason_value(t, key, value) for key, value in stored["v"].items()}
        return t(str(stored["m"]), **values)
    except (ValueError, KeyError, TypeError, AttributeError):
        return reason


def _reason_value(t: Translator, key: str, value: object) -> object:
    if key == "stage":
        return stage_name(t, str(value))
    if key == "label":
        return t(str(value))
    if key == "day":
        return t.date(date.fromisoformat(str(value)), "medium")
    if key == "reason":
        return reason_text(t, str(value))
    return value


CONTRACT_FOR_STAGE = {"apprenticeship": "ausbildung", "employment": "svb"}
"""The goal's stages follow a recorded contract (`flows.contracts`): set by hand only when one is recorded."""


async def has_contract_for(session: AsyncSession, participant_id: int, stage: str) -> bool:
    """True when `stage` needs no contract, or the participant has a recorded contract of its kind."""
    kind = CONTRACT_FOR_STAGE.get(stage)
    if kind is None:
        return True
    found = await session.scalar(select(Contract.id).where(Contract.participant_id == participant_id,
                                                           Contract.kind == kind).limit(1))
    return found is not None

"""Progress toward the programme's goal: at least 75 % of each cohort in Ausbildung or SVB.

The funnel counts, for each group of participants, how many reached each stage or a later one: registered ->
profile -> potential check -> matching -> Hospitation/Praktikum -> Ausbildung/SVB. A cohort is the quarter in
which a participant registered (Europe/Berlin); only participants who consented count. A participant counts for
each organisation responsible for their district and goals (`bot.core.access.responsible_organisations`), so the
organisation rows may add up to more than the total.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.core.access import Action, may, responsible_organisations
from bot.core.i18n import N_, Translator
from bot.core.network import Network
from bot.services.placement_reports import place_group_name
from bot.services.routing import staff_districts, visible_participants
from bot.services.stages import STAGE_RANK
from storage.models import Contract, Person, Profile

if TYPE_CHECKING:
    from matplotlib.figure import Figure

GOAL = 0.75
LEVELS: tuple[str, ...] = (
    N_("Registered"),
    N_("Profile complete"),
    N_("Potential check (Potenzialcheck)"),
    N_("Matching"),
    N_("Hospitation / Praktikum"),
    N_("Ausbildung / SVB"),
)
PLACED = len(LEVELS) - 1
BERLIN = ZoneInfo("Europe/Berlin")


@dataclass
class Funnel:
    """Counts per level (index = stage rank) for every cohort, district and organisation, and in total."""

    total: list[int] = field(default_factory=lambda: [0] * len(LEVELS))
    cohorts: dict[str, list[int]] = field(default_factory=dict)
    districts: dict[str, list[int]] = field(default_factory=dict)
    organisations: dict[str, list[int]] = field(default_factory=dict)
    contracts: dict[str, int] = field(default_factory=dict)
    """Participants with a signed contract, per kind (ausbildung, svb, eq): the events behind the last level."""


def _add(counts: list[int], rank: int) -> None:
    for level in range(rank + 1):
        counts[level] += 1


def share(counts: list[int]) -> float:
    return counts[PLACED] / counts[0] if counts[0] else 0.0


async def count_funnel(session: AsyncSession, network: Network, districts: Iterable[str] | None = None,
                       among: ColumnElement[bool] | None = None) -> Funnel:
    """Reads every consented participant once; `districts` limits to those (None: everywhere), `among` to the
    participants a filter on `Person` lets through (a staff member's `visible_participants`)."""
    statement = (select(Person.id, Person.created_at, Person.district, Profile.stage, Profile.answers)
                 .outerjoin(Profile, Profile.person_id == Person.id)
                 .where(Person.role == "participant", Person.privacy_version.is_not(None)))
    if districts is not None:
        statement = statement.where(Person.district.in_(list(districts)))
    if among is not None:
        statement = statement.where(among)
    funnel = Funnel()
    for _id, created, district, stage, answers in (await session.execute(statement)).all():
        rank = STAGE_RANK.get(stage or "registered", 0)
        local = created.astimezone(BERLIN)
        cohort = f"{local.year}-Q{(local.month - 1) // 3 + 1}"
        _add(funnel.total, rank)
        _add(funnel.cohorts.setdefault(cohort, [0] * len(LEVELS)), rank)
        _add(funnel.districts.setdefault(district or "-", [0] * len(LEVELS)), rank)
        goals = (answers or {}).get("goals") or []
        for organisation in sorted(responsible_organisations(network, district, goals)):
            _add(funnel.organisations.setdefault(organisation, [0] * len(LEVELS)), rank)
    signed = (select(Contract.kind, Contract.participant_id).join(Person, Person.id == Contract.participant_id)
              .where(Person.role == "participant", Person.privacy_version.is_not(None)).distinct())
    if districts is not None:
        signed = signed.where(Person.district.in_(list(districts)))
    if among is not None:
        signed = signed.where(among)
    for kind, _participant in (await session.execute(signed)).all():
        funnel.contracts[kind] = funnel.contracts.get(kind, 0) + 1
    return funnel


async def staff_funnel(session: AsyncSession, network: Network, t: Translator, staff: Person) -> tuple[Funnel, str]:
    """The funnel one staff member may see, and a heading that says whose it is.

    Network-wide numbers only for whoever may see every participant (`may(..., SEE_ALL)`); a coordinator counts
    exactly the participants they are responsible for (`visible_participants`: organisation, invite scope, the
    cases they handle), named by their districts or, where they cover every district, their organisation."""
    if may(staff, Action.SEE_ALL):
        return await count_funnel(session, network), t(N_("All participants in the network"))
    funnel = await count_funnel(session, network, among=await visible_participants(session, network, staff))
    covered = await staff_districts(session, network, staff)
    if covered is None:
        organisation = network.organisations.get(staff.organisation or "")
        whose = organisation.name if organisation else (staff.organisation or "–")
    else:
        whose = t.comma.join(network.districts[key].name[t.locale] for key in network.districts if key in covered)
    return funnel, t(N_("Your participants ({scope})"), scope=whose or "–")


def _percent(t: Translator, value: float) -> str:
    return t(N_("{percent} %"), percent=round(value * 100))


def _row(t: Translator, name: str, counts: list[int]) -> str:
    return t(N_("{name}: {placed} of {total} placed ({percent}) · {funnel}"), name=name, placed=counts[PLACED],
             total=counts[0], percent=_percent(t, share(counts)), funnel=" → ".join(str(c) for c in counts))


def group_name(t: Translator, network: Network, kind: str, key: str) -> str:
    if kind == "districts":
        return network.districts[key].name[t.locale] if key in network.districts else t(N_("no district yet"))
    if kind == "organisations":
        return network.organisations[key].name if key in network.organisations else key
    return key


def funnel_text(t: Translator, network: Network, funnel: Funnel, heading: str | None = None) -> str:
    """The funnel as plain lines: the chat's `/stats` and `lotse report` print the same; `heading` says whose."""
    lines = [*([heading] if heading else []),
             t(N_("Progress toward the goal: at least {goal} of each cohort in Ausbildung or SVB."),
               goal=_percent(t, GOAL)),
             t(N_("Stages: {stages}"), stages=" → ".join(t(level) for level in LEVELS))]
    if not funnel.total[0]:
        lines += ["", t(N_("No participants yet."))]
        return "\n".join(lines)
    lines += ["", _row(t, t(N_("All")), funnel.total),
              t(N_("Signed contracts: Ausbildung {ausbildung}, job (SVB) {svb}, EQ {eq}"),
                ausbildung=funnel.contracts.get("ausbildung", 0), svb=funnel.contracts.get("svb", 0),
                eq=funnel.contracts.get("eq", 0))]
    for heading, kind, groups in ((N_("By cohort (quarter of registration)"), "cohorts", funnel.cohorts),
                                  (N_("By district"), "districts", funnel.districts),
                                  (N_("By organisation"), "organisations", funnel.organisations)):
        lines += ["", t(heading)]
        for key in sorted(groups):
            counts = groups[key]
            mark = "✓" if share(counts) >= GOAL else "·"
            lines.append(f"{mark} {_row(t, group_name(t, network, kind, key), counts)}")
    return "\n".join(lines)


def chart_figure(t: Translator, funnel: Funnel, companies: dict[str, list[int]] | None = None,
                 network: Network | None = None, districts: dict[str, list[int]] | None = None) -> Figure:
    """A horizontal funnel per cohort with the 75 % line, the goal per district, and what came of the places per
    company and per district (`bot.services.placement_reports.placement_counts`) — matplotlib, Agg: no display.

    The goal's label sits inside the plot, in a band above the first bar, so no title can run into it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cohorts = sorted(funnel.cohorts) or ["-"]
    groups = [(by, found) for by, found in (("company", companies), ("district", districts)) if found]
    panels = len(cohorts) + (1 if funnel.districts else 0) + len(groups)
    figure, axes = plt.subplots(panels, 1, figsize=(9, 2.8 * panels + 0.6), squeeze=False)
    labels = [t(level) for level in LEVELS]
    for axis, (by, found) in zip(axes[panels - len(groups):, 0], groups, strict=True):
        _places_axis(t, axis, by, found, network)
    if funnel.districts:
        _district_axis(t, axes[len(cohorts), 0], funnel, network)
    for axis, cohort in zip(axes[: len(cohorts), 0], cohorts, strict=True):
        counts = funnel.cohorts.get(cohort, [0] * len(LEVELS))
        total = counts[0] or 1
        shares = [c / total for c in counts]
        colours = ["#8fb3d9"] * (len(LEVELS) - 1) + ["#2e7d32" if shares[-1] >= GOAL else "#e08a00"]
        bars = axis.barh(range(len(LEVELS)), shares, color=colours)
        axis.set_yticks(range(len(LEVELS)), labels)
        axis.set_ylim(len(LEVELS) - 0.5, -1.4)  # top down, with a band above the first bar for the goal's label
        axis.set_xlim(0, 1.15)
        axis.axvline(GOAL, color="#c62828", linestyle="--", linewidth=1)
        axis.text(GOAL + 0.01, -0.95, t(N_("goal {percent}"), percent=_percent(t, GOAL)), color="#c62828",
                  fontsize=8, va="center", gid="goal")
        for bar, count, part in zip(bars, counts, shares, strict=True):
            axis.text(bar.get_width() + 0.01, bar.get_y() + bar.get_height() / 2, f"{count} ({round(part * 100)} %)",
                      va="center", fontsize=8)
        axis.set_title(t(N_("Cohort {cohort}: {count} participants"), cohort=cohort, count=counts[0]), fontsize=10)
        axis.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0 %", "25 %", "50 %", "75 %", "100 %"])
    figure.tight_layout()
    return figure


def _district_axis(t: Translator, axis: Any, funnel: Funnel, network: Network | None) -> None:
    """Per district: the share in Ausbildung or SVB against the 75 % line, with "placed of registered"."""
    keys = sorted(funnel.districts)
    names = [group_name(t, network, "districts", key) if network else key for key in keys]
    shares = [share(funnel.districts[key]) for key in keys]
    axis.barh(range(len(keys)), shares, color=["#2e7d32" if part >= GOAL else "#e08a00" for part in shares])
    axis.set_yticks(range(len(keys)), [name[:28] for name in names], fontsize=8)
    axis.set_ylim(len(keys) - 0.5, -0.5)
    axis.set_xlim(0, 1.15)
    axis.axvline(GOAL, color="#c62828", linestyle="--", linewidth=1)
    for row, key in enumerate(keys):
        counts = funnel.districts[key]
        axis.text(shares[row] + 0.01, row, f"{counts[PLACED]} / {counts[0]}", va="center", fontsize=8)
    axis.set_title(t(N_("By district")), fontsize=10)
    axis.set_xticks([0, 0.25, 0.5, 0.75, 1.0], ["0 %", "25 %", "50 %", "75 %", "100 %"])


PLACE_TITLES = {"company": N_("Places by company"), "district": N_("Places by district")}


def _places_axis(t: Translator, axis: Any, by: str, groups: dict[str, list[int]], network: Network | None) -> None:
    """Per company or district: proposed, accepted, started, offered, contracts signed, drop-out warnings,
    drop-outs (bars)."""
    keys = sorted(groups)
    names = [place_group_name(t, network, by, key) if network else key for key in keys]
    series = [(N_("Proposed"), 1, "#8fb3d9"), (N_("Accepted"), 2, "#5b8fc7"), (N_("Started"), 3, "#2e7d32"),
              (N_("Offered"), 4, "#a5d6a7"), (N_("Contracts"), 7, "#1b5e20"), (N_("Drop-out warnings"), 5, "#ef9a9a"),
              (N_("Drop-outs"), 8, "#c62828")]
    width = 0.8 / len(series)
    for number, (label, column, colour) in enumerate(series):
        axis.bar([i + number * width for i in range(len(keys))], [groups[k][column] for k in keys], width,
                 label=t(label), color=colour)
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(keys))], [name[:28] for name in names], fontsize=8)
    axis.set_title(t(PLACE_TITLES[by]), fontsize=10)
    axis.legend(fontsize=7)


def draw_chart(t: Translator, funnel: Funnel, path: Path, companies: dict[str, list[int]] | None = None,
               network: Network | None = None, districts: dict[str, list[int]] | None = None) -> None:
    """`chart_figure` as a PNG file."""
    figure = chart_figure(t, funnel, companies, network, districts)
    import matplotlib.pyplot as plt

    figure.savefig(path, dpi=110)
    plt.close(figure)

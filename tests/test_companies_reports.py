"""What came of the places, per company, district and cohort, limited to what the reader may see; the chart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bot.core.i18n import Translator
from bot.core.schedule import Schedule
from bot.jobs.digest import send_due_digests
from bot.jobs.placements import import_places
from bot.runtime.app import Lotse
from bot.services.placement_reports import placement_counts
from bot.services.progress import chart_figure, count_funnel
from tests.chat import Chat, FakeClock, RecordingTransport
from tests.test_companies import company_contact, tigrinya_participant
from tests.test_intake import staff
from tests.test_questions import coordinator

METALLBAU = "Metallbau Janssen GmbH, Westerstede"
ELEKTRO = "Elektro Wübbena KG, Oldenburg"
MONDAY_0731_BERLIN = datetime(2026, 11, 30, 6, 31, tzinfo=UTC)


async def two_places_and_a_match(app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport,
                                 clock: FakeClock, tmp_path: Path) -> Chat:
    """A Praktikum in Ammerland (Metallbau) and one in Stadt Oldenburg (Elektro); Yonas is matched to Metallbau's."""
    path = tmp_path / "plaetze.csv"
    path.write_text("Firma;Art;Berufsfeld;Landkreis;Adresse;Ab;Dauer;Zeit;Deutsch;Plätze;Kontakt\n"
                    "metallbau_westerstede;Praktikum;Metall;Ammerland;Industriestr. 4, Westerstede;12.01.2027;"
                    "2 Wochen;vormittags;A2;1;Frau Janssen 04488 1234\n"
                    "elektro_oldenburg;Praktikum;Elektro;Stadt Oldenburg;Am Hafen 1, Oldenburg;12.01.2027;"
                    "2 Wochen;vormittags;A2;1;Herr Wübbena 0441 1234\n", encoding="utf-8")
    assert (await import_places(app.sessions, path, clock(), app.network)).imported == 2
    tom = await staff(app, transport, "tom")
    kai = await company_contact(app, chat, "kai")
    yonas = await tigrinya_participant(chat)
    await tom.send("/place 1")
    await tom.click("Propose participants")
    await tom.send("1")
    await yonas.click(yonas.buttons()[0])  # yes
    await kai.click("Accept")
    return tom


def rows(text: str, name: str, places: str = "places") -> list[str]:
    """The digest's count lines of one company, district or cohort."""
    return [line for line in text.splitlines() if line.startswith(f"· {name}") and f" – {places}: " in line]


async def test_the_digest_counts_places_per_company_district_and_cohort_only_in_the_readers_districts(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock,
        tmp_path: Path) -> None:
    await two_places_and_a_match(app, chat, transport, clock, tmp_path)
    ammerland = await coordinator(app, chat, "olga", districts=["ammerland"])
    oldenburg = await coordinator(app, chat, "hanna", districts=["stadt_oldenburg"])

    clock.now = MONDAY_0731_BERLIN
    room = ("test", "coordinators-room")
    await send_due_digests(app.sessions, app.network, Schedule(), room, clock())
    await app.drain()
    district = {key: {locale: app.network.districts[key].name[locale] for locale in ("de", "en")}
                for key in ("ammerland", "stadt_oldenburg")}
    olga = ammerland.last.text
    assert rows(olga, METALLBAU) == [f"· {METALLBAU} – places: 1 (open: 0), proposed: 1, accepted: 1, started: 0, "
                                     "Ausbildung or job offered: 0, contracts signed: 0, drop-out warnings: 0, "
                                     "drop-outs: 0"]
    assert rows(olga, district["ammerland"]["en"]) and rows(olga, "2026-Q4")  # per district and per cohort too
    assert "· By district:" in olga and "· By cohort (quarter of registration):" in olga
    # another district's company and district: never
    assert not rows(olga, ELEKTRO) and not rows(olga, district["stadt_oldenburg"]["en"])

    hanna = oldenburg.last.text
    assert rows(hanna, ELEKTRO) and rows(hanna, district["stadt_oldenburg"]["en"])
    assert not rows(hanna, METALLBAU) and not rows(hanna, district["ammerland"]["en"]) and not rows(hanna, "2026-Q4")

    everything = transport.sent["coordinators-room"][-1].text  # the room's digest is the whole network's
    for name in (METALLBAU, ELEKTRO, district["ammerland"]["de"], district["stadt_oldenburg"]["de"]):
        assert rows(everything, name, "Plätze"), name

    # /stats and /places count the same way: hanna sees Stadt Oldenburg's rows only
    stats, _menu = await oldenburg.send("/stats")
    assert f"{ELEKTRO} – places: 1" in stats.text and f"{METALLBAU} – places:" not in stats.text
    places, *_ = await oldenburg.send("/places")
    assert f"{ELEKTRO} – places: 1" in places.text and f"{METALLBAU} – places:" not in places.text


async def test_the_chart_has_a_panel_per_district_for_the_goal_and_for_the_places(
        app: Lotse, chat: Callable[..., Chat], transport: RecordingTransport, clock: FakeClock,
        tmp_path: Path) -> None:
    """What `lotse report --chart` draws, rendered to SVG with its text kept as text, so the names can be found."""
    import matplotlib
    import matplotlib.pyplot as plt

    await two_places_and_a_match(app, chat, transport, clock, tmp_path)
    async with app.sessions() as session:
        funnel = await count_funnel(session, app.network)
        companies = await placement_counts(session, "company")
        districts = await placement_counts(session, "district")
    t = Translator("en")
    figure = chart_figure(t, funnel, companies, app.network, districts)
    try:
        titles = [axis.get_title() for axis in figure.axes]
        assert titles[-3:] == ["By district", "Places by company", "Places by district"]
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            figure.savefig(tmp_path / "chart.svg")
    finally:
        plt.close(figure)
    svg = (tmp_path / "chart.svg").read_text(encoding="utf-8")
    ammerland, oldenburg = (app.network.districts[key].name["en"] for key in ("ammerland", "stadt_oldenburg"))
    district_panel, places_panel = figure.axes[-3], figure.axes[-1]
    assert [label.get_text() for label in district_panel.get_yticklabels()] == [oldenburg]  # where Yonas lives
    assert "0 / 1" in [text.get_text() for text in district_panel.texts]  # not placed yet, of one registered
    assert [label.get_text() for label in places_panel.get_xticklabels()] == [ammerland, oldenburg]
    for name in (ammerland, oldenburg, "By district", "Places by district"):
        assert name in svg, name

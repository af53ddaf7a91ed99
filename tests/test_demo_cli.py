"""`lotse demo` as a new user runs it: scripted through stdin, killed with -9, started again."""

from __future__ import annotations

import contextlib
import fcntl
import os
import pty
import select
import signal
import subprocess
import sys
import termios
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.core.i18n import Translator
from bot.core.schedule import Schedule
from bot.services.progress import Funnel, chart_figure

pytestmark = pytest.mark.slow


def lotse(args: list[str], data_dir: Path, stdin: bytes = b"", extra_env: dict[str, str] | None = None,
          timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    env.update({"LOTSE_DATA_DIR": str(data_dir), **(extra_env or {})})
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], input=stdin, capture_output=True, env=env,
                          timeout=timeout, cwd=data_dir)


def test_onboarding_in_arabic_and_in_tigrinya_from_a_script(tmp_path: Path) -> None:
    script = "\n".join(["مرحبا", "3", "1", "/menu", "/as yonas", "selam", "ትግርኛ", "እወ", "/menu", "/quit"]).encode()
    result = lotse(["demo"], tmp_path, script)
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "── Lotse → amal ──" in out and "── Lotse → yonas ──" in out
    ar, ti = Translator("ar"), Translator("ti")
    assert ar("What would you like to do?") in out.split("/as yonas")[0]
    assert ti("What would you like to do?") in out.split("/as yonas")[1]
    assert "(Datenschutz)" in out
    assert (tmp_path / "demo.sqlite3").is_file()
    # Log lines go to a file the demo names once; the terminal shows the chat, and errors only, on stderr.
    assert result.stderr == b""
    assert out.count(f"Log: {tmp_path / 'demo.log'}") == 1
    assert "INFO" not in out and "applying migration 0001" in (tmp_path / "demo.log").read_text()


def test_bad_bytes_and_lines_from_stdin(tmp_path: Path) -> None:
    script = b"hi\n\xff\xfe broken\n" + b"z" * 10_000 + b"\n\n2\n/teleport\n"
    result = lotse(["demo"], tmp_path, script)
    out = result.stdout.decode()
    assert result.returncode == 0 and "Traceback" not in result.stderr.decode()
    assert "I could not read that message. Please write it again." in out
    assert "That is too long. Please write at most 1,000 characters." in out
    assert "Your message was empty. Please write your answer." in out
    assert "I do not know the command /teleport." in out


def test_kill_9_in_the_middle_and_a_restart_continues_at_the_same_step(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    env["LOTSE_DATA_DIR"] = str(tmp_path)
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "demo"], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    assert process.stdin and process.stdout
    process.stdin.write("/as olena\nпривіт\nУкраїнська\n".encode())
    process.stdin.flush()
    notice = Translator("uk")("Do you agree that Lotse stores your data for this purpose?")
    seen = b""
    deadline = time.monotonic() + 60
    while notice.encode() not in seen and time.monotonic() < deadline:
        seen += os.read(process.stdout.fileno(), 65536)
    assert notice.encode() in seen
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    result = lotse(["demo"], tmp_path, b"1\n/menu\n")  # "yes" to the question asked before the kill
    out = result.stdout.decode()
    assert result.returncode == 0, result.stderr.decode()
    assert "You are olena" in out  # the console remembers who was typing
    uk = Translator("uk")
    assert uk("Thank you. Your consent was recorded on {date}.", date="@").split("@")[0] in out
    assert uk("What would you like to do?") in out


@pytest.mark.parametrize(("env", "expected"), [
    ({"LOTSE_IDLE_MINUTES": "-5"}, "lotse: setting LOTSE_IDLE_MINUTES: Input should be greater than or equal"),
    ({"LOTSE_NETWORK_FILE": "broken.toml"}, "lotse: network file broken.toml: not valid TOML"),
    ({"LOTSE_DATABASE_URL": "sqlite+aiosqlite:///corrupt.sqlite3"}, "lotse: cannot use the database"),
    ({"LOTSE_DATA_DIR": "/proc/lotse"}, "lotse: setting LOTSE_DATA_DIR: cannot write the demo's log /proc/lotse/"),
])
def test_operator_mistakes_are_one_line_and_exit_2(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    (tmp_path / "broken.toml").write_text("name = [unclosed\n")
    (tmp_path / "corrupt.sqlite3").write_bytes(b"garbage" * 1000)
    result = lotse(["demo"], tmp_path, b"hi\n", extra_env=env)
    err = result.stderr.decode().strip().splitlines()
    assert result.returncode == 2
    assert err[-1].startswith(expected) and "Traceback" not in result.stderr.decode()


def test_the_demo_logs_to_its_file_and_shows_only_errors_on_stderr(tmp_path: Path) -> None:
    script = ("import logging, pathlib; from bot.cli import _logging; "
              f"_logging('INFO', pathlib.Path({str(tmp_path / 'demo.log')!r})); "
              "logging.getLogger('lotse.sender').info('delivered 3 message(s)'); "
              "logging.getLogger('lotse.sender').warning('retrying in 5 s'); "
              "logging.getLogger('lotse.sender').error('delivery failed: %s', 'no such chat')")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60, check=True)
    assert result.stdout == b""  # the chat's stream stays the chat's
    assert result.stderr.decode() == "!! lotse error (lotse.sender): delivery failed: no such chat\n"
    logged = (tmp_path / "demo.log").read_text()
    assert "INFO lotse.sender: delivered 3 message(s)" in logged and "WARNING lotse.sender: retrying" in logged
    assert "ERROR lotse.sender: delivery failed: no such chat" in logged


def test_run_without_a_transport_says_what_to_set(tmp_path: Path) -> None:
    result = lotse(["run"], tmp_path)
    assert result.returncode == 2
    assert result.stderr.decode().strip() == (
        "lotse: no transport configured: set LOTSE_TELEGRAM_TOKEN or LOTSE_MATRIX_HOMESERVER "
        "(or try the console with `lotse demo`)")


def test_db_upgrade_and_network_check(tmp_path: Path) -> None:
    upgrade = lotse(["db", "upgrade"], tmp_path)
    assert upgrade.returncode == 0 and "applying migration 0001 (initial schema)" in upgrade.stderr.decode()
    again = lotse(["db", "upgrade"], tmp_path)
    assert "applying migration" not in again.stderr.decode() and "0 migration(s) applied" in again.stderr.decode()
    check = lotse(["network", "check"], tmp_path)
    assert check.returncode == 0 and "10 districts, 8 topics" in check.stdout.decode()


# ---------------------------------------------------------------------------------------------------------------
# After trying the demo: personas that stay, tools that say which database they use, the digest's default date


def demo_invite(data_dir: Path) -> str:
    made = lotse(["invite", "--demo", "--role", "coordinator", "--organisation", "jobcenter", "--topics",
                  "letters,work", "--districts", "stadt_oldenburg", "--language", "en"], data_dir)
    assert made.returncode == 0, made.stderr.decode()
    return next(line.split()[-1] for line in made.stdout.decode().splitlines() if line.startswith("code: "))


def test_a_persona_made_a_coordinator_in_the_demo_is_still_one_after_a_restart(tmp_path: Path) -> None:
    code = demo_invite(tmp_path)
    first = lotse(["demo"], tmp_path, f"/as jobc\n/start {code}\n/as\n/quit\n".encode()).stdout.decode()
    assert "(demo) You are now jobc (participant)." in first  # a new name types as a participant at first
    en = Translator("en")
    assert en("Welcome! You are now a coordinator for {organisation}. Write /help to see what you can do.",
              organisation="Jobcenter Oldenburg") in first
    assert "(demo) jobc is now a coordinator." in first
    assert "jobc (coordinator)" in first.split("jobc › /as\n")[1]
    again = lotse(["demo"], tmp_path, b"/as\n/as jobc\n/menu\n").stdout.decode()
    assert "(demo) You are jobc (coordinator)." in again  # restored from the database, with the real role
    assert "petra (coordinator)" in again and "jana (volunteer)" in again and "jobc (coordinator)" in again
    assert en("Open questions") in again.split("jobc › /menu")[1]


def test_the_tools_name_their_database_and_use_the_demos_with_demo(tmp_path: Path) -> None:
    demo = lotse(["demo"], tmp_path, "مرحبا\n3\n1\n".encode())
    assert demo.returncode == 0, demo.stderr.decode()
    plain = lotse(["digest"], tmp_path)
    assert plain.returncode == 0
    assert plain.stderr.decode().splitlines()[0] == (
        f"lotse: using the database {tmp_path / 'lotse.sqlite3'}, which does not exist yet; "
        f"the demo's database {tmp_path / 'demo.sqlite3'} does: add --demo to use it")
    assert "## Neue Teilnehmende (0)" in plain.stdout.decode()
    twice = lotse(["report"], tmp_path)  # the empty default database exists now: the hint still fits
    assert twice.stderr.decode().splitlines()[0].endswith("which has nobody in it yet; the demo's database "
                                                          f"{tmp_path / 'demo.sqlite3'} does: add --demo to use it")
    shown = lotse(["digest", "--demo"], tmp_path)
    assert shown.stderr.decode().splitlines()[0] == f"lotse: using the database {tmp_path / 'demo.sqlite3'}"
    assert "## Neue Teilnehmende (1)" in shown.stdout.decode()
    (tmp_path / "termine.csv").write_text("participant,kind,date,time,place\n")
    for tool in (["report"], ["export", "participants", "--format", "csv"], ["import", "appointments", "termine.csv"],
                 ["audit"], ["invite", "--role", "volunteer", "--organisation", "proconnect"], ["forget", "--person",
                 "1"], ["retention"], ["backup", "demo.backup"], ["db", "upgrade"]):
        result = lotse([*tool, "--demo"], tmp_path)
        assert result.returncode == 0, (tool, result.stderr.decode())
        named = [line for line in result.stderr.decode().splitlines() if line.startswith("lotse: using the database")]
        assert named == [f"lotse: using the database {tmp_path / 'demo.sqlite3'}"], tool
    assert "would delete person no. 1 (participant)" in lotse(["forget", "--person", "1", "--demo"], tmp_path
                                                              ).stdout.decode()


def test_a_database_password_is_never_shown(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://lotse:sekret-pw-123@127.0.0.1:9/lotse"  # nothing listens on port 9
    result = lotse(["audit"], tmp_path, extra_env={"LOTSE_DATABASE_URL": url})
    err = result.stderr.decode()
    assert result.returncode == 2 and "sekret-pw-123" not in err
    assert err.splitlines()[0] == "lotse: using the database postgresql+asyncpg://lotse:***@127.0.0.1:9/lotse"


BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(("now", "expected"), [
    (datetime(2026, 12, 4, 15, 0, tzinfo=BERLIN), date(2026, 12, 7)),  # Friday: the coming Monday
    (datetime(2026, 12, 7, 6, 0, tzinfo=BERLIN), date(2026, 12, 7)),  # Monday before the digest: today
    (datetime(2026, 12, 7, 11, 0, tzinfo=BERLIN), date(2026, 12, 7)),  # Monday, meeting day: still today
    (datetime(2026, 12, 6, 23, 30, tzinfo=UTC), date(2026, 12, 7)),  # Sunday 23:30 UTC is Monday in Berlin
    (datetime(2026, 12, 8, 9, 0, tzinfo=BERLIN), date(2026, 12, 14)),  # Tuesday: next week's
])
def test_the_digest_defaults_to_the_coming_montagsrunde(now: datetime, expected: date) -> None:
    assert Schedule().next_meeting(now) == expected
    assert Schedule.parse("wed 09:00").next_meeting(now).weekday() == 2


def test_lotse_digest_without_a_date_shows_the_coming_montagsrunde(tmp_path: Path) -> None:
    before = datetime.now(BERLIN).date()
    result = lotse(["digest", "--language", "en"], tmp_path)
    after = datetime.now(BERLIN).date()
    en = Translator("en")
    meetings = {day + timedelta(days=-day.weekday() % 7) for day in (before, after)}  # a run across midnight
    titles = {en("Montagsrunde {date}: the week in review", date=en.date(datetime(m.year, m.month, m.day, 12,
                                                                              tzinfo=BERLIN), "long"))
              for m in meetings}
    assert result.stdout.decode().splitlines()[0].removeprefix("# ") in titles


# ---------------------------------------------------------------------------------------------------------------
# A real terminal: line editing with the standard library's readline; the progress chart


def test_the_demo_in_a_terminal_has_line_editing_and_history(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOTSE_")}
    env.update({"LOTSE_DATA_DIR": str(tmp_path), "TERM": "xterm"})
    controller, terminal = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "bot.cli", "demo"], stdin=terminal, stdout=terminal,
                               stderr=terminal, env=env, cwd=tmp_path, close_fds=True, start_new_session=True,
                               preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))  # Ctrl-C reaches it
    os.close(terminal)
    seen = b""

    def until(expected: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while expected not in seen and time.monotonic() < deadline:
            if select.select([controller], [], [], 1)[0]:
                try:
                    seen += os.read(controller, 65536)
                except OSError:  # the demo closed the terminal
                    break
        assert expected in seen, seen.decode(errors="replace")[-2000:]

    try:
        until(b"amal (participant)> ")
        os.write(controller, b"/as yoas\x1b[D\x1b[Dn\r")  # a typo mended with the left arrow key
        until(b"(demo) You are now yonas (participant).")
        until(b"yonas (participant)> ")
        os.write(controller, b"\x1b[A\x1b[A\x15/as olena\r")  # history, then Ctrl-U clears the line
        until(b"(demo) You are now olena (participant).")
        until(b"olena (participant)> ")
        os.write(controller, b"\x03")  # Ctrl-C leaves at once, like Ctrl-D
        deadline = time.monotonic() + 90  # generous for a loaded CI machine; an idle one takes well under a second
        while process.poll() is None and time.monotonic() < deadline:
            # keep reading: a demo whose last lines fill the terminal's buffer would otherwise wait for us forever
            if select.select([controller], [], [], 0.5)[0]:
                with contextlib.suppress(OSError):  # the demo closed the terminal
                    seen += os.read(controller, 65536)
        assert process.poll() == 0, seen.decode(errors="replace")[-2000:]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(controller)
    assert b"A persona name is" not in seen and b"Traceback" not in seen


@pytest.mark.parametrize("language", ["de", "en"])
def test_the_goal_label_of_the_progress_chart_overlaps_nothing(language: str) -> None:
    import matplotlib.pyplot as plt

    funnel = Funnel(cohorts={"2026-Q3": [20, 18, 15, 12, 10, 16], "2026-Q4": [400, 300, 200, 100, 50, 20]})
    figure = chart_figure(Translator(language), funnel)
    try:
        renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
        for axis in figure.axes:
            goal = next(text for text in axis.texts if text.get_gid() == "goal")
            label = goal.get_window_extent(renderer)
            assert "75" in goal.get_text()
            assert not label.overlaps(axis.title.get_window_extent(renderer))
            assert axis.get_window_extent(renderer).contains(label.x0, label.y0)
            assert axis.get_window_extent(renderer).contains(label.x1, label.y1)
            for bar in axis.patches:
                assert not label.overlaps(bar.get_window_extent(renderer))
    finally:
        plt.close(figure)

"""`lotse demo` as a new user runs it: scripted through stdin, killed with -9, started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.i18n import Translator

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
    assert "applying migration 0001" in result.stderr.decode()


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
])
def test_operator_mistakes_are_one_line_and_exit_2(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    (tmp_path / "broken.toml").write_text("name = [unclosed\n")
    (tmp_path / "corrupt.sqlite3").write_bytes(b"garbage" * 1000)
    result = lotse(["demo"], tmp_path, b"hi\n", extra_env=env)
    err = result.stderr.decode().strip().splitlines()
    assert result.returncode == 2
    assert err[-1].startswith(expected) and "Traceback" not in result.stderr.decode()


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
    assert check.returncode == 0 and "10 districts, 7 topics" in check.stdout.decode()

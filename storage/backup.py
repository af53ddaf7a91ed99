"""`lotse backup` and `lotse restore`: SQLite through its online backup API, PostgreSQL through pg_dump/pg_restore.

SQLite's backup API copies a consistent snapshot while Lotse keeps running. pg_dump writes the custom format,
which pg_restore reads with `--clean --if-exists`. Backup files are created owner-only (0600). The password
travels in the environment (PGPASSWORD), never on a command line that `ps` shows.
"""

from __future__ import annotations

import glob
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy.engine import URL, make_url

from storage.database import StorageError, private_file

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"


def _sqlite_path(url: URL) -> Path:
    database = url.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        raise StorageError("backup: the SQLite database must be a file")
    return Path(database)


def postgres_binary(name: str) -> str:
    """pg_dump or pg_restore: from PATH, else the newest in /usr/lib/postgresql/*/bin (Debian's layout)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if not candidates:
        raise StorageError(f"backup: {name} not found; install the PostgreSQL client (Debian: postgresql-client)")
    return candidates[-1]


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment that carries it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no message"])[-1]
        raise StorageError(f"{what} failed: {reason}")


def backup(database_url: str, target: Path) -> str:
    """Writes a backup of the database to `target`; returns what was written, in one line."""
    url = make_url(database_url)
    if target.exists():
        raise StorageError(f"backup: {target} exists already; choose a new file name")
    if not target.parent.is_dir():
        raise StorageError(f"backup: the folder {target.parent} does not exist")
    private_file(target)
    try:
        if url.get_backend_name() == "sqlite":
            source_path = _sqlite_path(url)
            if not source_path.is_file():
                raise StorageError(f"backup: no database at {source_path}")
            with sqlite3.connect(source_path) as source, sqlite3.connect(target) as copy:
                source.backup(copy)
            copy.close()
        else:
            libpq, env = _libpq(url)
            _run([postgres_binary("pg_dump"), "--format=custom", "--no-owner", "--file", str(target), libpq], env,
                 "pg_dump")
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return f"backup of {url.render_as_string(hide_password=True)} written to {target} ({target.stat().st_size} bytes)"


def restore(database_url: str, source: Path) -> str:
    """Replaces the database's content with the backup in `source`; Lotse must not be running."""
    url = make_url(database_url)
    if not source.is_file():
        raise StorageError(f"restore: no file {source}")
    with source.open("rb") as file:
        head = file.read(16)
    if url.get_backend_name() == "sqlite":
        if head != SQLITE_MAGIC:
            raise StorageError(f"restore: {source} is not a SQLite backup (made with a PostgreSQL database?)")
        target = private_file(_sqlite_path(url))
        with sqlite3.connect(source) as backup_file, sqlite3.connect(target) as database:
            backup_file.backup(database)
        database.close()
    else:
        if not head.startswith(PGDUMP_MAGIC):
            raise StorageError(f"restore: {source} is not a pg_dump backup (made with a SQLite database?)")
        libpq, env = _libpq(url)
        _run([postgres_binary("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
              "--dbname", libpq, str(source)], env, "pg_restore")
    return f"restored {url.render_as_string(hide_password=True)} from {source}"

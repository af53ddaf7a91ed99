"""A throwaway PostgreSQL server on 127.0.0.1 for the test run, started from the machine's binaries."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def find_bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(candidate, "initdb").is_file():
            return Path(candidate)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+asyncpg://lotse@127.0.0.1:{self.port}/postgres"

    def database_url(self, name: str) -> str:
        return f"postgresql+asyncpg://lotse@127.0.0.1:{self.port}/{name}"

    @classmethod
    def start(cls) -> PostgresServer:
        bindir = find_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL binaries (initdb, pg_ctl) not found: install Debian's postgresql")
        root = Path(tempfile.mkdtemp(prefix="lotse-pg-"))
        server = cls(bindir, root, _free_port())
        server._run([str(bindir / "initdb"), "-D", str(root / "data"), "-U", "lotse", "--auth=trust",
                     "-E", "UTF8", "--locale=C.UTF-8"], prepare=True)
        options = f"-h 127.0.0.1 -p {server.port} -k {root} -c fsync=off -c full_page_writes=off"
        server._run([str(bindir / "pg_ctl"), "-D", str(root / "data"), "-o", options,
                     "-l", str(root / "server.log"), "-w", "start"])
        return server

    def _run(self, command: list[str], prepare: bool = False) -> None:
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: hand the directory to the postgres user
            user = pwd.getpwnam("postgres")
            if prepare:
                os.chown(self.root, user.pw_uid, user.pw_gid)
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def stop(self) -> None:
        try:
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "stop"])
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

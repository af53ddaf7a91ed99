"""A real Synapse on 127.0.0.1 for the tests and the benchmark: installed from PyPI into its own virtual
environment (cached between runs), configured for loopback only with relaxed rate limits, users registered
with the shared secret."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SYNAPSE_VERSION = "1.163.2"
SHARED_SECRET = "lotse-test-registration-secret"
RELAXED = {"per_second": 10000, "burst_count": 10000}


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lotse"


def synapse_venv() -> Path:
    """Creates the venv with Synapse on first use (~30 s, wheels only); later runs reuse it."""
    venv = cache_dir() / f"synapse-{SYNAPSE_VERSION}"
    marker = venv / ".installed"
    if marker.is_file():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    python = shutil.which("python3.11") or sys.executable
    subprocess.run([python, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"matrix-synapse=={SYNAPSE_VERSION}"], check=True,
                   timeout=900)
    marker.touch()
    return venv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def config(root: Path, port: int, extra: dict[str, Any] | None = None) -> str:
    limits = {name: RELAXED for name in ("rc_message", "rc_registration", "rc_joins_per_room", "rc_invites",
                                          "rc_room_creation", "rc_key_requests", "rc_media_create", "rc_presence",
                                          "rc_3pid_validation", "rc_delayed_event_mgmt", "rc_reports")}
    lines = [
        "server_name: localhost",
        f"pid_file: {root / 'homeserver.pid'}",
        "listeners:",
        f"  - port: {port}",
        "    bind_addresses: ['127.0.0.1']",
        "    type: http",
        "    tls: false",
        "    x_forwarded: false",
        "    resources: [{names: [client], compress: false}]",
        "database:",
        "  name: sqlite3",
        f"  args: {{database: {root / 'homeserver.db'}}}",
        f"media_store_path: {root / 'media'}",
        f"signing_key_path: {root / 'signing.key'}",
        f"log_config: {root / 'log.yaml'}",
        f"registration_shared_secret: {SHARED_SECRET}",
        f"macaroon_secret_key: {secrets.token_hex(16)}",
        f"form_secret: {secrets.token_hex(16)}",
        "report_stats: false",
        "enable_registration: false",
        "trusted_key_servers: []",
        "suppress_key_server_warning: true",
        "federation_domain_whitelist: []",
        "presence: {enabled: false}",
        "bcrypt_rounds: 4",
        "url_preview_enabled: false",
        "enable_metrics: false",
        "rc_login:",
        "  address: {per_second: 10000, burst_count: 10000}",
        "  account: {per_second: 10000, burst_count: 10000}",
        "  failed_attempts: {per_second: 10000, burst_count: 10000}",
        "rc_joins:",
        "  local: {per_second: 10000, burst_count: 10000}",
        "  remote: {per_second: 10000, burst_count: 10000}",
    ]
    for name, values in limits.items():
        lines.append(f"{name}: {{per_second: {values['per_second']}, burst_count: {values['burst_count']}}}")
    for key, value in (extra or {}).items():
        lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


LOG_CONFIG = """version: 1
formatters: {plain: {format: '%(asctime)s %(levelname)s %(name)s: %(message)s'}}
handlers: {file: {class: logging.FileHandler, filename: LOGFILE, formatter: plain}}
root: {level: WARNING, handlers: [file]}
disable_existing_loggers: false
"""


@dataclass
class SynapseServer:
    venv: Path
    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    registered: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, extra: dict[str, Any] | None = None) -> SynapseServer:
        venv = synapse_venv()
        root = Path(tempfile.mkdtemp(prefix="lotse-synapse-"))
        server = cls(venv, root, free_port())
        (root / "homeserver.yaml").write_text(config(root, server.port, extra))
        (root / "log.yaml").write_text(LOG_CONFIG.replace("LOGFILE", str(root / "homeserver.log")))
        server.launch()
        return server

    def launch(self) -> None:
        """Starts the process and waits until the client API answers (about 1.5 s; the first start makes keys)."""
        self.process = subprocess.Popen(
            [str(self.venv / "bin" / "python"), "-m", "synapse.app.homeserver",
             "-c", str(self.root / "homeserver.yaml")],
            cwd=self.root, stdout=subprocess.DEVNULL, stderr=open(self.root / "stderr.log", "ab"))  # noqa: SIM115
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Synapse exited with {self.process.returncode}: "
                                   f"{(self.root / 'stderr.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/_matrix/client/versions", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("Synapse did not answer within 90 s")

    def halt(self) -> None:
        """Stops the process (SIGTERM), keeping its database: `launch` brings the same server back."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def stop(self) -> None:
        try:
            self.halt()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def register(self, name: str, password: str = "secret-password", admin: bool = False) -> str:
        """Registers `@name:localhost` through the shared-secret admin API; returns the user id."""
        import json

        user_id = f"@{name}:localhost"
        if user_id in self.registered:
            return user_id
        endpoint = f"{self.url}/_synapse/admin/v1/register"
        with urllib.request.urlopen(endpoint, timeout=10) as response:
            nonce = json.loads(response.read())["nonce"]
        mac = hmac.new(SHARED_SECRET.encode(), digestmod=hashlib.sha1)
        mac.update(b"\x00".join([nonce.encode(), name.encode(), password.encode(),
                                 b"admin" if admin else b"notadmin"]))
        body = json.dumps({"nonce": nonce, "username": name, "password": password, "admin": admin,
                           "mac": mac.hexdigest()}).encode()
        request = urllib.request.Request(endpoint, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10):
            pass
        self.registered.add(user_id)
        return user_id


if __name__ == "__main__":  # `.ci/run`: python -m tests.synapse_server install
    if sys.argv[1:] != ["install"]:
        sys.exit("usage: python -m tests.synapse_server install")
    print(f"synapse {SYNAPSE_VERSION} in {synapse_venv()}")

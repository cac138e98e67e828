"""Private PostgreSQL and Mosquitto servers on free ports, for `demo` and for the tests.

Both run as child processes with their data in a folder of ours, so nothing
has to be installed by hand and nothing touches the machine's own services.
Running as root needs care: `initdb` refuses root, so PostgreSQL runs as the
`postgres` user (through `runuser`); Mosquitto drops to the `mosquitto` user
on its own, so its persistence folder must belong to that user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from relic_guard.errors import EmbeddedServiceError

PG_BIN_CANDIDATES = (
    Path("/usr/lib/postgresql/15/bin"),
    Path("/usr/lib/postgresql/16/bin"),
    Path("/usr/lib/postgresql/17/bin"),
    Path("/usr/lib/postgresql/14/bin"),
)


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return True
        time.sleep(0.05)
    return False


def _is_root() -> bool:
    return os.geteuid() == 0


def _chown_tree(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    for root, dirs, files in os.walk(path):
        os.chown(root, entry.pw_uid, entry.pw_gid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), entry.pw_uid, entry.pw_gid)


def find_pg_bin() -> Path | None:
    env_dir = os.environ.get("RELIC_GUARD_PG_BIN")
    candidates = ([Path(env_dir)] if env_dir else []) + list(PG_BIN_CANDIDATES)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_ctl").exists():
            return candidate
    on_path = shutil.which("pg_ctl")
    return Path(on_path).parent if on_path else None


@dataclass
class EmbeddedPostgres:
    """A throw-away PostgreSQL cluster in `base_dir`, listening on 127.0.0.1:`port`."""

    base_dir: Path
    port: int = field(default_factory=free_port)
    # Tests trade durability for speed; the demo keeps PostgreSQL's defaults.
    fast_unsafe: bool = False
    user: str = "postgres"
    bin_dir: Path | None = None
    shared_buffers: str = "256MB"
    max_wal_size: str = "2GB"

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "pgdata"

    @property
    def url(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def _run_as_owner(self, args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        command = ["runuser", "-u", self.user, "--", *args] if _is_root() else args
        return subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]

    def _bin(self, name: str) -> str:
        bin_dir = self.bin_dir or find_pg_bin()
        if bin_dir is None:
            raise EmbeddedServiceError(
                "PostgreSQL server binaries (initdb, pg_ctl) not found; install them with "
                "`apt-get install postgresql` or set RELIC_GUARD_PG_BIN to their folder"
            )
        return str(bin_dir / name)

    def init(self) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if (self.data_dir / "PG_VERSION").exists():
            return
        if _is_root():
            try:
                pwd.getpwnam(self.user)
            except KeyError as exc:
                raise EmbeddedServiceError(
                    f"running as root, PostgreSQL needs an unprivileged user {self.user!r}; "
                    f"create it with `useradd --system {self.user}`"
                ) from exc
            _chown_tree(self.base_dir, self.user)
        self._initdb_and_configure("relic-guard embedded")

    def _initdb_and_configure(self, label: str) -> None:
        """initdb as the owning account, then our settings appended to postgresql.conf."""
        result = self._run_as_owner(
            [self._bin("initdb"), "-D", str(self.data_dir), "-U", self.user, "-A", "trust", "-E", "UTF8",
             "--locale=C.UTF-8", "--no-instructions"]
        )
        if result.returncode != 0:
            raise EmbeddedServiceError(f"initdb failed in {self.data_dir}:\n{result.stderr.strip()}")
        settings = [
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.base_dir}'",
            "max_connections = 100",
            f"shared_buffers = {self.shared_buffers}",
            f"max_wal_size = {self.max_wal_size}",
        ]
        if self.fast_unsafe:
            settings += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"\n# {label}\n" + "\n".join(settings) + "\n")

    def start(self, timeout_s: float = 30.0) -> None:
        self.init()
        log = self.base_dir / "postgres.log"
        result = self._run_as_owner(
            [self._bin("pg_ctl"), "-D", str(self.data_dir), "-l", str(log), "-o", f"-p {self.port}",
             "-w", "-t", str(int(timeout_s)), "start"]
        )
        if result.returncode != 0:
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedServiceError(f"PostgreSQL did not start on port {self.port}:\n{result.stderr}\n{tail}")

    def stop(self, mode: str = "fast") -> None:
        if not (self.data_dir / "postmaster.pid").exists():
            return
        self._run_as_owner([self._bin("pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w", "stop"])

    def create_database(self, name: str) -> str:
        result = self._run_as_owner(
            [self._bin("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name]
        )
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise EmbeddedServiceError(f"createdb {name} failed: {result.stderr.strip()}")
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{name}"


MOSQUITTO_CONF = """\
# Generated by relic-guard for a private broker.
listener {port} 127.0.0.1
allow_anonymous true
persistence true
persistence_location {data}/
autosave_interval 60
# Mosquitto's default of 1000 queued messages per client silently drops QoS 1
# messages for a subscriber that is away or slow: no limit here.
max_queued_messages 0
max_queued_bytes 0
# MQTT 3.1.1 clients have no Receive Maximum: give them a window that covers a batch.
max_inflight_messages 20000
persistent_client_expiration 14d
log_dest file {data}/mosquitto.log
log_type error
log_type warning
log_type notice
"""


@dataclass
class EmbeddedMosquitto:
    """A private Mosquitto broker in `base_dir`, listening on 127.0.0.1:`port`."""

    base_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # (CA file, certificate, key): listen with TLS instead of plain TCP.
    tls_files: tuple[Path, Path, Path] | None = None

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls_files else 'mqtt'}://127.0.0.1:{self.port}"

    @staticmethod
    def available() -> bool:
        return shutil.which("mosquitto") is not None or Path("/usr/sbin/mosquitto").exists()

    def start(self, timeout_s: float = 10.0) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise EmbeddedServiceError("mosquitto not found; install it with `apt-get install mosquitto`")
        data = self.base_dir / "mosquitto"
        data.mkdir(parents=True, exist_ok=True)
        conf = self.base_dir / "mosquitto.conf"
        text = MOSQUITTO_CONF.format(port=self.port, data=data)
        if self.tls_files is not None:
            ca, cert, key = self.tls_files
            text += f"cafile {ca}\ncertfile {cert}\nkeyfile {key}\n"
        conf.write_text(text, encoding="utf-8")
        if _is_root():
            # Mosquitto started as root drops to this user, who must own its files.
            with contextlib.suppress(KeyError):
                _chown_tree(data, "mosquitto")
        self.process = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if not wait_for_port("127.0.0.1", self.port, timeout_s):
            self.stop()
            log = data / "mosquitto.log"
            tail = log.read_text(encoding="utf-8", errors="replace")[-2000:] if log.exists() else ""
            raise EmbeddedServiceError(f"Mosquitto did not start on port {self.port}:\n{tail}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

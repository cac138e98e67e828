"""The ingest benchmark: how fast a backlog of telemetry goes from Mosquitto into PostgreSQL.

    python bench/ingest.py --messages 200000 [--workers N] [--ceiling-only] [--json PATH]

Starts its own PostgreSQL (PostgreSQL's default durability: fsync and synchronous commit
on) and Mosquitto on free ports, and measures the same backlog of N `flood` messages
(simulated env telemetry, 3 metrics each) drained two ways:

A. the CEILING, the fastest honest pipeline the tools allow:
     mosquitto_sub -q 1 -c -i ceiling -v -C N | bench/ceiling_transform.py | psql -c "COPY …"
   in one transaction, twice: into the daemon's own `readings` table (migrated the same way:
   unique key, daily partitions; the ratio is taken against this one, since the database then
   does the same work for both), and into a bare unindexed table (for information). The
   persistent session is registered first, the backlog published, then the clock runs from
   starting the pipeline until psql has committed.
B. the DAEMON, `relic-guard run` with its telemetry workers' persistent sessions (shared
   subscription `$share/relic-guard/relic/#`) registered by a first start (until `/readyz`
   answers 200) and a SIGTERM; the backlog is published while it is down, then the clock
   runs from starting it again until `select count(*) from readings` reaches N x 3 (polled
   every 0.2 s). The steady rate counts from the first stored row (the daemon's start-up, about
   a second of spawning worker processes, is reported apart). Meanwhile the RSS of its whole
   process tree is sampled from /proc.

Prints the machine's cores, both rates, their ratio, the daemon's peak RSS, lost rows
(expected - stored: must be 0), duplicates, and one line for the README. Exit status 0
when nothing was lost or duplicated, 1 otherwise, 2 when the daemon cannot be run.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from relic_guard.embedded import EmbeddedMosquitto, EmbeddedPostgres, free_port
from relic_guard.simulate import METRICS_PER_TELEMETRY, plan_traffic, publish, write_registry

HERE = Path(__file__).resolve().parent
TRANSFORM = HERE / "ceiling_transform.py"
# Messages per simulated second of the backlog: only sets how far its timestamps spread.
PLAN_RATE = 10_000.0
CEILING_TABLE = """
CREATE TABLE readings_ceiling (
    ts        timestamptz NOT NULL,
    site_id   text COLLATE "C" NOT NULL,
    device_id text COLLATE "C" NOT NULL,
    metric    text COLLATE "C" NOT NULL,
    value     double precision NOT NULL
)
"""


class BenchError(Exception):
    """A phase could not run or did not finish; the message says which and why."""


@dataclass
class Results:
    cores: int
    machine: str
    messages: int
    readings_expected: int
    sites: int
    publishers: int
    ceiling_s: float | None = None
    ceiling_msgs_s: float | None = None
    ceiling_rows: int | None = None
    # The same pipeline into the daemon's own `readings` table (unique key, daily partitions):
    # the database does the same work for both, so this is the ceiling the ratio is taken against.
    same_table_ceiling_s: float | None = None
    same_table_ceiling_msgs_s: float | None = None
    workers: str = "default"
    daemon_s: float | None = None
    daemon_msgs_s: float | None = None
    daemon_rows: int | None = None
    # From the first stored row to the last: the drain rate without the daemon's start-up.
    daemon_steady_s: float | None = None
    daemon_steady_msgs_s: float | None = None
    peak_rss_mb: float | None = None
    lost: int | None = None
    duplicates: int | None = None
    quarantined: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        """Daemon (steady drain) against the same-table ceiling."""
        if self.same_table_ceiling_msgs_s and self.daemon_steady_msgs_s:
            return self.daemon_steady_msgs_s / self.same_table_ceiling_msgs_s
        return None

    @property
    def ratio_unindexed(self) -> float | None:
        if self.ceiling_msgs_s and self.daemon_steady_msgs_s:
            return self.daemon_steady_msgs_s / self.ceiling_msgs_s
        return None


def log(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


# Servers and backlog ---------------------------------------------------------------------


@contextlib.contextmanager
def postgres(base: Path) -> Iterator[EmbeddedPostgres]:
    # Not fast_unsafe: the realistic durability the daemon will meet in the field.
    pg = EmbeddedPostgres(base_dir=base / "pg", fast_unsafe=False)
    pg.start()
    try:
        yield pg
    finally:
        pg.stop(mode="fast")


def fresh_broker(base: Path, name: str) -> EmbeddedMosquitto:
    broker = EmbeddedMosquitto(base_dir=base / name)
    broker.start()
    return broker


def backlog(messages: int, sites: int) -> list[tuple[float, str, bytes]]:
    # Timestamps start now, so none is in the future or older than the retention window.
    plan = plan_traffic(sites, PLAN_RATE, None, 20261127, "flood", "relic", start_ms=int(time.time() * 1000))
    return list(itertools.islice(plan, messages))


def load_backlog(broker: EmbeddedMosquitto, messages: list[tuple[float, str, bytes]], publishers: int) -> None:
    log(f"publishing the backlog: {len(messages):,} messages with {publishers} publisher processes")
    report = publish(
        broker.url, messages, rate_msgs_s=0, processes=publishers, window=2000, progress=sys.stderr.isatty()
    )
    if report.interrupted:
        raise KeyboardInterrupt
    if report.acked != len(messages):
        raise BenchError(
            f"the broker acknowledged {report.acked:,} of {len(messages):,} backlog messages "
            f"({report.failed:,} refused)"
        )
    log(f"backlog queued: {report.acked:,} messages at {report.rate_msgs_s:,.0f} msg/s")


# Phase A: the ceiling --------------------------------------------------------------------


def mosquitto_sub() -> str:
    found = shutil.which("mosquitto_sub")
    if found is None:
        raise BenchError("mosquitto_sub not found; install it with `apt-get install mosquitto-clients`")
    return found


def psql_binary(pg: EmbeddedPostgres) -> str:
    candidates = [pg.bin_dir / "psql"] if pg.bin_dir else []
    found = shutil.which("psql")
    if found:
        candidates.append(Path(found))
    for candidate in candidates:
        if candidate.exists():
            return str(candidate)
    raise BenchError("psql not found; install it with `apt-get install postgresql-client`")


def phase_ceiling(pg: EmbeddedPostgres, base: Path, messages: list[tuple[float, str, bytes]],
                  publishers: int, results: Results, *, same_table: bool) -> None:
    name = "ceiling_same" if same_table else "ceiling"
    table = "readings" if same_table else "readings_ceiling"
    broker = fresh_broker(base, f"broker-{name}")
    try:
        url = pg.create_database(name)
        with psycopg.connect(url, autocommit=True) as conn:
            if same_table:
                from relic_guard.config import StoreConfig
                from relic_guard.store.partitions import maintain
                from relic_guard.store.schema import migrate

                migrate(conn)
                maintain(conn, StoreConfig(), datetime.now(UTC))
            else:
                conn.execute(CEILING_TABLE)
        sub = [mosquitto_sub(), "-h", "127.0.0.1", "-p", str(broker.port), "-q", "1", "-c", "-i", "ceiling",
               "-t", "relic/#"]
        # Register the persistent session: subscribe, and leave at once.
        subprocess.run([*sub, "-E"], check=True, timeout=30, capture_output=True)
        load_backlog(broker, messages, publishers)
        n = len(messages)
        copy = f"COPY {table} (ts, site_id, device_id, metric, value) FROM STDIN"
        psql = [psql_binary(pg), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(pg.port),
                "-U", pg.user, "-d", name, "-c", copy]
        log(f"ceiling: mosquitto_sub | ceiling_transform.py | psql COPY {table} …")
        started = time.monotonic()
        source = subprocess.Popen([*sub, "-v", "-C", str(n)], stdout=subprocess.PIPE)
        transform = subprocess.Popen([sys.executable, str(TRANSFORM)], stdin=source.stdout, stdout=subprocess.PIPE)
        sink = subprocess.Popen(psql, stdin=transform.stdout, stderr=subprocess.PIPE)
        assert source.stdout is not None and transform.stdout is not None
        source.stdout.close()  # the children hold their own copies of the pipes
        transform.stdout.close()
        try:
            _, psql_err = sink.communicate(timeout=3600)
        except subprocess.TimeoutExpired as exc:
            raise BenchError("ceiling: the pipeline did not finish within an hour") from exc
        finally:
            for proc in (source, transform, sink):
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
        elapsed = time.monotonic() - started
        codes = (source.returncode, transform.returncode, sink.returncode)
        if any(codes):
            raise BenchError(
                f"ceiling: pipeline failed (mosquitto_sub {codes[0]}, transform {codes[1]}, psql {codes[2]}): "
                f"{psql_err.decode(errors='replace').strip()}"
            )
        with psycopg.connect(url) as conn:
            row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()
        stored = int(row[0]) if row else 0
        if stored != results.readings_expected:
            raise BenchError(f"ceiling: stored {stored:,} rows in {table}, expected {results.readings_expected:,}")
        if same_table:
            results.same_table_ceiling_s = elapsed
            results.same_table_ceiling_msgs_s = n / elapsed
        else:
            results.ceiling_rows = stored
            results.ceiling_s = elapsed
            results.ceiling_msgs_s = n / elapsed
        log(f"ceiling into {table}: {n:,} messages in {elapsed:.2f} s = {n / elapsed:,.0f} msg/s")
    finally:
        broker.stop()


# Phase B: the daemon -----------------------------------------------------------------------


def daemon_command() -> list[str]:
    """`relic-guard run`, or BenchError saying why it cannot be run yet."""
    script = Path(sys.executable).with_name("relic-guard")
    command = [str(script)] if script.exists() else ([shutil.which("relic-guard") or ""])
    if not command[0]:
        raise BenchError("the `relic-guard` command is not installed; run `pip install -e .` first")
    probe = subprocess.run([*command, "run", "--help"], capture_output=True, text=True, timeout=60, check=False)
    if probe.returncode != 0:
        detail = (probe.stderr or probe.stdout).strip().splitlines()
        raise BenchError(
            "`relic-guard run` is not available yet, so the daemon phase cannot run "
            f"({detail[-1] if detail else f'exit {probe.returncode}'}); use --ceiling-only for the ceiling alone"
        )
    return [*command, "run"]


def process_tree_rss_bytes(root: int) -> int:
    """Resident memory of `root` and all its descendants, from /proc (no psutil)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields follow the last ')'.
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [root]
    page = os.sysconf("SC_PAGE_SIZE")
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/statm", "rb") as fh:
                total += int(fh.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
    return total


class RssSampler:
    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        self.pid = pid
        self.every_s = every_s
        self.peak = 0
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self.halt.is_set():
            self.peak = max(self.peak, process_tree_rss_bytes(self.pid))
            self.halt.wait(self.every_s)

    def __enter__(self) -> RssSampler:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.halt.set()
        self.thread.join()


@dataclass
class Daemon:
    command: list[str]
    env: dict[str, str]
    log_path: Path
    http: str
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command, env=self.env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        log_file.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise BenchError(f"the daemon exited while starting (code {self.exit_code()}); {self.tail()}")
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(f"http://{self.http}/readyz", timeout=1) as answer,
            ):
                if answer.status == 200:
                    return
            time.sleep(0.2)
        raise BenchError(f"the daemon's /readyz did not answer 200 within {timeout_s:.0f} s; {self.tail()}")

    def wait_ingest_subscribed(self, workers: int, timeout_s: float) -> bool:
        """Wait until `/metrics` shows `workers` telemetry lanes connected to the broker (each
        subscribes on connect). `/readyz` alone is not enough: it answers 200 once the alarm
        lane and the database are up, possibly before the telemetry workers subscribed, and a
        session that never subscribed queues nothing while the daemon is down."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.alive():
                raise BenchError(f"the daemon exited while starting (code {self.exit_code()}); {self.tail()}")
            text = ""
            with (
                contextlib.suppress(urllib.error.URLError, OSError),
                urllib.request.urlopen(f"http://{self.http}/metrics", timeout=2) as answer,
            ):
                text = answer.read().decode("utf-8", errors="replace")
            up = [
                line for line in text.splitlines()
                if line.startswith("relic_guard_broker_connected{") and 'lane="ingest-' in line
                and line.rsplit(" ", 1)[-1] in ("1", "1.0")
            ]
            if len(up) >= workers:
                return True
            time.sleep(0.2)
        return False

    def stop(self, timeout_s: float = 60.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            # `kill PID`, as an operator would: the daemon stops its own workers.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log(f"the daemon did not stop within {timeout_s:.0f} s of SIGTERM; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        # Worker processes of its own group that outlived it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        except OSError:
            return "no log"
        return f"last lines of {self.log_path}:\n    " + "\n    ".join(text)


def count_rows(conn: psycopg.Connection[tuple[object, ...]], sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0  # type: ignore[call-overload]


def phase_daemon(pg: EmbeddedPostgres, base: Path, messages: list[tuple[float, str, bytes]],
                 publishers: int, workers: int | None, sites: int, results: Results,
                 stall_timeout_s: float) -> None:
    command = daemon_command()
    broker = fresh_broker(base, "broker-daemon")
    url = pg.create_database("relic")
    registry = base / "registry"
    write_registry(sites, registry)
    http = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELIC_GUARD_")}
    env.update({
        "RELIC_GUARD_MQTT_URL": broker.url,
        "RELIC_GUARD_DATABASE_URL": url,
        "RELIC_GUARD_REGISTRY": str(registry),
        "RELIC_GUARD_HTTP_LISTEN": http,
        "RELIC_GUARD_SPOOL_DIR": str(base / "spool"),
    })
    if workers is not None:
        env["RELIC_GUARD_INGEST_WORKERS"] = str(workers)
    daemon = Daemon(command, env, base / "daemon.log", http)
    try:
        log("daemon: first start, to register its persistent sessions")
        daemon.start()
        daemon.wait_ready(120)
        lanes = workers or os.cpu_count() or 1
        if not daemon.wait_ingest_subscribed(lanes, 60):
            results.notes.append(
                f"could not confirm from /metrics that {lanes} telemetry workers subscribed before the "
                "first stop; a worker that never subscribed gets none of the backlog"
            )
        time.sleep(1.0)  # the SUBSCRIBE packets reach the broker ahead of the DISCONNECT anyway
        daemon.stop()
        load_backlog(broker, messages, publishers)
        log("daemon: started again; draining the backlog")
        expected = results.readings_expected
        with psycopg.connect(url, autocommit=True) as conn:
            started = time.monotonic()
            daemon.start()
            assert daemon.process is not None
            stored, last_change, last_stored = 0, started, -1
            first_row_at: float | None = None
            with RssSampler(daemon.process.pid) as rss:
                while stored < expected:
                    time.sleep(0.2)
                    if not daemon.alive():
                        raise BenchError(f"the daemon exited (code {daemon.exit_code()}); {daemon.tail()}")
                    with contextlib.suppress(psycopg.errors.UndefinedTable):
                        stored = count_rows(conn, "SELECT count(*) FROM readings")
                    now = time.monotonic()
                    if stored and first_row_at is None:
                        first_row_at = now
                    if stored != last_stored:
                        last_stored, last_change = stored, now
                    elif now - last_change > stall_timeout_s:
                        log(f"daemon: stuck at {stored:,} of {expected:,} rows for {stall_timeout_s:.0f} s")
                        results.notes.append(
                            f"the daemon stalled at {stored:,} rows; the time includes {stall_timeout_s:.0f} s "
                            "of waiting for more"
                        )
                        break
                elapsed = time.monotonic() - started
            # Late arrivals (a duplicate, a redelivery) would show up now.
            time.sleep(2.0)
            total = count_rows(conn, "SELECT count(*) FROM readings")
            distinct = count_rows(
                conn, "SELECT count(*) FROM (SELECT DISTINCT site_id, device_id, metric, ts FROM readings) d"
            )
            with contextlib.suppress(psycopg.Error):
                results.quarantined = count_rows(conn, "SELECT count(*) FROM quarantine")
        results.daemon_rows = total
        results.daemon_s = elapsed
        results.daemon_msgs_s = (distinct / METRICS_PER_TELEMETRY) / elapsed
        if first_row_at is not None:
            # The first poll that saw rows is up to 0.2 s late; count the rows it saw as stored then.
            steady = elapsed - (first_row_at - started)
            results.daemon_steady_s = steady
            results.daemon_steady_msgs_s = (distinct / METRICS_PER_TELEMETRY) / max(steady, 1e-6)
        results.peak_rss_mb = rss.peak / 2**20
        results.lost = expected - distinct
        results.duplicates = total - distinct
        log(f"daemon: {distinct:,} of {expected:,} rows in {elapsed:.2f} s = {results.daemon_msgs_s:,.0f} msg/s "
            f"including start-up; {results.daemon_steady_msgs_s or 0:,.0f} msg/s from the first row")
    finally:
        daemon.stop()
        broker.stop()


# Report -----------------------------------------------------------------------------------


def machine_line() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}"


def report(results: Results) -> None:
    def num(value: float | None, fmt: str = ",.0f") -> str:
        return "n/a" if value is None else format(value, fmt)

    print(f"machine               {results.machine}")
    print(f"messages              {results.messages:,} flood telemetry messages from {results.sites} sites "
          f"({results.readings_expected:,} readings)")
    print(f"ceiling, same table   {num(results.same_table_ceiling_msgs_s)} msg/s"
          + (f"  ({results.same_table_ceiling_s:.2f} s; mosquitto_sub | transform | psql COPY into readings,"
             " one transaction)" if results.same_table_ceiling_s else ""))
    print(f"ceiling, bare table   {num(results.ceiling_msgs_s)} msg/s"
          + (f"  ({results.ceiling_s:.2f} s; the same into an unindexed, unpartitioned table)"
             if results.ceiling_s else ""))
    print(f"daemon, steady        {num(results.daemon_steady_msgs_s)} msg/s"
          + (f"  ({results.daemon_steady_s:.2f} s from the first stored row to the last)"
             if results.daemon_steady_s else ""))
    print(f"daemon, with start-up {num(results.daemon_msgs_s)} msg/s"
          + (f"  ({results.daemon_s:.2f} s; relic-guard run, ingest workers: {results.workers})"
             if results.daemon_s else ""))
    print(f"ratio daemon/ceiling  {num(results.ratio, '.2f')} (steady, against the same-table ceiling); "
          f"{num(results.ratio_unindexed, '.2f')} against the bare table")
    print(f"peak RSS (daemon)     {num(results.peak_rss_mb, ',.0f')} MB")
    print(f"lost                  {num(results.lost, ',d') if results.lost is not None else 'n/a'}")
    print(f"duplicates            {num(results.duplicates, ',d') if results.duplicates is not None else 'n/a'}")
    if results.quarantined:
        print(f"quarantined           {results.quarantined:,}")
    for note in results.notes:
        print(f"note                  {note}")
    print()
    print("README: " + readme_line(results))


def readme_line(r: Results) -> str:
    where = f"{r.cores}-core machine, PostgreSQL with fsync on"
    if r.daemon_msgs_s is None:
        return (f"Ingest ceiling on a {where}: {num0(r.ceiling_msgs_s)} msg/s "
                f"(mosquitto_sub | transform | psql COPY, {r.messages:,}-message backlog); daemon not measured.")
    return (
        f"On a {where}, relic-guard drains a {r.messages:,}-message telemetry backlog at "
        f"{num0(r.daemon_steady_msgs_s)} msg/s ({r.readings_expected:,} readings; "
        f"{num0(r.daemon_msgs_s)} msg/s counting start-up), "
        f"{r.ratio or 0:.0%} of the mosquitto_sub | psql COPY ceiling into the same table "
        f"({num0(r.same_table_ceiling_msgs_s)} msg/s; {num0(r.ceiling_msgs_s)} msg/s into a bare table), "
        f"peak RSS {num0(r.peak_rss_mb)} MB, {r.lost} lost, {r.duplicates} duplicated "
        f"(`python bench/ingest.py --messages {r.messages}`)."
    )


def num0(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.0f}"


# Main -------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=200_000, help="backlog size (default 200000)")
    parser.add_argument("--workers", type=int, default=None,
                        help="RELIC_GUARD_INGEST_WORKERS for the daemon (default: its own default)")
    parser.add_argument("--sites", type=int, default=1000, help="simulated sites (3 env sensors each)")
    parser.add_argument("--publishers", type=int, default=max(2, os.cpu_count() or 2),
                        help="publisher processes loading the backlog")
    parser.add_argument("--ceiling-only", action="store_true", help="run phase A (the ceiling) alone")
    parser.add_argument("--daemon-only", action="store_true", help="run phase B (the daemon) alone")
    parser.add_argument("--stall-timeout", type=float, default=60.0,
                        help="give up on the daemon after this many seconds without a new row")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, data)")
    args = parser.parse_args(argv)
    if args.messages < 1:
        parser.error("--messages must be positive")

    results = Results(
        cores=os.cpu_count() or 0, machine=machine_line(), messages=args.messages,
        readings_expected=args.messages * METRICS_PER_TELEMETRY, sites=args.sites, publishers=args.publishers,
        workers=str(args.workers) if args.workers is not None else "default",
    )
    if not args.ceiling_only:
        try:
            daemon_command()
        except BenchError as exc:
            print(f"bench/ingest.py: {exc}", file=sys.stderr)
            return 2
    base = Path(tempfile.mkdtemp(prefix="relic-guard-bench-ingest-"))
    os.chmod(base, 0o755)
    log(f"{results.machine}; working in {base}")
    code = 0
    try:
        messages = backlog(args.messages, args.sites)
        with postgres(base) as pg:
            if not args.daemon_only:
                phase_ceiling(pg, base, messages, args.publishers, results, same_table=True)
                phase_ceiling(pg, base, messages, args.publishers, results, same_table=False)
            if not args.ceiling_only:
                phase_daemon(pg, base, messages, args.publishers, args.workers, args.sites, results,
                             args.stall_timeout)
    except BenchError as exc:
        print(f"bench/ingest.py: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        print("bench/ingest.py: interrupted", file=sys.stderr)
        code = 130
    finally:
        if args.keep or code not in (0,):
            log(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    report(results)
    if args.json is not None:
        payload = asdict(results) | {"ratio": results.ratio, "readme": readme_line(results)}
        args.json.write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if code == 0 and (results.lost or results.duplicates):
        code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())

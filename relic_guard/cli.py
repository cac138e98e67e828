"""The `relic-guard` command line (CONTRACT §5).

Heavy modules are imported inside the commands: `run` must set up the
multiprocess metrics folder before prometheus-client is first imported, and
`check-config` should answer instantly.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from relic_guard.alerting.tokens import Role
    from relic_guard.config import Config

_T = TypeVar("_T")

app = typer.Typer(
    name="relic-guard",
    help="Safety monitoring for cultural heritage sites: MQTT in, PostgreSQL history, alerts out.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help: the texts name configuration keys as `[patrols] routes_file`, which Rich
    # markup would take for style tags and drop.
    rich_markup_mode=None,
)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML configuration file (default: $RELIC_GUARD_CONFIG, else defaults)"),
]


def _prepare_metrics_dir() -> Path | None:
    """Point prometheus-client's multiprocess mode at an empty folder. Returns the folder when
    it was made here (a temporary one, to remove at exit), None when the environment named it."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.glob("*.db"):
            stale.unlink()
        return None
    import tempfile

    made = Path(tempfile.mkdtemp(prefix="relic-guard-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(made)
    return made


@app.command()
def run(config: ConfigOption = None) -> None:
    """Run the daemon: ingest lanes, store, probes."""
    made_metrics_dir = _prepare_metrics_dir()
    try:
        _run(config)
    finally:
        if made_metrics_dir is not None:
            import shutil

            shutil.rmtree(made_metrics_dir, ignore_errors=True)


def _run(config: Path | None) -> None:
    import asyncio
    import signal

    from relic_guard.app import run_service
    from relic_guard.config_load import load_config
    from relic_guard.errors import ConfigError
    from relic_guard.logs import setup_logging
    from relic_guard.registry import load_registry

    setup_logging()
    try:
        cfg = load_config(config, os.environ)
        registry = load_registry(cfg.registry_dir)
    except ConfigError as exc:
        typer.echo("relic-guard: the configuration is not valid:", err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(2) from exc

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run_service(cfg, registry, stop=stop)

    try:
        asyncio.run(main())
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"relic-guard: {problem}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def video(config: ConfigOption = None) -> None:
    """Run the video analysis on its own (e.g. next to the NVR): frames in, video events and evidence out.
    `run` starts it by itself when [video] cameras_file or frigate_url is set."""
    import signal
    import threading

    from relic_guard.config_load import load_config, parse_listen
    from relic_guard.errors import ConfigError
    from relic_guard.logs import setup_logging
    from relic_guard.registry import load_registry
    from relic_guard.video.process import load_video_cameras, video_wanted
    from relic_guard.video.runner import VideoService

    setup_logging()
    try:
        cfg = load_config(config, os.environ)
        registry = load_registry(cfg.registry_dir)
        cameras = load_video_cameras(cfg, registry)
    except ConfigError as exc:
        typer.echo("relic-guard: the configuration is not valid:", err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(2) from exc
    if not video_wanted(cfg):
        typer.echo("relic-guard: nothing to analyse: set [video] cameras_file (or frigate_url)", err=True)
        raise typer.Exit(2)
    if cfg.video.metrics_listen is not None:
        from prometheus_client import start_http_server

        host, port = parse_listen(cfg.video.metrics_listen)
        start_http_server(port, addr=host)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda _sig, _frame: stop.set())
    VideoService(cfg, registry, cameras).run(stop)


@app.command("check-config")
def check_config_command(config: ConfigOption = None) -> None:
    """Validate the configuration and the site/device sheets; say what is wrong, with file and line."""
    from relic_guard.check_config import check_config

    code, text = check_config(config, os.environ)
    typer.echo(text, err=code != 0)
    raise typer.Exit(code)


@app.command()
def simulate(
    broker: Annotated[str, typer.Option(help="Broker URL, mqtt://user:pass@host:1883")] = "mqtt://127.0.0.1:1883",
    sites: Annotated[int, typer.Option(min=1, help="Number of simulated sites")] = 10,
    rate: Annotated[float, typer.Option(min=0, help="Messages per second in all (0: as fast as possible)")] = 100.0,
    duration: Annotated[float | None, typer.Option(help="Seconds to run (default: until Ctrl-C)")] = None,
    scenario: Annotated[str, typer.Option(help="steady, fire, intrusion, outage or flood")] = "steady",
    seed: Annotated[int, typer.Option(help="Seed for repeatable traffic")] = 1,
    processes: Annotated[int, typer.Option(min=1, help="Publisher processes")] = 1,
    write_registry: Annotated[
        Path | None, typer.Option(help="Write sites.csv/devices.csv for the simulated devices into this folder")
    ] = None,
) -> None:
    """Publish realistic traffic from simulated sites (for tests, demos and benchmarks)."""
    from relic_guard.simulate import simulate_main

    raise typer.Exit(simulate_main(broker, sites, rate, duration, scenario, seed, processes, write_registry))


@app.command()
def demo(
    sites: Annotated[int, typer.Option(min=1, help="Simulated sites")] = 12,
    rate: Annotated[float, typer.Option(min=1, help="Simulated messages per second")] = 200.0,
    http: Annotated[str, typer.Option(help="Where the probes listen, HOST:PORT")] = "127.0.0.1:8080",
    data_dir: Annotated[Path | None, typer.Option(help="Where the demo keeps its database and broker data")] = None,
    seed: Annotated[int, typer.Option(help="Seed for the simulated traffic")] = 1,
) -> None:
    """The whole system on this machine: private PostgreSQL and broker, simulated sites."""
    from relic_guard.demo import run_demo

    raise typer.Exit(run_demo(sites=sites, rate_msgs_s=rate, http_listen=http, data_dir=data_dir, seed=seed))


def _config_or_exit(config: Path | None) -> Config:
    """The configuration, or exit 2 after printing every problem with it."""
    from relic_guard.config_load import load_config
    from relic_guard.errors import ConfigError

    try:
        return load_config(config, os.environ)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"relic-guard: {problem}", err=True)
        raise typer.Exit(2) from exc


def _database_url_or_exit(cfg: Config) -> str:
    if cfg.database.url is None:
        typer.echo("relic-guard: no database configured; set RELIC_GUARD_DATABASE_URL", err=True)
        raise typer.Exit(2)
    return cfg.database.url


def _in_database(url: str, action: Callable[[Any], _T]) -> _T:
    """Run `action` on a connection to a migrated database; a database error or a refusal by the
    action (a RelicGuardError saying why) exits 2 with one line."""
    import psycopg

    from relic_guard.errors import RelicGuardError
    from relic_guard.store.schema import migrate

    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            migrate(conn)
            return action(conn)
    except RelicGuardError as exc:
        typer.echo(f"relic-guard: {exc}", err=True)
        raise typer.Exit(2) from exc
    except psycopg.Error as exc:
        typer.echo(f"relic-guard: database: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}",
                   err=True)
        raise typer.Exit(2) from exc


audit_app = typer.Typer(help="The audit trail (全过程记录).", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify(config: ConfigOption = None) -> None:
    """Check the audit trail's hash chain: report any entry edited, deleted or cut from the end."""
    import psycopg

    from relic_guard.audit import AuditKeyError, load_or_create_key, verify

    cfg = _config_or_exit(config)
    url = _database_url_or_exit(cfg)
    if not cfg.audit.key_file.exists():
        typer.echo(f"relic-guard: the audit key {cfg.audit.key_file} is missing; restore it from your backup "
                   "or point [audit] key_file at it", err=True)
        raise typer.Exit(2)
    try:
        key = load_or_create_key(cfg.audit.key_file)
        with psycopg.connect(url, connect_timeout=10) as conn:
            report = verify(conn, key)
    except (AuditKeyError, psycopg.Error) as exc:
        typer.echo(f"relic-guard: {exc}", err=True)
        raise typer.Exit(2) from exc
    if report.intact:
        typer.echo(f"audit trail intact: {report.checked} entries, head {report.head_seq} "
                   f"({report.head_hash[:16]}…)")
        return
    typer.echo(f"AUDIT TRAIL DAMAGED: {len(report.problems)} problems in {report.checked} entries", err=True)
    for problem in report.problems:
        typer.echo(f"  {problem}", err=True)
    raise typer.Exit(1)


def _role(text: str) -> Role:
    from relic_guard.alerting.tokens import Role

    try:
        return Role(text.strip().lower())
    except ValueError:
        typer.echo(f"relic-guard: --role '{text}' is not a role; give one of {', '.join(r.value for r in Role)}",
                   err=True)
        raise typer.Exit(2) from None


SiteOption = Annotated[list[str] | None, typer.Option("--site", help="A site id it may see (repeatable)")]
DistrictOption = Annotated[
    list[str] | None, typer.Option("--district", help="A district whose sites it may see (repeatable)")
]

token_app = typer.Typer(help="Bearer tokens of the HTTP API ([alerts] api_tokens_file).", no_args_is_help=True)
app.add_typer(token_app, name="token")


@token_app.command("new")
def token_new(
    name: Annotated[str, typer.Option(help="Who uses the token, e.g. zhang.wei or 119-center (unique in the file)")],
    role: Annotated[str, typer.Option(help="operator, custodian, agency, supervisor or admin")],
    file: Annotated[Path, typer.Option(help="The tokens file ([alerts] api_tokens_file); created mode 0600")],
    site: SiteOption = None,
    district: DistrictOption = None,
) -> None:
    """Make an API token, append its SHA-256 to FILE and print the token once."""
    from datetime import datetime

    from relic_guard.alerting.tokens import append_token
    from relic_guard.errors import ConfigError

    chosen = _role(role)
    try:
        token = append_token(file, name=name, role=chosen, sites=site or (), districts=district or (),
                             now=datetime.now().astimezone())
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"relic-guard: {problem}", err=True)
        raise typer.Exit(2) from exc
    except OSError as exc:
        typer.echo(f"relic-guard: cannot write {file}: {exc.strerror}", err=True)
        raise typer.Exit(2) from exc
    scope = ", ".join([*(site or ()), *(f"district {d}" for d in district or ())]) or "every site"
    typer.echo(f"token for {name} ({chosen.value}; {scope}) added to {file}:")
    typer.echo(token)
    typer.echo("It will not be shown again: only its SHA-256 is kept. Send it as 'Authorization: Bearer <token>'.")


user_app = typer.Typer(help="Dashboard users: logins, roles, site scope.", no_args_is_help=True)
app.add_typer(user_app, name="user")


def _read_password(from_stdin: bool) -> str:
    """From stdin (one line, for scripts), else asked twice on the terminal without echo."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = typer.prompt("password", hide_input=True)
    if typer.prompt("again", hide_input=True) != first:
        typer.echo("relic-guard: the two passwords differ; nothing was changed", err=True)
        raise typer.Exit(2)
    return str(first)


def _with_users(config: Path | None, action: Callable[[Any], None]) -> None:
    _in_database(_database_url_or_exit(_config_or_exit(config)), action)


@user_app.command("add")
def user_add(
    login: Annotated[str, typer.Argument(help="The login, e.g. zhang.wei")],
    name: Annotated[str, typer.Option(help="The person's name as colleagues know it, e.g. 张伟")],
    role: Annotated[str, typer.Option(help="operator, custodian, agency, supervisor or admin")],
    site: SiteOption = None,
    district: DistrictOption = None,
    lang: Annotated[str, typer.Option(help="zh-CN or en")] = "zh-CN",
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin")] = False,
    config: ConfigOption = None,
) -> None:
    """Add a dashboard user (custodians and agency liaisons need --site or --district)."""
    from relic_guard.dashboard.users import add_user

    chosen = _role(role)
    password = _read_password(password_stdin)
    _with_users(config, lambda conn: add_user(conn, login=login, name=name, role=chosen, password=password,
                                              sites=site or (), districts=district or (), lang=lang))
    scope = ", ".join([*(site or ()), *(f"district {d}" for d in district or ())]) or "every site"
    typer.echo(f"user {login} ({name}, {chosen.value}; {scope}) added")


@user_app.command("passwd")
def user_passwd(
    login: Annotated[str, typer.Argument(help="The login")],
    password_stdin: Annotated[bool, typer.Option(help="Read the password from stdin")] = False,
    config: ConfigOption = None,
) -> None:
    """Set a user's password (their open sessions end)."""
    from relic_guard.dashboard.users import set_password

    password = _read_password(password_stdin)
    _with_users(config, lambda conn: set_password(conn, login, password))
    typer.echo(f"password of {login} changed; their sessions have ended")


@user_app.command("disable")
def user_disable(
    login: Annotated[str, typer.Argument(help="The login")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable the user again instead")] = False,
    config: ConfigOption = None,
) -> None:
    """Disable a user (their sessions end at once), or --enable them again."""
    from relic_guard.dashboard.users import set_disabled

    _with_users(config, lambda conn: set_disabled(conn, login, not enable))
    typer.echo(f"user {login} {'enabled' if enable else 'disabled; their sessions have ended'}")


@app.command()
def version() -> None:
    """Print the version."""
    from relic_guard import __version__

    typer.echo(__version__)


if TYPE_CHECKING:
    from datetime import datetime

    from relic_guard.inspections.draw import Draw, Period
    from relic_guard.inspections.draw_io import DrawInput
    from relic_guard.store.draw_store import StoredDraw

draw_app = typer.Typer(
    help="The 双随机、一公开 inspection draw: random targets, random inspectors, published and checkable.",
    no_args_is_help=True,
)
app.add_typer(draw_app, name="draw")

PeriodOption = Annotated[str, typer.Option(help="A month 2026-12, a quarter 2026-Q4 or a half-year 2026-H2")]
CountOption = Annotated[int, typer.Option(min=0, help="Targets to draw, mandatory high-risk ones included")]
SeedOption = Annotated[str, typer.Option(help="The published seed (e.g. announced at a public drawing)")]
PerTargetOption = Annotated[int, typer.Option(min=1, help="Inspectors per target")]
CsvOutOption = Annotated[Path | None, typer.Option("--csv", help="Write the result as CSV (UTF-8, Excel)")]
HtmlOutOption = Annotated[Path | None, typer.Option("--html", help="Write a page for publication")]


def _period_or_exit(period: str) -> Period:
    from relic_guard.inspections.draw import Period

    try:
        return Period.parse(period)
    except ValueError as exc:
        typer.echo(f"relic-guard: --period: {exc}", err=True)
        raise typer.Exit(2) from exc


def _pool_or_exit(input_file: Path) -> DrawInput:
    from relic_guard.errors import ConfigError
    from relic_guard.inspections.draw_io import load_draw_input

    try:
        return load_draw_input(input_file)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"relic-guard: {problem}", err=True)
        raise typer.Exit(2) from exc


def _draw_from(input_file: Path, period: str, count: int, seed: str, per_target: int) -> Draw:
    """Load the pool and draw, or exit 2 saying what is wrong with the input."""
    from relic_guard.inspections.draw import draw

    chosen = _period_or_exit(period)
    pool = _pool_or_exit(input_file)
    return draw(inspectors=pool.inspectors, targets=pool.targets, history=pool.history, period=chosen,
                count=count, seed=seed, per_target=per_target)


def _echo_draw(result: Draw) -> None:
    from relic_guard.inspections.draw_io import SKIP_ZH

    typer.echo(f"period {result.period.label} ({result.period.start} – {result.period.end}), seed {result.seed!r}")
    typer.echo(f"input fingerprint {result.fingerprint}")
    for number, assignment in enumerate(result.assignments, start=1):
        target = assignment.target
        team = "、".join(f"{i.name}（{i.unit}）" for i in assignment.inspectors)
        how = "必查" if assignment.mandatory else "随机"
        typer.echo(f"{number:>3}. [{how}] {target.id} {target.name}（{target.district}）← {team}")
    for skip in result.skipped:
        typer.echo(f"  not drawn: {skip.target.id} {skip.target.name}: {SKIP_ZH[skip.reason]}")
    if result.over_count:
        typer.echo(f"note: {result.over_count} more high-risk targets were due this half-year than --count; "
                   "all were drawn")
    if result.short_by:
        typer.echo(f"note: only {len(result.assignments)} targets could be drawn, {result.short_by} fewer than --count")


def _write_publications(result: Draw, csv_out: Path | None, html_out: Path | None, input_name: str) -> None:
    from relic_guard.inspections.draw_io import draw_csv, draw_html, write_text

    try:
        if csv_out is not None:
            write_text(csv_out, draw_csv(result))
            typer.echo(f"CSV written to {csv_out}")
        if html_out is not None:
            write_text(html_out, draw_html(result, input_name=input_name))
            typer.echo(f"page written to {html_out}")
    except OSError as exc:
        typer.echo(f"relic-guard: cannot write {exc.filename}: {exc.strerror}", err=True)
        raise typer.Exit(2) from exc


def _who_draws(by: str | None) -> str:
    if by is not None and by.strip():
        return by.strip()
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name (a container without a passwd entry)
        return "cli"


def _audit_key_or_exit(cfg: Config) -> bytes:
    from relic_guard.audit import AuditKeyError, load_or_create_key

    try:
        return load_or_create_key(cfg.audit.key_file)
    except (AuditKeyError, OSError) as exc:
        typer.echo(f"relic-guard: {exc}", err=True)
        raise typer.Exit(2) from exc


@draw_app.command("run")
def draw_run(
    period: PeriodOption,
    count: CountOption,
    seed: SeedOption,
    input_file: Annotated[
        Path | None,
        typer.Option("--input", help=r"The pool file: \[\[inspector]], \[\[target]], \[\[inspected]] "
                                     "(see config/inspections.example.toml); with --store, default "
                                     r"\[inspections] pool_file"),
    ] = None,
    per_target: PerTargetOption = 2,
    csv_out: CsvOutOption = None,
    html_out: HtmlOutOption = None,
    store: Annotated[bool, typer.Option("--store", help="Draw with the past inspections the database holds, "
                                                        "keep the draw there and make its fire inspections")] = False,
    by: Annotated[str | None, typer.Option(help="Who draws, for the record (default cli:<login>)")] = None,
    config: ConfigOption = None,
) -> None:
    """Draw the targets and inspectors of a period; print them, and write CSV/HTML to publish."""
    if not store:
        if input_file is None:
            typer.echo("relic-guard: give the pool file with --input (or --store to use [inspections] pool_file)",
                       err=True)
            raise typer.Exit(2)
        result = _draw_from(input_file, period, count, seed, per_target)
        _echo_draw(result)
        _write_publications(result, csv_out, html_out, input_file.name)
        return

    from datetime import UTC, datetime

    from relic_guard.store.draw_store import draw_and_store

    cfg = _config_or_exit(config)
    url = _database_url_or_exit(cfg)
    pool_file = input_file if input_file is not None else cfg.inspections.pool_file
    if pool_file is None:
        typer.echo("relic-guard: no pool file: give --input or set [inspections] pool_file "
                   "(see config/inspections.example.toml)", err=True)
        raise typer.Exit(2)
    chosen = _period_or_exit(period)
    pool = _pool_or_exit(pool_file)
    key = _audit_key_or_exit(cfg)
    who = _who_draws(by)
    outcome = _in_database(url, lambda conn: draw_and_store(
        conn, pool, period=chosen, count=count, seed=seed, per_target=per_target, by=who,
        now=datetime.now(UTC), audit_key=key))
    _echo_draw(outcome.result)
    from_database = len(outcome.history) - len(pool.history)
    typer.echo(f"history: {len(outcome.history)} past inspection(s), {len(pool.history)} from {pool_file.name}, "
               f"{max(from_database, 0)} more from the database")
    if outcome.created:
        typer.echo(f"stored as draw {outcome.id}; {len(outcome.result.assignments)} fire inspection(s) "
                   f"draw/{outcome.id}/<target> made")
    else:
        typer.echo(f"already stored as draw {outcome.id} (same period, seed and inputs); nothing new was written")
    _write_publications(outcome.result, csv_out, html_out, _stored_input_name(outcome.id))
    if html_out is not None:
        typer.echo(f"publish its input beside it (the page names it): relic-guard draw show {outcome.id} "
                   f"--pool {_stored_input_name(outcome.id)}")


def _stored_input_name(draw_id: int) -> str:
    return f"draw-{draw_id}-input.toml"


def _beijing(moment: datetime) -> str:
    from alerts.rules.common import SHANGHAI

    return f"{moment.astimezone(SHANGHAI):%Y-%m-%d %H:%M} (Beijing time)"


def _stored_or_exit(cfg: Config, draw_id: int) -> tuple[StoredDraw, dict[str, tuple[str, str]]]:
    """The stored draw and its inspections (target → (id, status)), or exit 2 when there is none."""
    from relic_guard.store.draw_store import get_draw, inspections_of

    def read(conn: Any) -> tuple[StoredDraw | None, dict[str, tuple[str, str]]]:
        return get_draw(conn, draw_id), inspections_of(conn, [draw_id])[draw_id]

    stored, inspections = _in_database(_database_url_or_exit(cfg), read)
    if stored is None:
        typer.echo(f"relic-guard: no stored draw has id {draw_id}; `relic-guard draw list` shows them", err=True)
        raise typer.Exit(2)
    return stored, inspections


@draw_app.command("list")
def draw_list(
    year: Annotated[int | None, typer.Option(help="Only draws of periods in this year")] = None,
    config: ConfigOption = None,
) -> None:
    """The stored draws, latest period first."""
    from relic_guard.store.draw_store import list_draws

    cfg = _config_or_exit(config)
    found = _in_database(_database_url_or_exit(cfg), lambda conn: list_draws(conn, year))
    for stored in found:
        typer.echo(f"{stored.id:>5}  {stored.period:<8} seed {stored.seed!r}  fingerprint {stored.fingerprint[:12]}  "
                   f"{len(stored.assignments)}/{stored.count} drawn  {_beijing(stored.drawn_at)} by {stored.drawn_by}")
    typer.echo(f"{len(found)} draw(s)" + (f" in {year}" if year is not None else ""))


@draw_app.command("show")
def draw_show(
    draw_id: Annotated[int, typer.Argument(help="The stored draw's id (see `relic-guard draw list`)")],
    csv_out: CsvOutOption = None,
    html_out: HtmlOutOption = None,
    pool_out: Annotated[Path | None, typer.Option(
        "--pool", help="Write the input it was drawn from as a pool file, history included, so anyone can "
                       "re-run it with `draw verify --input`")] = None,
    config: ConfigOption = None,
) -> None:
    """One stored draw and the fire inspections it made; export it for publication."""
    from relic_guard.inspections.draw_io import SKIP_ZH, write_text
    from relic_guard.store.draw_store import DrawMismatch, UnreadableDraw, pool_toml, rebuild, skip_reason

    cfg = _config_or_exit(config)
    stored, inspections = _stored_or_exit(cfg, draw_id)
    typer.echo(f"draw {stored.id}: period {stored.period} ({stored.period_start} – {stored.period_end}), "
               f"seed {stored.seed!r}, count {stored.count}, {stored.per_target} per target")
    typer.echo(f"input fingerprint {stored.fingerprint}; drawn {_beijing(stored.drawn_at)} by {stored.drawn_by}")
    for number, assignment in enumerate(stored.assignments, start=1):
        team = "、".join(f"{i.get('name')}（{i.get('unit')}）" for i in assignment.get("inspectors", []))
        how = "必查" if assignment.get("mandatory") else "随机"
        made = inspections.get(str(assignment.get("target")))
        where = f"  {made[0]} [{made[1]}]" if made else "  (no inspection)"
        typer.echo(f"{number:>3}. [{how}] {assignment.get('target')} {assignment.get('target_name')}"
                   f"（{assignment.get('district')}）← {team}{where}")
    for skip in stored.skipped:
        reason = skip_reason(str(skip.get("reason")))
        typer.echo(f"  not drawn: {skip.get('target')} {skip.get('target_name')}: "
                   f"{SKIP_ZH[reason] if reason is not None else skip.get('reason')}")
    if csv_out is None and html_out is None and pool_out is None:
        return
    try:
        result = rebuild(stored)
    except DrawMismatch as exc:
        typer.echo(f"relic-guard: draw {draw_id} does not re-run to what was stored; nothing was exported:", err=True)
        for problem in exc.problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(1) from exc
    except UnreadableDraw as exc:
        typer.echo(f"relic-guard: {exc}", err=True)
        raise typer.Exit(2) from exc
    _write_publications(result, csv_out, html_out, pool_out.name if pool_out else _stored_input_name(draw_id))
    if pool_out is not None:
        try:
            write_text(pool_out, pool_toml(stored))
        except OSError as exc:
            typer.echo(f"relic-guard: cannot write {pool_out}: {exc.strerror}", err=True)
            raise typer.Exit(2) from exc
        typer.echo(f"pool file written to {pool_out}")


@draw_app.command("verify")
def draw_verify(
    input_file: Annotated[Path | None, typer.Option(
        "--input", help="The pool file the draw was made from (see config/inspections.example.toml)")] = None,
    period: Annotated[str | None, typer.Option(help="A month 2026-12, a quarter 2026-Q4 or a half-year 2026-H2")]
    = None,
    count: Annotated[int | None, typer.Option(min=0, help="Targets drawn, mandatory high-risk ones included")]
    = None,
    seed: Annotated[str | None, typer.Option(help="The published seed")] = None,
    csv_in: Annotated[Path | None, typer.Option("--csv", help="The published CSV to check")] = None,
    per_target: PerTargetOption = 2,
    draw_id: Annotated[int | None, typer.Option(
        "--id", help="Re-run a stored draw from its row (and check --csv against it, if given)")] = None,
    config: ConfigOption = None,
) -> None:
    """Re-run a draw from its pool file (or with --id from its stored row); exit 0 if it matches, 1 if not."""
    from relic_guard.inspections.draw_io import compare_published_csv

    if draw_id is not None:
        given = [name for name, value in (("--input", input_file), ("--period", period), ("--count", count),
                                          ("--seed", seed)) if value is not None]
        if given:
            typer.echo(f"relic-guard: --id re-runs the stored row with its own inputs; leave out {', '.join(given)}",
                       err=True)
            raise typer.Exit(2)
        _verify_stored(_config_or_exit(config), draw_id, csv_in)
        return
    missing = [name for name, value in (("--input", input_file), ("--period", period), ("--count", count),
                                        ("--seed", seed), ("--csv", csv_in)) if value is None]
    if missing:
        typer.echo(f"relic-guard: give {', '.join(missing)} (or --id ID to re-run a stored draw)", err=True)
        raise typer.Exit(2)
    assert input_file is not None and period is not None and count is not None and seed is not None
    assert csv_in is not None
    result = _draw_from(input_file, period, count, seed, per_target)
    differences = compare_published_csv(result, _published_or_exit(csv_in))
    if not differences:
        typer.echo(f"matches: {csv_in} is the draw of {result.period.label} with seed {result.seed!r} "
                   f"(fingerprint {result.fingerprint[:16]}…)")
        return
    typer.echo(f"DOES NOT MATCH: {csv_in} differs from the re-run draw", err=True)
    for difference in differences:
        typer.echo(f"  {difference}", err=True)
    raise typer.Exit(1)


def _published_or_exit(csv_in: Path) -> str:
    try:
        return csv_in.read_bytes().decode("utf-8")
    except OSError as exc:
        typer.echo(f"relic-guard: cannot read {csv_in}: {exc.strerror}", err=True)
        raise typer.Exit(2) from exc
    except UnicodeDecodeError as exc:
        typer.echo(f"relic-guard: {csv_in} is not UTF-8; use the CSV as published", err=True)
        raise typer.Exit(2) from exc


def _verify_stored(cfg: Config, draw_id: int, csv_in: Path | None) -> None:
    from relic_guard.inspections.draw_io import compare_published_csv
    from relic_guard.store.draw_store import UnreadableDraw, check

    stored, _ = _stored_or_exit(cfg, draw_id)
    try:
        rerun = check(stored)
    except UnreadableDraw as exc:
        typer.echo(f"relic-guard: {exc}", err=True)
        raise typer.Exit(2) from exc
    differences = list(rerun.problems)
    if csv_in is not None:
        differences += compare_published_csv(rerun.result, _published_or_exit(csv_in))
    if not differences:
        also = f" and {csv_in} is its publication" if csv_in is not None else ""
        typer.echo(f"matches: draw {draw_id} ({stored.period}, seed {stored.seed!r}) re-runs from its stored input "
                   f"to the stored result (fingerprint {stored.fingerprint[:16]}…){also}")
        return
    typer.echo(f"DOES NOT MATCH: draw {draw_id} differs from its re-run", err=True)
    for difference in differences:
        typer.echo(f"  {difference}", err=True)
    raise typer.Exit(1)


plan_app = typer.Typer(help="Patrol rounds from [patrols] routes_file: show them, or plan them ahead.",
                       no_args_is_help=True)
app.add_typer(plan_app, name="plan")


def _patrol_setup(config: Path | None) -> tuple[Any, Any, Any]:
    """(configuration, registry, routes), or exit saying what is missing."""
    from relic_guard.errors import ConfigError
    from relic_guard.patrols.routes_load import load_routes
    from relic_guard.registry import load_registry

    cfg = _config_or_exit(config)
    try:
        registry = load_registry(cfg.registry_dir)
        if cfg.patrols.routes_file is None:
            typer.echo("relic-guard: no [patrols] routes_file configured; see config/patrols.example.toml", err=True)
            raise typer.Exit(2)
        routes = load_routes(cfg.patrols.routes_file, registry.sites)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"relic-guard: {problem}", err=True)
        raise typer.Exit(2) from exc
    return cfg, registry, routes


@plan_app.command("show")
def plan_show(
    day: Annotated[str | None, typer.Option("--date", help="The day, YYYY-MM-DD (Beijing time); default today")] = None,
    site: Annotated[str | None, typer.Option(help="Only this site id")] = None,
    config: ConfigOption = None,
) -> None:
    """The rounds due on a day, from the routes file (nothing is written)."""
    from datetime import date, datetime, time, timedelta

    from alerts.rules.common import SHANGHAI
    from relic_guard.patrols.plan import rounds_between

    _, registry, routes = _patrol_setup(config)
    try:
        chosen = date.fromisoformat(day) if day else datetime.now(SHANGHAI).date()
    except ValueError:
        typer.echo(f"relic-guard: --date '{day}': give a day as YYYY-MM-DD, e.g. 2026-11-27", err=True)
        raise typer.Exit(2) from None
    start = datetime.combine(chosen, time(0), SHANGHAI)
    shown = 0
    for route in routes:
        if site is not None and route.site != site:
            continue
        for found in rounds_between(route, registry.sites[route.site], start, start + timedelta(days=1)):
            shown += 1
            window = f"{found.window_start.astimezone(SHANGHAI):%H:%M}–{found.window_end.astimezone(SHANGHAI):%H:%M}"
            typer.echo(f"{window}  {registry.sites[route.site].name}  {route.name}  ({found.kind.value}; "
                       f"{len(route.checkpoints)} checkpoints; {', '.join(route.custodians)})")
    typer.echo(f"{shown} round(s) on {chosen.isoformat()}")


@plan_app.command("generate")
def plan_generate(
    hours: Annotated[float, typer.Option(min=1, help="Plan this many hours ahead")] = 24.0,
    config: ConfigOption = None,
) -> None:
    """Write the rounds of the coming hours into the database now (the schedule does this by itself)."""
    from datetime import UTC, datetime

    from relic_guard.patrols.store import plan_ahead

    cfg, registry, routes = _patrol_setup(config)
    made = _in_database(_database_url_or_exit(cfg),
                        lambda conn: plan_ahead(conn, routes, registry.sites, datetime.now(UTC), ahead_h=hours))
    typer.echo(f"{made} new round(s) planned for the next {hours:g} h ({len(routes)} routes)")


inspection_app = typer.Typer(
    help="Annual inspections (年度检查): the year's plan, who inspects, results and findings.",
    no_args_is_help=True,
)
app.add_typer(inspection_app, name="inspection")

YearOption = Annotated[int, typer.Option(min=2000, max=2200, help="The plan year, e.g. 2026")]
InspectionIdArgument = Annotated[str, typer.Argument(help="The inspection's id, e.g. 2026/site_evaluation/lingyan-si "
                                                        "(`inspection list` shows them)")]


def _inspection_setup(config: Path | None) -> tuple[Any, Any, str, bytes]:
    """(configuration, registry, database URL, audit key), or exit 2 saying what is missing. Every
    change to an inspection goes to the audit trail, so the daemon's key must be there: a key made
    here in its absence would start a chain the daemon's key cannot verify."""
    from relic_guard.audit import AuditKeyError, load_or_create_key
    from relic_guard.errors import ConfigError
    from relic_guard.registry import load_registry

    cfg = _config_or_exit(config)
    url = _database_url_or_exit(cfg)
    try:
        registry = load_registry(cfg.registry_dir)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"relic-guard: {problem}", err=True)
        raise typer.Exit(2) from exc
    if not cfg.audit.key_file.exists():
        typer.echo(f"relic-guard: the audit key {cfg.audit.key_file} is missing, and every change to an inspection "
                   "is recorded in the audit trail; start the daemon once with this configuration (it creates the "
                   "key) or point [audit] key_file at the daemon's key", err=True)
        raise typer.Exit(2)
    try:
        key = load_or_create_key(cfg.audit.key_file)
    except AuditKeyError as exc:
        typer.echo(f"relic-guard: {exc}", err=True)
        raise typer.Exit(2) from exc
    return cfg, registry, url, key


def _cli_actor() -> str:
    """How the record names who ran the command: the operating-system login."""
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in a bare container
        return "cli"


def _shown_width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _table(rows: list[list[str]]) -> list[str]:
    """Columns padded by display width, so Chinese names line up on a terminal."""
    widths = [max(_shown_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell + " " * (width - _shown_width(cell)) for cell, width in zip(row, widths, strict=True))
            .rstrip() for row in rows]


@inspection_app.command("plan")
def inspection_plan(year: YearOption, config: ConfigOption = None) -> None:
    """Write a year's plan: a supervision per district, an evaluation per site (the schedule writes this year's)."""
    from datetime import UTC, datetime

    from relic_guard.inspections.annual import InspectionKind, plan_year, policy_of
    from relic_guard.store.inspection_store import ensure_year_plan

    cfg, registry, url, key = _inspection_setup(config)
    policy = policy_of(cfg.inspections)
    plan = plan_year(year, registry.sites.values(), policy)
    made = _in_database(url, lambda conn: ensure_year_plan(conn, year, registry.sites.values(), policy,
                                                           now=datetime.now(UTC), by=_cli_actor(), audit_key=key))
    districts = sum(1 for item in plan if item.kind is InspectionKind.DISTRICT_SUPERVISION)
    typer.echo(f"{made} new inspection(s) planned for {year}; the plan holds {districts} district supervision(s) "
               f"due {policy.due_on(InspectionKind.DISTRICT_SUPERVISION, year)} and {len(plan) - districts} site "
               f"evaluation(s) due {policy.due_on(InspectionKind.SITE_EVALUATION, year)}")


@inspection_app.command("list")
def inspection_list(
    year: YearOption,
    district: Annotated[str | None, typer.Option(help="Only this district, e.g. 历下区")] = None,
    status: Annotated[str | None, typer.Option(help="planned, assigned, done or cancelled")] = None,
    config: ConfigOption = None,
) -> None:
    """The year's inspections as a table (nothing is written)."""
    from collections import Counter
    from datetime import UTC, datetime

    from relic_guard.hazards.workdays import local_day
    from relic_guard.inspections.annual import KIND_ZH, RATING_ZH, STATUS_ZH, InspectionStatus
    from relic_guard.store.inspection_store import list_inspections

    wanted: InspectionStatus | None = None
    if status is not None:
        by_word = {**{s.value: s for s in InspectionStatus}, **{zh: s for s, zh in STATUS_ZH.items()}}
        wanted = by_word.get(status.strip().lower())
        if wanted is None:
            typer.echo(f"relic-guard: --status '{status}' is not a status; give one of "
                       f"{', '.join(s.value for s in InspectionStatus)}", err=True)
            raise typer.Exit(2)
    cfg = _config_or_exit(config)
    found = _in_database(_database_url_or_exit(cfg), lambda conn: list_inspections(
        conn, year=year, district=district.strip() if district else None, status=wanted))
    today = local_day(datetime.now(UTC))
    rows = [["编号", "类型", "区县", "对象", "截止日期", "状态", "检查人员", "评价"]]
    for item in found:
        state = STATUS_ZH[item.status] + ("（逾期）" if item.overdue_on(today) else "")
        rows.append([item.id, KIND_ZH[item.kind], item.district, item.target_name, item.due_on.isoformat(), state,
                     "、".join(item.assignees), RATING_ZH[item.rating] if item.rating else ""])
    for line in _table(rows):
        typer.echo(line)
    counts = Counter(item.status for item in found)
    overdue = sum(1 for item in found if item.overdue_on(today))
    summary = ", ".join(f"{STATUS_ZH[s]} {counts[s]}" for s in InspectionStatus if counts[s])
    typer.echo(f"{len(found)} inspection(s) in {year}" + (f": {summary}" if summary else "")
               + (f"; {overdue} overdue" if overdue else ""))


@inspection_app.command("assign")
def inspection_assign(
    inspection_id: InspectionIdArgument,
    to: Annotated[str, typer.Option(help="Who inspects: logins or inspector ids, separated by commas")],
    config: ConfigOption = None,
) -> None:
    """Name who inspects (again, to reassign)."""
    from datetime import UTC, datetime

    from relic_guard.store.inspection_store import assign

    _, _, url, key = _inspection_setup(config)
    done = _in_database(url, lambda conn: assign(conn, inspection_id, to=to.split(","), by=_cli_actor(),
                                                 now=datetime.now(UTC), audit_key=key))
    typer.echo(f"inspection {done.id} ({done.target_name}) assigned to {', '.join(done.assignees)}")


def _finding(text: str) -> Any:
    """'severity:title[:description]', or 'site@severity:title[:description]' for a district supervision."""
    from relic_guard.inspections.annual import Finding, InvalidInspection, parse_severity

    head = text.split(":", 1)[0]
    site, rest = (head.split("@", 1)[0], text.split("@", 1)[1]) if "@" in head else ("", text)
    parts = rest.split(":", 2)
    try:
        if len(parts) < 2 or not parts[1].strip():
            raise InvalidInspection("it has no title")
        return Finding(severity=parse_severity(parts[0]), title=parts[1].strip(),
                       description=parts[2].strip() if len(parts) > 2 else "", site_id=site.strip() or None)
    except InvalidInspection as exc:
        typer.echo(f"relic-guard: --finding '{text}': {exc}; write 'major:title[:description]' or "
                   "'general:title[:description]' (a district supervision's: 'SITE_ID@major:title[:description]')",
                   err=True)
        raise typer.Exit(2) from None


@inspection_app.command("complete")
def inspection_complete(
    inspection_id: InspectionIdArgument,
    rating: Annotated[str, typer.Option(help="The evaluation: good (优), fair (中) or poor (差)")],
    summary: Annotated[str, typer.Option(help="What was inspected and what was found, in a few sentences")],
    finding: Annotated[list[str] | None, typer.Option(
        help="A hazard found, 'major|general:title[:description]' (repeatable; each is tracked until rectified); "
             "for a district supervision 'SITE_ID@major:title[:description]'")] = None,
    photo: Annotated[list[Path] | None, typer.Option(help="A photo to keep with the record, JPEG/PNG/WebP "
                                                          "(repeatable)")] = None,
    config: ConfigOption = None,
) -> None:
    """Record the result: the rating, a summary, findings (tracked as hazards) and photos."""
    from datetime import UTC, datetime

    from relic_guard.inspections.annual import RATING_ZH, Attachment, InvalidInspection, parse_rating
    from relic_guard.store.hazards import PhotoRejected, photo_of
    from relic_guard.store.inspection_store import complete

    try:
        parse_rating(rating)
    except InvalidInspection as exc:
        typer.echo(f"relic-guard: --rating: {exc}", err=True)
        raise typer.Exit(2) from None
    findings = [_finding(text) for text in finding or ()]
    photos = []
    for path in photo or ():
        try:
            photos.append((path, photo_of(path.read_bytes())))
        except OSError as exc:
            typer.echo(f"relic-guard: --photo {path}: cannot read it ({exc.strerror})", err=True)
            raise typer.Exit(2) from exc
        except PhotoRejected as exc:
            typer.echo(f"relic-guard: --photo {path}: {exc}", err=True)
            raise typer.Exit(2) from exc
    _, registry, url, key = _inspection_setup(config)
    attachments = [Attachment(note=f"照片 {path.name}", photo_sha256=stored.sha256) for path, stored in photos]
    done = _in_database(url, lambda conn: complete(
        conn, inspection_id, rating=rating, summary=summary, findings=findings, attachments=attachments,
        photos=[stored for _, stored in photos], sites=registry.sites, by=_cli_actor(), now=datetime.now(UTC),
        audit_key=key))
    tracked = ", ".join(f"#{item.hazard_id}" for item in done.findings)
    assert done.rating is not None
    typer.echo(f"inspection {done.id} ({done.target_name}) done on {done.done_on}: rated {RATING_ZH[done.rating]} "
               f"({done.rating.value}); {len(done.findings)} finding(s)"
               + (f" tracked as hazard(s) {tracked}" if tracked else "") + f"; {len(done.attachments)} photo(s)")


@inspection_app.command("cancel")
def inspection_cancel(
    inspection_id: InspectionIdArgument,
    reason: Annotated[str, typer.Option(help="Why it is not done this year (kept on the record)")],
    config: ConfigOption = None,
) -> None:
    """Cancel an inspection that is not to be done, with the reason."""
    from datetime import UTC, datetime

    from relic_guard.store.inspection_store import cancel

    _, _, url, key = _inspection_setup(config)
    done = _in_database(url, lambda conn: cancel(conn, inspection_id, reason=reason, by=_cli_actor(),
                                                 now=datetime.now(UTC), audit_key=key))
    typer.echo(f"inspection {done.id} ({done.target_name}) cancelled: {done.cancel_reason}")


@app.command()
def report(
    year: Annotated[int, typer.Option(min=2000, max=2200, help="The year reported on, e.g. 2026")],
    out: Annotated[Path, typer.Option(help="Folder to write the PDF, HTML, XLSX and CSV files into")],
    district: Annotated[str | None, typer.Option(help="Only this district, e.g. 历下区 (default: every district "
                                                      "and the city summary)")] = None,
    rebuild_rollups: Annotated[bool, typer.Option(
        help="Roll the year's device health up again from the raw readings first (after records arrived late)")]
        = False,
    config: ConfigOption = None,
) -> None:
    """The annual supervision report (年度督察报告) per district, with a city summary."""
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from relic_guard.errors import ConfigError
    from relic_guard.patrols.routes_load import load_routes
    from relic_guard.registry import load_registry
    from relic_guard.report.figures import period_of
    from relic_guard.report.make import make_reports
    from relic_guard.report.rollups import roll_days

    cfg = _config_or_exit(config)
    url = _database_url_or_exit(cfg)
    now = datetime.now(UTC)
    try:
        period = period_of(year, now)
    except ValueError as exc:
        typer.echo(f"relic-guard: --year {year}: {exc}; a report covers a year that has begun", err=True)
        raise typer.Exit(2) from exc
    custodians: dict[str, tuple[str, ...]] = {}
    if cfg.patrols.routes_file is not None:
        try:
            routes = load_routes(cfg.patrols.routes_file, load_registry(cfg.registry_dir).sites)
        except ConfigError as exc:
            for problem in exc.problems:
                typer.echo(f"relic-guard: {problem}", err=True)
            raise typer.Exit(2) from exc
        custodians = {route.id: route.custodians for route in routes}

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=False)

    class Steps:
        task: Any = None

        def start(self, total: int) -> None:
            self.task = bar.add_task("年度督察报告", total=total)

        def step(self, what: str) -> None:
            bar.update(self.task, advance=1, description=what)

    def work(conn: Any) -> list[Any]:
        if rebuild_rollups:
            task = bar.add_task("设备日汇总（重算）", total=None)
            roll_days(conn, period.first_day, period.last_day, now)
            bar.update(task, total=1, completed=1)
        return make_reports(conn, year=year, district=district.strip() if district else None, out=out, now=now,
                            route_custodians=custodians, progress=Steps())

    with bar:
        files = _in_database(url, work)
    pdfs = [f.name for f in files if f.name.endswith(".pdf")]
    typer.echo(f"{len(files)} file(s) written into {out} for {period.first_day} – {period.last_day}"
               + ("" if period.complete else f" ({year} is not over: to date)") + ":")
    for name in pdfs:
        typer.echo(f"  {out / name}")


def main() -> None:
    # Chinese site names must print on any terminal, even one set to a C locale.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    app()


if __name__ == "__main__":
    main()

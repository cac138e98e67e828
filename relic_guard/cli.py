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
    from relic_guard.inspections.draw import Draw

draw_app = typer.Typer(
    help="The 双随机、一公开 inspection draw: random targets, random inspectors, published and checkable.",
    no_args_is_help=True,
)
app.add_typer(draw_app, name="draw")

DrawInputOption = Annotated[
    Path,
    typer.Option("--input", help="The pool file: [[inspector]], [[target]], [[inspected]] "
                                 "(see config/inspections.example.toml)"),
]
PeriodOption = Annotated[str, typer.Option(help="A month 2026-12, a quarter 2026-Q4 or a half-year 2026-H2")]
CountOption = Annotated[int, typer.Option(min=0, help="Targets to draw, mandatory high-risk ones included")]
SeedOption = Annotated[str, typer.Option(help="The published seed (e.g. announced at a public drawing)")]
PerTargetOption = Annotated[int, typer.Option(min=1, help="Inspectors per target")]


def _draw_from(input_file: Path, period: str, count: int, seed: str, per_target: int) -> Draw:
    """Load the pool and draw, or exit 2 saying what is wrong with the input."""
    from relic_guard.errors import ConfigError
    from relic_guard.inspections.draw import Period, draw
    from relic_guard.inspections.draw_io import load_draw_input

    try:
        chosen = Period.parse(period)
    except ValueError as exc:
        typer.echo(f"relic-guard: --period: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        pool = load_draw_input(input_file)
    except ConfigError as exc:
        for problem in exc.problems:
            typer.echo(f"relic-guard: {problem}", err=True)
        raise typer.Exit(2) from exc
    return draw(inspectors=pool.inspectors, targets=pool.targets, history=pool.history, period=chosen,
                count=count, seed=seed, per_target=per_target)


@draw_app.command("run")
def draw_run(
    input_file: DrawInputOption,
    period: PeriodOption,
    count: CountOption,
    seed: SeedOption,
    per_target: PerTargetOption = 2,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Write the result as CSV (UTF-8, Excel)")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write a page for publication")] = None,
) -> None:
    """Draw the targets and inspectors of a period; print them, and write CSV/HTML to publish."""
    from relic_guard.inspections.draw_io import SKIP_ZH, draw_csv, draw_html, write_text

    result = _draw_from(input_file, period, count, seed, per_target)
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
    try:
        if csv_out is not None:
            write_text(csv_out, draw_csv(result))
            typer.echo(f"CSV written to {csv_out}")
        if html_out is not None:
            write_text(html_out, draw_html(result, input_name=input_file.name))
            typer.echo(f"page written to {html_out}")
    except OSError as exc:
        typer.echo(f"relic-guard: cannot write {exc.filename}: {exc.strerror}", err=True)
        raise typer.Exit(2) from exc


@draw_app.command("verify")
def draw_verify(
    input_file: DrawInputOption,
    period: PeriodOption,
    count: CountOption,
    seed: SeedOption,
    csv_in: Annotated[Path, typer.Option("--csv", help="The published CSV to check")],
    per_target: PerTargetOption = 2,
) -> None:
    """Re-run a published draw and say whether the published CSV matches it (exit 0) or not (exit 1)."""
    from relic_guard.inspections.draw_io import compare_published_csv

    result = _draw_from(input_file, period, count, seed, per_target)
    try:
        published = csv_in.read_bytes().decode("utf-8")
    except OSError as exc:
        typer.echo(f"relic-guard: cannot read {csv_in}: {exc.strerror}", err=True)
        raise typer.Exit(2) from exc
    except UnicodeDecodeError as exc:
        typer.echo(f"relic-guard: {csv_in} is not UTF-8; use the CSV as published", err=True)
        raise typer.Exit(2) from exc
    differences = compare_published_csv(result, published)
    if not differences:
        typer.echo(f"matches: {csv_in} is the draw of {result.period.label} with seed {result.seed!r} "
                   f"(fingerprint {result.fingerprint[:16]}…)")
        return
    typer.echo(f"DOES NOT MATCH: {csv_in} differs from the re-run draw", err=True)
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


def main() -> None:
    # Chinese site names must print on any terminal, even one set to a C locale.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")
    app()


if __name__ == "__main__":
    main()

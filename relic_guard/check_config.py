"""`relic-guard check-config`: load the configuration, the registry, the routing and thresholds
files, and say what is wrong.

Pure apart from reading the files: it returns the exit code and the text to print, so
the CLI decides how to print and tests need no capturing. Exit 0 with a summary when
everything loads; exit 2 with one line per problem (`file:line: …`, the form editors and
CI annotate) when anything does not. Secrets never appear: URLs are shown masked, and a
`secret_ref` is only checked to resolve.

Some findings are warnings (exit 0, `warning:` lines): no routing file (nothing would be
sent), and a secret this process cannot see (an unset environment variable, an unreadable
file). check-config often runs as an administrator whose environment is not the service's,
so such a secret may well be there for the daemon; a missing secret file or an empty one is
an error all the same. Key files the daemon creates at first start are read when present and
never created here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from alerts.rules.thresholds import ThresholdRule
from relic_guard.alerting.channels import (
    NO_ROUTING_WARNING,
    SecretError,
    SecretNotVisible,
    load_or_create_ack_key,
    load_or_create_vapid_key,
    resolve_secret,
)
from relic_guard.alerting.thresholds_load import load_thresholds
from relic_guard.alerting.tokens import load_tokens
from relic_guard.config import Config
from relic_guard.config_load import load_config, mask_url
from relic_guard.drones.zones_load import load_zones
from relic_guard.errors import ConfigError
from relic_guard.inspections.draw_io import load_draw_input
from relic_guard.patrols.model import Route
from relic_guard.patrols.routes_load import load_routes
from relic_guard.registry import Registry, load_registry, registry_sheet_paths
from relic_guard.routing_load import RoutingConfig, _scan, check_against_registry, load_routing
from sensors.model import Source

EXIT_OK = 0
EXIT_INVALID = 2


def check_config(path: Path | None, env: Mapping[str, str]) -> tuple[int, str]:
    """Validate the configuration (from `path`, else RELIC_GUARD_CONFIG, else defaults) and
    its registry; return (exit code, text to print)."""
    try:
        config = load_config(path, env)
    except ConfigError as error:
        return EXIT_INVALID, _problems_text(error.problems, "configuration")
    try:
        registry = load_registry(config.registry_dir)
    except ConfigError as error:
        return EXIT_INVALID, _problems_text(error.problems, "registry")
    alerting = _Alerting()
    for what, check in (
        ("routing file", _check_routing),
        ("thresholds file", _check_thresholds),
        ("API tokens file", _check_tokens),
        ("patrol routes file", _check_patrols),
        ("inspection pool file", _check_inspections),
        ("drone zones file", _check_drone_zones),
        ("cameras file", _check_cameras),
        ("alert settings", _check_alert_settings),
    ):
        try:
            check(config, registry, env, alerting)
        except ConfigError as error:
            return EXIT_INVALID, _problems_text(error.problems, what)
    return EXIT_OK, _summary(config, registry, alerting)


@dataclass(slots=True)
class _Alerting:
    """What the alerting files held, and what deserves a warning."""

    routing: RoutingConfig | None = None
    thresholds: tuple[ThresholdRule, ...] = ()
    tokens: int | None = None
    routes: tuple[Route, ...] | None = None
    # (inspectors, targets) of the 双随机 pool file, when one is set
    pool: tuple[int, int] | None = None
    # (sites, extra allowed areas, no-fly zones) of the drone zones file, when one is set
    drone_zones: tuple[int, int, int] | None = None
    # (cameras, read from a url, zones) of the cameras file, when one is set
    cameras: tuple[int, int, int] | None = None
    warnings: list[str] = field(default_factory=list)


def _check_routing(config: Config, registry: Registry, env: Mapping[str, str], found: _Alerting) -> None:
    path = config.alerts.routing_file
    if path is None:
        found.warnings.append(NO_ROUTING_WARNING)
        return
    routing = load_routing(path)
    check_against_registry(routing, registry.sites)
    found.routing = routing

    # The line of each channel element: the loader keeps only those of whole tables.
    lines = _scan(path.read_text(encoding="utf-8-sig"))
    problems: list[str] = []
    seen: set[str] = set()
    email_channels = 0
    first_email: str | None = None
    for index, recipient in enumerate(routing.recipients):
        for key, targets in (("channels", recipient.channels), ("fallback", recipient.fallback)):
            for position, target in enumerate(targets):
                line = lines.get(("recipient", index, key, position)) or lines.get(("recipient", index))
                place = f"{path}:{line}" if line else str(path)
                if target.kind == "email":
                    email_channels += 1
                    first_email = first_email or place
                ref = target.secret_ref
                if ref is None or ref in seen:
                    continue
                seen.add(ref)
                try:
                    resolve_secret(ref, env=env)
                except SecretNotVisible as error:
                    found.warnings.append(
                        f"{place}: [[recipient]] #{index + 1} ({recipient.id}) {key}[{position + 1}]: {error} "
                        "(check-config may not see the service's environment)"
                    )
                except SecretError as error:
                    problems.append(
                        f"{place}: [[recipient]] #{index + 1} ({recipient.id}) {key}[{position + 1}]: {error}"
                    )
    if problems:
        raise ConfigError(problems)
    if email_channels and config.alerts.smtp_url is None:
        noun = "channel" if email_channels == 1 else "channels"
        found.warnings.append(
            f"{first_email}: {email_channels} email {noun} but no [alerts] smtp_url: those deliveries fail at once "
            "and the fallback channels take over; set smtp_url (e.g. in RELIC_GUARD_ALERTS_SMTP_URL)"
        )


def _check_thresholds(config: Config, registry: Registry, env: Mapping[str, str], found: _Alerting) -> None:
    path = config.alerts.thresholds_file
    if path is not None:
        found.thresholds = load_thresholds(path, sites=registry.sites, devices=registry.devices)


def _check_tokens(config: Config, registry: Registry, env: Mapping[str, str], found: _Alerting) -> None:
    path = config.alerts.api_tokens_file
    if path is not None:
        found.tokens = len(load_tokens(path, registry.sites))


def _check_patrols(config: Config, registry: Registry, env: Mapping[str, str], found: _Alerting) -> None:
    path = config.patrols.routes_file
    if path is not None:
        found.routes = load_routes(path, registry.sites)


def _check_inspections(config: Config, registry: Registry, env: Mapping[str, str], found: _Alerting) -> None:
    path = config.inspections.pool_file
    if path is not None:
        pool = load_draw_input(path)
        found.pool = (len(pool.inspectors), len(pool.targets))


def _check_drone_zones(config: Config, registry: Registry, env: Mapping[str, str], found: _Alerting) -> None:
    path = config.drones.zones_file
    if path is not None:
        zones = load_zones(path, registry.sites, default_margin_m=config.drones.geofence_margin_m)
        found.drone_zones = (len(zones), sum(len(z.allowed) for z in zones.values()),
                             sum(len(z.no_fly) for z in zones.values()))


def _check_cameras(config: Config, registry: Registry, env: Mapping[str, str], found: _Alerting) -> None:
    from relic_guard.video.process import load_video_cameras

    cameras = load_video_cameras(config, registry)
    if config.video.cameras_file is not None:
        found.cameras = (len(cameras), sum(1 for c in cameras.values() if c.url is not None),
                         sum(len(c.analysis.zones) for c in cameras.values()))


def _check_alert_settings(config: Config, registry: Registry, env: Mapping[str, str], found: _Alerting) -> None:
    # Read, never created here: check-config changes nothing (the daemon creates them at start).
    if config.alerts.ack_key_file.exists():
        load_or_create_ack_key(config.alerts.ack_key_file)
    if config.alerts.vapid_key_file.exists():
        load_or_create_vapid_key(config.alerts.vapid_key_file)


def _problems_text(problems: list[str], what: str) -> str:
    count = len(problems)
    noun = "problem" if count == 1 else "problems"
    return "\n".join([*problems, f"check-config: {count} {noun} in the {what}; nothing was changed"])


def _summary(config: Config, registry: Registry, alerting: _Alerting) -> str:
    rows: list[tuple[str, str]] = []
    rows.append(
        ("config file", str(config.source_file) if config.source_file else "none (built-in defaults)")
    )

    scheme = urlsplit(config.mqtt.url).scheme.lower()
    if scheme == "mqtts":
        tls = f"TLS, CA {config.mqtt.ca_file}" if config.mqtt.ca_file else "TLS, system CAs"
    else:
        tls = "no TLS"
    rows.append(("mqtt broker", f"{mask_url(config.mqtt.url)} ({tls})"))
    foreign = [
        name
        for name, on in (("DJI", config.mqtt.dji_enabled), ("Frigate", config.mqtt.frigate_enabled))
        if on
    ]
    rows.append(
        (
            "mqtt topics",
            f"{config.mqtt.topic_prefix}/…" + (f" + {' + '.join(foreign)}" if foreign else ""),
        )
    )
    if config.database.url:
        rows.append(("database", mask_url(config.database.url)))
    else:
        rows.append(("database", "not set (`run` needs RELIC_GUARD_DATABASE_URL; `demo` starts its own)"))
    rows.append(("http listen", config.http.listen))

    sheets = ", ".join(p.name for p in registry_sheet_paths(config.registry_dir))
    rows.append(("registry", f"{config.registry_dir.absolute()} ({sheets})"))
    districts = Counter(site.district for site in registry.sites.values())
    site_word = "site" if len(registry.sites) == 1 else "sites"
    district_word = "district" if len(districts) == 1 else "districts"
    by_district = ", ".join(f"{name} {count}" for name, count in districts.most_common())
    rows.append(
        (
            "sites",
            f"{len(registry.sites)} {site_word} in {len(districts)} {district_word}"
            + (f": {by_district}" if by_district else ""),
        )
    )
    sources = Counter(device.source for device in registry.devices.values())
    by_source = ", ".join(f"{source.value} {sources[source]}" for source in Source if sources[source])
    device_word = "device" if len(registry.devices) == 1 else "devices"
    rows.append(
        ("devices", f"{len(registry.devices)} {device_word}" + (f": {by_source}" if by_source else ""))
    )

    rows.append(("alerting", _alerting_counts(config, alerting)))
    rows.append(("ack links", f"{config.alerts.public_url}/… (valid {_duration(config.alerts.ack_ttl_s)})"))
    smtp = config.alerts.smtp_url
    rows.append(("e-mail", f"{mask_url(smtp)} as {config.alerts.email_from}" if smtp else "not configured"))
    routes = alerting.routes
    rows.append((
        "patrols",
        f"{_count(len(routes), 'route')}, {_count(sum(len(r.checkpoints) for r in routes), 'checkpoint')} "
        f"({config.patrols.routes_file.name if config.patrols.routes_file else ''})" if routes is not None
        else "no routes file (no rounds are planned)",
    ))
    pool = alerting.pool
    rows.append((
        "inspections",
        f"site evaluations due {config.inspections.site_evaluation_due}, district supervisions due "
        f"{config.inspections.district_supervision_due}; "
        + (f"draw pool {_count(pool[0], 'inspector')}, {_count(pool[1], 'target')} "
           f"({config.inspections.pool_file.name if config.inspections.pool_file else ''})" if pool is not None
           else "no draw pool file (draws take --input)"),
    ))
    drones = config.drones
    fenced = sum(1 for site in registry.sites.values() if site.boundary_wkt is not None)
    zones = alerting.drone_zones
    rows.append((
        "drones",
        f"{_count(fenced, 'site')} with a boundary (geofence, coverage), margin {drones.geofence_margin_m:g} m, "
        f"a flight seeing {drones.patrol_coverage_share:.0%} of its site counts as a patrol; "
        + (f"{_count(zones[1], 'extra allowed area')}, {_count(zones[2], 'no-fly zone')} at "
           f"{_count(zones[0], 'site')} ({drones.zones_file.name if drones.zones_file else ''})" if zones is not None
           else "no zones file"),
    ))
    video = config.video
    cameras = alerting.cameras
    rows.append((
        "video",
        (f"{_count(cameras[0], 'camera')} ({cameras[1]} read from a url), {_count(cameras[2], 'zone')} "
         f"({video.cameras_file.name if video.cameras_file else ''})" if cameras is not None
         else "no cameras file")
        + f"; evidence in {video.evidence_dir}, kept {video.evidence_retention_days} days"
        + (f"; Frigate snapshots from {mask_url(video.frigate_url)}" if video.frigate_url else ""),
    ))
    rows.append((
        "reports",
        f"annual supervision reports in {config.reports.out_dir}, the past year's made from "
        f"{config.reports.annual_on} (and on request, within {config.reports.job_interval_s:g} s)",
    ))
    rows.append((
        "api tokens",
        f"{_count(alerting.tokens, 'token')} ({config.alerts.api_tokens_file})" if alerting.tokens is not None
        else "none: the HTTP API refuses every call (`relic-guard token new --file …` makes one)",
    ))

    notes = _notes(registry)
    width = max(len(label) for label, _ in rows)
    lines = ["configuration is valid", *(f"  {label.ljust(width)}  {value}" for label, value in rows)]
    lines.extend(f"  note: {note}" for note in notes)
    lines.extend(f"  warning: {warning}" for warning in alerting.warnings)
    return "\n".join(lines)


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number} {singular if number == 1 else plural or singular + 's'}"


def _alerting_counts(config: Config, alerting: _Alerting) -> str:
    routing = alerting.routing
    if routing is None:
        text = "no routing file (nothing is sent)"
    else:
        text = (
            f"{_count(len(routing.recipients), 'recipient')}, {_count(len(routing.rules), 'route')}, "
            f"{_count(len(routing.policies.policies), 'escalation policy', 'escalation policies')}, "
            f"{_count(len(routing.windows), 'maintenance window')}"
        )
    text += f", {_count(len(alerting.thresholds), 'threshold')}"
    files = [path.name for path in (config.alerts.routing_file, config.alerts.thresholds_file) if path is not None]
    return text + (f" ({', '.join(files)})" if files else "")


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def _notes(registry: Registry) -> list[str]:
    """Things that load but that a user most likely wants to know about."""
    notes: list[str] = []
    drone_sites = sorted(
        {device.site for device in registry.devices.values() if device.source is Source.DRONE}
    )
    for site_id in drone_sites:
        site = registry.sites[site_id]
        if site.boundary_wkt is None:
            notes.append(
                f"site {site_id} ({site.name}) has drones but no boundary_wkt: drone geofence checks "
                "cannot run there"
            )
    with_devices = {device.site for device in registry.devices.values()}
    for site_id, site in registry.sites.items():
        if site_id not in with_devices and not site.auto_register:
            notes.append(
                f"site {site_id} ({site.name}) has no devices and does not auto-register: "
                "every message for it will be quarantined"
            )
    return notes

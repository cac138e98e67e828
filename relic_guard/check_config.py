"""`relic-guard check-config`: load the configuration and the registry, and say what is wrong.

Pure apart from reading the files: it returns the exit code and the text to print, so
the CLI decides how to print and tests need no capturing. Exit 0 with a summary when
everything loads; exit 2 with one line per problem (`file:line: …`, the form editors and
CI annotate) when anything does not. Secrets never appear: URLs are shown masked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from relic_guard.config import Config
from relic_guard.config_load import load_config, mask_url
from relic_guard.errors import ConfigError
from relic_guard.registry import Registry, load_registry, registry_sheet_paths
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
    return EXIT_OK, _summary(config, registry)


def _problems_text(problems: list[str], what: str) -> str:
    count = len(problems)
    noun = "problem" if count == 1 else "problems"
    return "\n".join([*problems, f"check-config: {count} {noun} in the {what}; nothing was changed"])


def _summary(config: Config, registry: Registry) -> str:
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

    notes = _notes(registry)
    width = max(len(label) for label, _ in rows)
    lines = ["configuration is valid", *(f"  {label.ljust(width)}  {value}" for label, value in rows)]
    lines.extend(f"  note: {note}" for note in notes)
    return "\n".join(lines)


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

"""The site and device registry: who is where, as bureaus keep it (spreadsheets).

`sites.csv` and `devices.csv` (or `.xlsx` with the same columns) are loaded
into a `Registry`, which also serves the adapters as their `DeviceDirectory`:
plain dict look-ups, so the ingest hot path pays one hash per message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time

from sensors.model import Source


@dataclass(frozen=True, slots=True, kw_only=True)
class Site:
    id: str
    name: str
    district: str
    level: str
    kind: str
    lat: float | None = None
    lon: float | None = None
    custodians: tuple[str, ...] = ()
    boundary_wkt: str | None = None
    open_hours: tuple[time, time] | None = None
    # Extension to the contract's columns: accept messages from devices not in devices.csv.
    auto_register: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    site: str
    id: str
    source: Source
    kind: str = ""
    zone: str | None = None
    heartbeat_s: int | None = None
    # A DJI serial number or a Frigate camera name.
    external_id: str | None = None


@dataclass(slots=True)
class Registry:
    sites: dict[str, Site] = field(default_factory=dict)
    devices: dict[tuple[str, str], Device] = field(default_factory=dict)
    # (namespace, external id) -> (site, device); namespace is "dji" or "frigate".
    external: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)

    def add_site(self, site: Site) -> None:
        self.sites[site.id] = site

    def add_device(self, device: Device) -> None:
        self.devices[(device.site, device.id)] = device
        if device.external_id:
            namespace = "dji" if device.source is Source.DRONE else "frigate"
            self.external[(namespace, device.external_id)] = (device.site, device.id)

    # DeviceDirectory ---------------------------------------------------------
    def knows(self, site: str, device: str) -> bool:
        if (site, device) in self.devices:
            return True
        known_site = self.sites.get(site)
        return known_site is not None and known_site.auto_register

    def resolve_external(self, namespace: str, external_id: str) -> tuple[str, str] | None:
        return self.external.get((namespace, external_id))

"""A site's devices as the alert engine knows them: what `GET /api/sites/{id}` answers and the
dashboard's site page shows, from one place so the two never disagree.

State: `online` / `offline` for devices the engine watches (a heartbeat, or a status once sent),
`unknown` for the others. `last_seen` is the engine's: the last record from the device, or the
daemon's start when it has not reported since (it was given a full heartbeat period of grace).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from alerts.model import Alert
from relic_guard.alerting.service import AlertService
from relic_guard.registry import Device

DeviceState = Literal["online", "offline", "unknown"]


@dataclass(frozen=True, slots=True)
class DeviceRow:
    id: str
    source: str | None
    kind: str | None
    zone: str | None
    heartbeat_s: float | None
    # In the registry or the rule context (a device only heard from is not).
    registered: bool
    state: DeviceState
    last_seen: datetime | None
    open_alerts: int


def site_devices(
    service: AlertService, devices: Mapping[tuple[str, str], Device], site_id: str, open_alerts: Iterable[Alert]
) -> list[DeviceRow]:
    """The site's devices (registry, rule context, and any the engine watches), by id."""
    known: dict[str, Device | None] = {}
    facts: dict[str, Any] = {}
    for (sid, did), registered in devices.items():
        if sid == site_id:
            known[did] = registered
    for (sid, did), given in service.ctx.devices.items():
        if sid == site_id:
            known.setdefault(did, given if isinstance(given, Device) else None)
            facts[did] = given
    watches = service.engine.devices.watches
    for sid, did in watches:
        if sid == site_id:
            known.setdefault(did, None)
    by_device: dict[str, int] = {}
    for alert in open_alerts:
        by_device[alert.device] = by_device.get(alert.device, 0) + 1
    rows: list[DeviceRow] = []
    for did in sorted(known):
        device, fact = known[did], facts.get(did)
        watch = watches.get((site_id, did))
        rows.append(DeviceRow(
            id=did,
            source=device.source.value if device is not None else None,
            kind=device.kind if device is not None else None,
            zone=device.zone if device is not None else getattr(fact, "zone", None),
            heartbeat_s=device.heartbeat_s if device is not None else getattr(fact, "heartbeat_s", None),
            registered=device is not None or fact is not None,
            state="unknown" if watch is None else "offline" if watch.offline else "online",
            last_seen=datetime.fromtimestamp(watch.last_seen, UTC) if watch is not None else None,
            open_alerts=by_device.get(did, 0),
        ))
    return rows

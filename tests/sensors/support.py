"""A small registry of two Jinan sites and the helpers every adapter test uses."""

from __future__ import annotations

from datetime import UTC, datetime

from relic_guard.registry import Device, Registry, Site
from sensors.context import ParseContext
from sensors.model import Message, Source

# 2026-11-27 10:00 in Jinan.
RECEIVED = datetime(2026, 11, 27, 2, 0, 0, tzinfo=UTC)
RECEIVED_MS = 1_795_744_800_000

SITE = "jn-dmh"  # 大明湖 historic buildings: registered devices only
OPEN_SITE = "jn-qfs"  # 千佛山 cliff carvings: accepts auto-registration

AIRCRAFT_SN = "1581F5BKD225D00A"
DOCK_SN = "7CTDM3D00B0123"
SPARE_AIRCRAFT_SN = "1581F5BKD225D00B"


def build_registry() -> Registry:
    registry = Registry()
    registry.add_site(Site(id=SITE, name="大明湖古建筑群", district="历下区", level="省级", kind="古建筑"))
    registry.add_site(
        Site(
            id=OPEN_SITE,
            name="千佛山摩崖造像",
            district="历下区",
            level="市县级",
            kind="石窟寺及石刻",
            auto_register=True,
        )
    )
    for device, source, external in (
        ("fa-01", Source.FIRE, None),
        ("sec-01", Source.SECURITY, None),
        ("cam-01", Source.VIDEO, "gate_cam"),
        ("nvr-01", Source.VIDEO, "frigate"),
        ("uav-01", Source.DRONE, AIRCRAFT_SN),
        ("dock-01", Source.DRONE, DOCK_SN),
        ("pt-01", Source.PATROL, None),
        ("env-01", Source.ENV, None),
    ):
        registry.add_device(Device(site=SITE, id=device, source=source, external_id=external))
    return registry


CTX = ParseContext(directory=build_registry())


def msg(topic: str, payload: bytes | str, *, props: tuple[tuple[str, str], ...] = ()) -> Message:
    data = payload.encode() if isinstance(payload, str) else payload
    return Message(topic, data, RECEIVED, props)


def native_topic(source: str, device: str, channel: str, site: str = SITE) -> str:
    return f"relic/{site}/{source}/{device}/{channel}"

"""Video-analytics and drone events (CONTRACT §1 video and drone types): defaults per type.

`VIDEO_RULES` and `DRONE_LABELS` are the tables; each row says the category, the
severity when the site is closed and when it is open, the audiences, whether the event
alarms only while armed or closed (`guarded`: people on a site during opening hours are
visitors), and whether the alert is held for a person after the condition ends
(`latched`: intrusion, removal, tamper, smoke, flame, excavation) or resolves itself
(`video_loss`, `occlusion`, `defocus`, `scene_change`, `link_lost`).

Choices:
- `motion` never alerts: it is the noisiest signal a camera has (Frigate maps every label
  it has no rule for to motion), and it is stored anyway.
- `intrusion`/`tripwire` follow the security rule: armed or closed; critical when closed.
- `object_removed` alarms at any hour (a carving gone during opening hours is theft too)
  and brings in the police; critical when closed.
- `smoke`/`flame` open a fire-category video alert to the monitoring center and custodians
  and are also handed to the fire rules, where they confirm a detector alarm. A `candidate`
  smoke/flame (`"candidate": true`: a cue from pixels alone, such as colour and flicker, that
  our own video analysis sends) opens nothing: it only confirms a detector's alarm, because a
  sunset or a red lantern must not call the fire brigade.
- Drone `detection` rows go by `label`: `excavation` (盗掘 on an archaeological or tomb
  site) at any hour to police and culture bureau too, critical when closed (a permitted
  dig works by day); `person`/`vehicle` only when closed; `smoke`/`fire`/`flame` as video
  smoke. Other labels do not alert.
- `link_lost` (drone) resolves at the next event from the same drone or its `clear`.
- An event with `evidence_for` only brings a picture of something reported already: it adds
  its snapshot to the open alert under its key, opens nothing and counts no repeat.
- `armed: true` on a video event (a zone armed by the camera's own schedule) counts as armed
  for the guarded rows, like a security zone armed at the panel.
- Keys: video `video.<type>[:zone]`; drone `drone.<label>` and `drone.link_lost`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from alerts.model import Action, AlertKey, Audience, Category, Classification, Severity
from alerts.rules.common import AlertBook, RuleContext, evidence_of, make_title, zoned_rule
from sensors.model import Event

_MC: Final = (Audience.MONITORING_CENTER,)
_LOCAL: Final = (Audience.MONITORING_CENTER, Audience.CUSTODIANS)
_POLICE: Final = (Audience.MONITORING_CENTER, Audience.CUSTODIANS, Audience.POLICE)
_LOOTING: Final = (Audience.MONITORING_CENTER, Audience.CUSTODIANS, Audience.POLICE, Audience.CULTURE_BUREAU)


@dataclass(frozen=True, slots=True)
class SignalRule:
    label: str
    category: Category
    severity_closed: Severity
    severity_open: Severity
    audiences: tuple[Audience, ...]
    guarded: bool = False
    latched: bool = True
    # Classification when a self-restoring condition ends.
    classification: Classification | None = None
    # Also a fire signal for the fire rules.
    fire_signal: bool = False


VIDEO_RULES: Final[dict[str, SignalRule]] = {
    "intrusion": SignalRule("视频：人员闯入", Category.VIDEO, Severity.CRITICAL, Severity.MAJOR, _POLICE, guarded=True),
    "tripwire": SignalRule("视频：越线", Category.VIDEO, Severity.MAJOR, Severity.MAJOR, _POLICE, guarded=True),
    "loitering": SignalRule("视频：徘徊", Category.VIDEO, Severity.MINOR, Severity.MINOR, _LOCAL, guarded=True),
    "object_removed": SignalRule("视频：物品被移走", Category.VIDEO, Severity.CRITICAL, Severity.MAJOR, _POLICE),
    "tamper": SignalRule("视频：摄像机防拆", Category.VIDEO, Severity.MAJOR, Severity.MAJOR, _LOCAL),
    "occlusion": SignalRule("视频遮挡", Category.VIDEO, Severity.MAJOR, Severity.MINOR, _LOCAL, latched=False),
    "defocus": SignalRule("视频虚焦", Category.DEVICE, Severity.WARNING, Severity.WARNING, _MC, latched=False),
    "scene_change": SignalRule("视频场景变更", Category.VIDEO, Severity.WARNING, Severity.WARNING, _MC, latched=False),
    "video_loss": SignalRule(
        "视频丢失",
        Category.DEVICE,
        Severity.MAJOR,
        Severity.MAJOR,
        _MC,
        latched=False,
        classification=Classification.DEVICE_FAULT,
    ),
    "smoke": SignalRule("视频：烟雾", Category.FIRE, Severity.MAJOR, Severity.MAJOR, _LOCAL, fire_signal=True),
    "flame": SignalRule("视频：明火", Category.FIRE, Severity.CRITICAL, Severity.CRITICAL, _LOCAL, fire_signal=True),
}

_DRONE_SMOKE: Final = SignalRule(
    "无人机：烟雾/火情", Category.FIRE, Severity.MAJOR, Severity.MAJOR, _LOCAL, fire_signal=True
)
DRONE_LABELS: Final[dict[str, SignalRule]] = {
    "excavation": SignalRule("无人机：疑似盗掘", Category.DRONE, Severity.CRITICAL, Severity.MAJOR, _LOOTING),
    "person": SignalRule("无人机：发现人员", Category.DRONE, Severity.MAJOR, Severity.MAJOR, _LOCAL, guarded=True),
    "vehicle": SignalRule("无人机：发现车辆", Category.DRONE, Severity.MAJOR, Severity.MAJOR, _LOCAL, guarded=True),
    "smoke": _DRONE_SMOKE,
    "fire": _DRONE_SMOKE,
    "flame": _DRONE_SMOKE,
}

LINK_LOST: Final = SignalRule(
    "无人机链路中断",
    Category.DEVICE,
    Severity.MAJOR,
    Severity.MAJOR,
    _MC,
    latched=False,
    classification=Classification.DEVICE_FAULT,
)


def _signal(
    book: AlertBook,
    rule: SignalRule,
    key: AlertKey,
    event: Event,
    zone: str | None,
    now: datetime,
    ctx: RuleContext,
    armed: bool,
    where: str | None = None,
) -> list[Action]:
    if event.clear:
        return book.clear(key, now, auto_resolve=not rule.latched, classification=rule.classification)
    if "evidence_for" in event.attrs:
        # Only a picture of something already reported (a Frigate snapshot fetched later): it joins
        # the open alert's evidence, and is no new occurrence.
        current = book.open.get(key)
        if current is None:
            return []
        return book.update(current, now, evidence=evidence_of(event.attrs), settings=ctx.settings, repeat=False)
    closed = not ctx.is_open(event.site, now)
    if rule.guarded and not (armed or closed):
        return []
    return book.report(
        key,
        now,
        category=rule.category,
        severity=rule.severity_closed if closed else rule.severity_open,
        title=make_title(rule.label, ctx.site_name(event.site), where or zone or event.device),
        audience=rule.audiences,
        settings=ctx.settings,
        zone=zone,
        evidence=evidence_of(event.attrs),
    )


def video_rule(event: Event) -> SignalRule | None:
    return VIDEO_RULES.get(event.type)


def drone_rule(event: Event) -> SignalRule | None:
    if event.type == "detection":
        label = event.attrs.get("label")
        return DRONE_LABELS.get(label) if isinstance(label, str) else None
    if event.type == "link_lost":
        return LINK_LOST
    return None


def is_candidate(event: Event) -> bool:
    """A low-confidence cue meant only to back up another signal (CONTRACT extension `candidate`)."""
    return event.attrs.get("candidate") is True


def on_video_event(book: AlertBook, event: Event, now: datetime, ctx: RuleContext, *, armed: bool) -> list[Action]:
    rule = video_rule(event)
    if rule is None or (rule.fire_signal and is_candidate(event)):
        return []
    zone = event.zone if event.zone is not None else ctx.device_zone(event.site, event.device)
    key = AlertKey(event.site, event.device, zoned_rule(f"video.{event.type}", zone))
    return _signal(book, rule, key, event, zone, now, ctx, armed)


def on_drone_event(book: AlertBook, event: Event, now: datetime, ctx: RuleContext, *, armed: bool) -> list[Action]:
    link_key = AlertKey(event.site, event.device, "drone.link_lost")
    actions: list[Action] = []
    if event.type != "link_lost":
        # Anything else the drone says means the link is back.
        actions += book.clear(link_key, now, auto_resolve=True, classification=LINK_LOST.classification)
    rule = drone_rule(event)
    if rule is None:
        return actions
    if rule is LINK_LOST:
        key = link_key
    else:
        label = event.attrs.get("label")
        key = AlertKey(event.site, event.device, f"drone.{label}")
    return actions + _signal(book, rule, key, event, event.zone, now, ctx, armed, where=_drone_where(event))


def _drone_where(event: Event) -> str | None:
    """Where on a large site the drone saw it: people sent there need the point, not the site."""
    lat, lon = event.attrs.get("lat"), event.attrs.get("lon")
    if not isinstance(lat, int | float) or not isinstance(lon, int | float) or isinstance(lat, bool):
        return None
    return f"{event.zone or event.device} 位置 {float(lat):.5f},{float(lon):.5f}"

"""Security (intrusion alarm) rules, with the semantics of GB 50394 and GB/T 16571.

The table `SECURITY_RULES` says, per event type, when it alarms, how loud, to whom.

- `intrusion`, `door_open`, `vibration` alarm while the zone is armed OR the site is
  closed (outside its `open_hours`, Asia/Shanghai; a site without open hours is always
  closed). Disarmed during opening hours they are visitors and staff: no alert.
  Severities: intrusion is critical when the site is closed (a person inside a closed
  relic site at night is the looting/theft case the system exists for) and major when
  armed during opening hours (an armed store room; people are around); door_open and
  vibration are major (vibration on carvings and walls is how cutting and digging show).
  Audiences: monitoring center, custodians, police.
- `panic` is critical to the same three, whether armed or not, and latched: the device's
  `clear` is ignored; only a person closing the alert (lifecycle resolve) ends it.
- `tamper` alarms whether armed or not (GB 50394): major, to the monitoring center and
  custodians, and the police too while armed or closed.
- Every security alarm is held until a person closes it (GB 50394: no auto-reset): a
  `clear` (or `door_close` for `door_open`) records that the condition ended, nothing more.
- `arm` / `disarm` set the armed state of the event's zone, or of the whole site when
  the event names no zone (a site-wide disarm also disarms every zone).
- Keys are zone-scoped (`security.intrusion:<zone>`): a panel reporting several zones
  gets one alert per zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from alerts.model import Action, AlertKey, Audience, Category, Severity
from alerts.rules.common import AlertBook, RuleContext, evidence_of, make_title, zoned_rule
from sensors.model import Event

_LOCAL_AND_POLICE: Final = (Audience.MONITORING_CENTER, Audience.CUSTODIANS, Audience.POLICE)


@dataclass(frozen=True, slots=True)
class SecurityRule:
    label: str
    severity_closed: Severity  # outside opening hours
    severity_open: Severity  # armed during opening hours, or always-on rules
    # Alarms only while armed or closed; False: whatever the arming (panic, tamper).
    guarded: bool
    # Device `clear` is ignored: only a person ends it (panic).
    latched_by_person: bool = False
    police_always: bool = True


SECURITY_RULES: Final[dict[str, SecurityRule]] = {
    "intrusion": SecurityRule("入侵报警", Severity.CRITICAL, Severity.MAJOR, guarded=True),
    "door_open": SecurityRule("门磁报警", Severity.MAJOR, Severity.MAJOR, guarded=True),
    "vibration": SecurityRule("震动报警", Severity.MAJOR, Severity.MAJOR, guarded=True),
    "panic": SecurityRule("紧急报警", Severity.CRITICAL, Severity.CRITICAL, guarded=False, latched_by_person=True),
    "tamper": SecurityRule("防拆报警", Severity.MAJOR, Severity.MAJOR, guarded=False, police_always=False),
}

# Events that end another type's condition.
_CLEARS: Final = {"door_close": "door_open"}


@dataclass(slots=True)
class SecurityState:
    # (site, zone) -> armed; zone None is the whole site
    armed: dict[tuple[str, str | None], bool] = field(default_factory=dict)

    def is_armed(self, site: str, zone: str | None) -> bool:
        if zone is not None and (site, zone) in self.armed:
            return self.armed[(site, zone)]
        return self.armed.get((site, None), False)


def on_event(state: SecurityState, book: AlertBook, event: Event, now: datetime, ctx: RuleContext) -> list[Action]:
    zone = event.zone if event.zone is not None else ctx.device_zone(event.site, event.device)
    if event.type in ("arm", "disarm"):
        _set_armed(state, event.site, zone if event.zone is not None else None, event.type == "arm")
        return []
    cleared_type = _CLEARS.get(event.type)
    if cleared_type is not None:
        return book.clear(
            AlertKey(event.site, event.device, zoned_rule(f"security.{cleared_type}", zone)), now, auto_resolve=False
        )
    rule = SECURITY_RULES.get(event.type)
    if rule is None:
        return []
    key = AlertKey(event.site, event.device, zoned_rule(f"security.{event.type}", zone))
    if event.clear:
        if rule.latched_by_person:
            return []
        return book.clear(key, now, auto_resolve=False)
    closed = not ctx.is_open(event.site, now)
    armed = state.is_armed(event.site, zone)
    if rule.guarded and not (armed or closed):
        return []
    audience = _LOCAL_AND_POLICE if rule.police_always or armed or closed else _LOCAL_AND_POLICE[:2]
    return book.report(
        key,
        now,
        category=Category.SECURITY,
        severity=rule.severity_closed if closed else rule.severity_open,
        title=make_title(rule.label, ctx.site_name(event.site), zone or event.device),
        audience=audience,
        settings=ctx.settings,
        zone=zone,
        evidence=evidence_of(event.attrs),
    )


def _set_armed(state: SecurityState, site: str, zone: str | None, armed: bool) -> None:
    if zone is None:
        for slot in [slot for slot in state.armed if slot[0] == site and slot[1] is not None]:
            del state.armed[slot]
    state.armed[(site, zone)] = armed

"""Device health: offline after `heartbeat_s` of silence, or on an `offline` status; and
one "site unreachable" alert instead of a storm when a whole site goes dark.

Cost model (the target: 100k devices, O(1) per heartbeat, no scan per tick):
- `seen` (every record from a device, of any kind: an event, a reading, a status, a
  frame; keep-alives the broker answers never reach us, so they cannot hide a dead
  device) is one dict look-up and one attribute write.
- Deadlines sit in a min-heap with at most one entry per watched device. `check_heartbeats`
  pops only entries that are due. An entry whose device reported since is pushed back at
  its true deadline (last seen + heartbeat), so a device that keeps reporting costs one
  pop and one push (O(log n)) per heartbeat *period*, not per message, and a tick costs
  O(k log n) for the k entries due. A device is declared offline at the first tick at or
  after last_seen + heartbeat_s, so within [heartbeat_s, heartbeat_s + tick interval].
- Devices without `heartbeat_s` have no deadline; only an `offline` status takes them down.

Inhibition: a site whose watched devices (those with a heartbeat, or that ever sent a
status) number at least `site_unreachable_min_devices` and are all offline gets one
`site.unreachable` alert (device `*`). The per-device offline alerts stay open (each is
a fact the record keeps) but are marked `inhibited_by` it, and those opened while it
stands are not notified. When any device of the site comes back, the site alert
resolves and the devices still offline are announced. Offline alerts restore themselves:
a device heard from again resolves its alert (classification device_fault).

Time: deadlines are epoch seconds of the engine's `now`, never device clocks.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from alerts.model import SITE_WIDE, Action, AlertKey, Audience, Category, Classification, Severity
from alerts.rules.common import LOCAL, AlertBook, RuleContext, make_title

OFFLINE_RULE: Final = "device.offline"
UNREACHABLE_RULE: Final = "site.unreachable"


class Watch:
    """One watched device. A plain slotted class: a dataclass's generated methods buy nothing here."""

    __slots__ = ("heartbeat_s", "last_seen", "offline", "queued")

    def __init__(self, heartbeat_s: float | None, last_seen: float) -> None:
        self.heartbeat_s = heartbeat_s
        self.last_seen = last_seen
        self.offline = False
        self.queued = False  # has an entry in the deadline heap


@dataclass(slots=True)
class DeviceState:
    watches: dict[tuple[str, str], Watch] = field(default_factory=dict)
    # (deadline epoch s, site, device); at most one entry per device (Watch.queued)
    deadlines: list[tuple[float, str, str]] = field(default_factory=list)
    members: dict[str, int] = field(default_factory=dict)  # site -> watched devices
    offline: dict[str, set[str]] = field(default_factory=dict)  # site -> devices offline
    unreachable: set[str] = field(default_factory=set)  # sites with a site.unreachable alert


def _watch(state: DeviceState, site: str, device: str, heartbeat_s: float | None, at: float) -> Watch:
    watch = Watch(heartbeat_s, at)
    state.watches[(site, device)] = watch
    state.members[site] = state.members.get(site, 0) + 1
    return watch


def _queue(state: DeviceState, site: str, device: str, watch: Watch) -> None:
    if watch.heartbeat_s is not None and not watch.queued:
        heapq.heappush(state.deadlines, (watch.last_seen + watch.heartbeat_s, site, device))
        watch.queued = True


def watch(state: DeviceState, site: str, device: str, heartbeat_s: float | None, now: datetime) -> None:
    """Start watching a device that may never report (at start-up, from the registry):
    silent for `heartbeat_s` from `now`, it goes offline."""
    if (site, device) not in state.watches and heartbeat_s is not None:
        _queue(state, site, device, _watch(state, site, device, heartbeat_s, now.timestamp()))


def seen(state: DeviceState, book: AlertBook, site: str, device: str, now: datetime, ctx: RuleContext) -> list[Action]:
    """The device said something. The hot path: O(1) unless it was offline."""
    at = now.timestamp()
    current = state.watches.get((site, device))
    if current is None:
        heartbeat_s = ctx.heartbeat_s(site, device)
        if heartbeat_s is None:
            return []
        current = _watch(state, site, device, heartbeat_s, at)
        _queue(state, site, device, current)
        return []
    current.last_seen = at
    if not current.offline:
        return []
    current.offline = False
    _queue(state, site, device, current)
    return _back_online(state, book, site, device, now)


def status(
    state: DeviceState, book: AlertBook, site: str, device: str, online: bool, now: datetime, ctx: RuleContext
) -> list[Action]:
    """A retained status or a last will. Online counts as traffic; offline takes the device down now."""
    if online:
        actions = seen(state, book, site, device, now, ctx)
        if (site, device) not in state.watches:  # no heartbeat: watched for status from now on
            _watch(state, site, device, None, now.timestamp())
        return actions
    current = state.watches.get((site, device))
    if current is None:
        current = _watch(state, site, device, ctx.heartbeat_s(site, device), now.timestamp())
    if current.offline:
        return []
    return _go_offline(state, book, site, device, current, now, ctx, "status offline")


def check_heartbeats(state: DeviceState, book: AlertBook, now: datetime, ctx: RuleContext) -> list[Action]:
    """Declare offline every device whose deadline has passed without traffic."""
    at = now.timestamp()
    heap = state.deadlines
    actions: list[Action] = []
    while heap and heap[0][0] <= at:
        _, site, device = heapq.heappop(heap)
        current = state.watches.get((site, device))
        if current is None:
            continue
        current.queued = False
        if current.offline or current.heartbeat_s is None:
            continue
        deadline = current.last_seen + current.heartbeat_s
        if deadline > at:  # reported since the entry was pushed
            heapq.heappush(heap, (deadline, site, device))
            current.queued = True
            continue
        actions += _go_offline(state, book, site, device, current, now, ctx, "no traffic")
    return actions


def _go_offline(
    state: DeviceState,
    book: AlertBook,
    site: str,
    device: str,
    current: Watch,
    now: datetime,
    ctx: RuleContext,
    why: str,
) -> list[Action]:
    current.offline = True
    down = state.offline.setdefault(site, set())
    down.add(device)
    actions: list[Action] = []
    site_key = AlertKey(site, SITE_WIDE, UNREACHABLE_RULE)
    members = state.members.get(site, 0)
    if site not in state.unreachable and members >= ctx.settings.site_unreachable_min_devices and len(down) >= members:
        state.unreachable.add(site)
        actions += book.report(
            site_key,
            now,
            category=Category.DEVICE,
            severity=Severity.MAJOR,
            title=make_title("站点失联", ctx.site_name(site), f"{members} 台设备全部离线"),
            audience=LOCAL,
            settings=ctx.settings,
        )
        site_alert = book.get(site_key)
        assert site_alert is not None
        for other in sorted(down - {device}):
            actions += book.set_inhibition(AlertKey(site, other, OFFLINE_RULE), site_alert.id)
    site_alert = book.get(site_key) if site in state.unreachable else None
    actions += book.report(
        AlertKey(site, device, OFFLINE_RULE),
        now,
        category=Category.DEVICE,
        severity=Severity.MAJOR if current.heartbeat_s is not None else Severity.MINOR,
        title=make_title("设备离线", ctx.site_name(site), f"{device}（{why}）"),
        audience=(Audience.MONITORING_CENTER,),
        settings=ctx.settings,
        zone=ctx.device_zone(site, device),
        inhibited_by=site_alert.id if site_alert is not None else None,
    )
    return actions


def _back_online(state: DeviceState, book: AlertBook, site: str, device: str, now: datetime) -> list[Action]:
    down = state.offline.get(site, set())
    down.discard(device)
    actions = book.clear(
        AlertKey(site, device, OFFLINE_RULE), now, auto_resolve=True, classification=Classification.DEVICE_FAULT
    )
    if site in state.unreachable:
        state.unreachable.discard(site)
        actions += book.clear(
            AlertKey(site, SITE_WIDE, UNREACHABLE_RULE),
            now,
            auto_resolve=True,
            classification=Classification.DEVICE_FAULT,
        )
        for other in sorted(down):
            actions += book.set_inhibition(AlertKey(site, other, OFFLINE_RULE), None)
    if not down:
        state.offline.pop(site, None)
    return actions


def restore_offline(state: DeviceState, site: str, device: str, heartbeat_s: float | None, now: datetime) -> None:
    """Rebuild: an open offline alert from the database means the device is still down."""
    current = state.watches.get((site, device)) or _watch(state, site, device, heartbeat_s, now.timestamp())
    current.offline = True
    state.offline.setdefault(site, set()).add(device)

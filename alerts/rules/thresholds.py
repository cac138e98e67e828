"""Telemetry thresholds with a duration: "temperature_c > 60 for 30 s".

A `ThresholdRule` is a frozen spec (loading it from TOML belongs to the config
layer). Per (site, device, rule) the state is the instant the breach began:
- a reading that breaches starts the clock (or keeps it running);
- once the breach has lasted `for_s` (seen at a later reading, or by `tick` when
  the readings stop coming), the alert opens; `for_s = 0` opens at the first reading;
- a reading that does not breach stops the clock and, if an alert is open, ends its
  condition: resolved at once (a recovered reading is no incident), or only marked
  cleared when the rule is `latch = true` (a temperature spike that someone must look at).
The rule's key is `threshold.<name>`.

The duration runs on the engine's `now` (arrival time), not device timestamps: one clock
for every rule, immune to a device's drifting clock; a telemetry lane running behind
stretches it by its lag, which only errs late.
"""

from __future__ import annotations

import heapq
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Final

import msgspec

from alerts.model import Action, AlertKey, Audience, Category, Severity
from alerts.rules.common import AlertBook, RuleContext, make_title
from sensors.model import Telemetry


class Op(StrEnum):
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="


_OPS: Final[dict[Op, Callable[[float, float], bool]]] = {
    Op.GT: operator.gt,
    Op.GE: operator.ge,
    Op.LT: operator.lt,
    Op.LE: operator.le,
    Op.EQ: operator.eq,
    Op.NE: operator.ne,
}


class ThresholdRule(msgspec.Struct, frozen=True, kw_only=True):
    name: str  # unique; the alert's rule is `threshold.<name>`
    metric: str
    op: Op
    value: float
    for_s: float = 0.0
    severity: Severity = Severity.WARNING
    category: Category = Category.ENVIRONMENT
    audiences: tuple[Audience, ...] = (Audience.MONITORING_CENTER,)
    # Empty: every site / every device. Devices are ids within the matching sites.
    sites: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    latch: bool = False
    # Shown before the site name; default "<metric> <op> <value>".
    label: str | None = None

    def applies(self, site: str, device: str) -> bool:
        return (not self.sites or site in self.sites) and (not self.devices or device in self.devices)

    def breached(self, reading: float) -> bool:
        return _OPS[self.op](reading, self.value)

    @property
    def rule(self) -> str:
        return f"threshold.{self.name}"


@dataclass(slots=True)
class ThresholdState:
    # (site, device, rule name) -> when the breach began (epoch s of `now`)
    pending: dict[tuple[str, str, str], float] = field(default_factory=dict)
    # (due epoch s, site, device, rule name, began): for `tick`; stale entries are skipped
    due: list[tuple[float, str, str, str, float]] = field(default_factory=list)


def _open(
    book: AlertBook, rule: ThresholdRule, site: str, device: str, value: float | None, now: datetime, ctx: RuleContext
) -> list[Action]:
    label = rule.label or f"{rule.metric} {rule.op.value} {rule.value:g}"
    where = device if value is None else f"{device}（{rule.metric}={value:g}）"
    return book.report(
        AlertKey(site, device, rule.rule),
        now,
        category=rule.category,
        severity=rule.severity,
        title=make_title(label, ctx.site_name(site), where),
        audience=rule.audiences,
        settings=ctx.settings,
        zone=ctx.device_zone(site, device),
    )


def on_telemetry(
    state: ThresholdState, book: AlertBook, reading: Telemetry, now: datetime, ctx: RuleContext
) -> list[Action]:
    actions: list[Action] = []
    at = now.timestamp()
    for rule in ctx.thresholds:
        value = reading.values.get(rule.metric)
        if value is None or not rule.applies(reading.site, reading.device):
            continue
        slot = (reading.site, reading.device, rule.name)
        key = AlertKey(reading.site, reading.device, rule.rule)
        if rule.breached(value):
            began = state.pending.get(slot)
            if began is None:
                began = at
                state.pending[slot] = at
                if rule.for_s > 0:
                    heapq.heappush(state.due, (at + rule.for_s, reading.site, reading.device, rule.name, at))
            if at - began >= rule.for_s or book.get(key) is not None:
                actions += _open(book, rule, reading.site, reading.device, value, now, ctx)
        else:
            state.pending.pop(slot, None)
            actions += book.clear(key, now, auto_resolve=not rule.latch)
    return actions


def tick(state: ThresholdState, book: AlertBook, now: datetime, ctx: RuleContext) -> list[Action]:
    """Open the alerts whose breach has lasted `for_s` with no reading since to say so."""
    at = now.timestamp()
    rules = {rule.name: rule for rule in ctx.thresholds}
    actions: list[Action] = []
    while state.due and state.due[0][0] <= at:
        _, site, device, name, began = heapq.heappop(state.due)
        rule = rules.get(name)
        if rule is None or state.pending.get((site, device, name)) != began:
            continue  # the breach ended (or restarted) since, or the rule is gone
        if book.get(AlertKey(site, device, rule.rule)) is None:
            actions += _open(book, rule, site, device, None, now, ctx)
    return actions

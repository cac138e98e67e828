"""Routing: from an alert and its site to the people and systems that must hear of it.

Two steps, both pure and deterministic:

1. *Audiences.* The engine already put on the alert the audiences its rule demands
   (`Alert.audiences`: an unconfirmed fire reaches the monitoring center and the custodians;
   a confirmed one also the fire brigade, the culture bureau and the police). Every routing
   rule whose match fits the alert and its site may **add** audiences (e.g. 文化市场综合执法 for
   every security alert at a national site). A rule never removes one: the configuration
   cannot talk the system out of calling the fire brigade to a confirmed fire.
2. *Recipients.* Each audience is served by recipients: those listed in the `recipients` of
   the matching rules (each recipient serves exactly one audience: its `audience`), and for
   `Audience.CUSTODIANS` the site's own custodians, named in the registry (`Site.custodians`)
   and found in the `Directory` by name.

Invariants:
- `route` returns recipients in audience order (`Audience` declaration order), then in rule
  order, then in the order a rule lists them; each recipient once (by id). Same inputs, same
  list.
- A drill (`Alert.drill`) reaches the monitoring center only, whatever the rules say: drills
  are recorded and shown, never sent to agencies or custodians (the model's rule for drills).
- A rule lists recipients by id; that every id exists, and that each rule's recipients serve
  audiences at all, is checked when the configuration is loaded (`relic_guard.routing_load`),
  so `route` may assume a consistent `Directory`.

Missing custodian mappings (a name in `sites.csv` that no recipient carries) are a
configuration error at load (`relic_guard.routing_load.check_against_registry`): a custodian
who silently never gets the fire alarm for their site is the failure this module exists to
prevent. If the registry changes at run time and a name is left unmapped, `route` skips it
(the monitoring center still gets the alert, and it always does: see `unmapped_custodians`,
which the dispatcher should log loudly).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal, Protocol

import msgspec

from alerts.model import Alert, Audience, Category, Severity, audiences


class Site(Protocol):
    """The site facts routing reads (`relic_guard.registry.Site` has them); a protocol so that
    `alerts` does not depend on the I/O package."""

    @property
    def id(self) -> str: ...
    @property
    def district(self) -> str: ...
    @property
    def level(self) -> str: ...
    @property
    def custodians(self) -> tuple[str, ...]: ...


ChannelKind = Literal["webhook", "email", "apprise", "webpush"]
CHANNEL_KINDS: Final[tuple[ChannelKind, ...]] = ("webhook", "email", "apprise", "webpush")


class ChannelTarget(msgspec.Struct, frozen=True, kw_only=True):
    """One way to reach a recipient.

    `target`: webhook URL, e-mail address, apprise URL, or Web Push subscription id (the
    custodian's phone registers it through the mobile page). `secret_ref` names where the
    secret lives (`env:VAR` or `file:/path`), never the secret itself: the webhook HMAC key,
    or for apprise the token substituted for `{secret}` in `target`.
    """

    kind: ChannelKind
    target: str
    secret_ref: str | None = None


class Recipient(msgspec.Struct, frozen=True, kw_only=True):
    """A person, duty desk or agency system. `channels` are all tried; `fallback` is used for
    a delivery that keeps failing on them (CONTRACT §2)."""

    id: str
    name: str
    audience: Audience
    channels: tuple[ChannelTarget, ...]
    fallback: tuple[ChannelTarget, ...] = ()


@dataclass(frozen=True, slots=True)
class Directory:
    """Every recipient by id, and custodians by name (the registry names custodians by name)."""

    by_id: Mapping[str, Recipient]
    custodians_by_name: Mapping[str, Recipient] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, recipients: Iterable[Recipient]) -> Directory:
        """Build from a list; ids must be unique, and custodian names too (checked at load;
        here the first wins)."""
        by_id: dict[str, Recipient] = {}
        by_name: dict[str, Recipient] = {}
        for recipient in recipients:
            by_id.setdefault(recipient.id, recipient)
            if recipient.audience is Audience.CUSTODIANS:
                by_name.setdefault(recipient.name, recipient)
        return cls(MappingProxyType(by_id), MappingProxyType(by_name))


class RouteMatch(msgspec.Struct, frozen=True, kw_only=True):
    """What a rule applies to. An empty tuple (or None) matches anything; all given parts must
    match. `severity` is an exact match, `severity_at_least` a floor; give at most one."""

    sites: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    levels: tuple[str, ...] = ()
    categories: tuple[Category, ...] = ()
    severity: Severity | None = None
    severity_at_least: Severity | None = None

    def matches_site(self, site: Site) -> bool:
        return (
            (not self.sites or site.id in self.sites)
            and (not self.districts or site.district in self.districts)
            and (not self.levels or site.level in self.levels)
        )

    def matches(self, alert: Alert, site: Site) -> bool:
        if self.categories and alert.category not in self.categories:
            return False
        if self.severity is not None and alert.severity is not self.severity:
            return False
        if self.severity_at_least is not None and alert.severity < self.severity_at_least:
            return False
        return self.matches_site(site)


class RoutingRule(msgspec.Struct, frozen=True, kw_only=True):
    """For alerts it `match`es: add `audiences`, and name `recipients` (ids) that serve audiences."""

    name: str
    match: RouteMatch = RouteMatch()
    audiences: tuple[Audience, ...] = ()
    recipients: tuple[str, ...] = ()


DRILL_AUDIENCES: Final = (Audience.MONITORING_CENTER,)


def audiences_for(alert: Alert, site: Site, rules: Iterable[RoutingRule]) -> tuple[Audience, ...]:
    """The alert's own audiences plus those the matching rules add (canonical order);
    only the monitoring center for a drill."""
    if alert.drill:
        return DRILL_AUDIENCES
    added = [audience for rule in rules if rule.match.matches(alert, site) for audience in rule.audiences]
    return audiences(*alert.audiences, *added)


def route(
    alert: Alert,
    site: Site,
    rules: Iterable[RoutingRule],
    directory: Directory,
    *,
    only: Iterable[Audience] | None = None,
) -> list[Recipient]:
    """The recipients of `alert`, de-duplicated, in a stable order (see the module docstring).

    `only` restricts the result to some audiences: on an `Escalated` action the dispatcher
    passes its `added` audiences so that only the newcomers get `alert.escalated`'s first word.
    """
    rules = tuple(rules)
    wanted = audiences_for(alert, site, rules)
    if only is not None:
        keep = frozenset(only)
        wanted = tuple(audience for audience in wanted if audience in keep)
    matching = [rule for rule in rules if rule.match.matches(alert, site)]
    found: dict[str, Recipient] = {}
    for audience in wanted:
        if audience is Audience.CUSTODIANS:
            for name in site.custodians:
                custodian = directory.custodians_by_name.get(name)
                if custodian is not None:
                    found.setdefault(custodian.id, custodian)
        for rule in matching:
            for recipient_id in rule.recipients:
                recipient = directory.by_id.get(recipient_id)
                if recipient is not None and recipient.audience is audience:
                    found.setdefault(recipient.id, recipient)
    return list(found.values())


def unmapped_custodians(site: Site, directory: Directory) -> tuple[str, ...]:
    """Custodian names of `site` that no recipient carries (they would get nothing)."""
    return tuple(name for name in site.custodians if name not in directory.custodians_by_name)

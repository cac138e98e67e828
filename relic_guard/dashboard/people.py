"""Who did something, in words for the pages: 系统 for the daemon's own work, the name the routing
directory (a recipient who tapped an ack link) or the user account (a dashboard login) gives a
person, and the bare id where neither is known. One function, so every page says it alike."""

from __future__ import annotations

from collections.abc import Mapping

from relic_guard.alerting.records import SYSTEM_ACTOR
from relic_guard.dashboard import i18n
from relic_guard.routing_load import RoutingConfig

i18n.register({"alert.actor.system": ("系统", "System")})


def actor_text(actor: str | None, lang: str, *, routing: RoutingConfig | None = None,
               names: Mapping[str, str] | None = None) -> str:
    """`user:zhang.wei` → 张伟 (with `names`: login → display name), `recipient:wjg` → the
    directory's name, the daemon → 系统; "" for nobody."""
    if not actor:
        return ""
    if actor == SYSTEM_ACTOR:
        return i18n.t("alert.actor.system", lang)
    kind, _, ident = actor.partition(":")
    if not ident or kind not in ("user", "recipient"):
        return actor
    if kind == "recipient" and routing is not None:
        recipient = routing.directory.by_id.get(ident)
        if recipient is not None:
            return recipient.name
    if kind == "user" and names is not None:
        return names.get(ident) or ident
    return ident

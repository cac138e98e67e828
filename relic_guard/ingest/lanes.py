"""Which topics ride which lane.

Alarms get a lane of their own (their own MQTT connection, subscription and
queue) so that a flood of telemetry never stands in front of a fire alarm.
The telemetry lane subscribes to everything (so that malformed topics still
reach quarantine) and passes over what the alarm lane owns.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from relic_guard.config import MqttConfig


@dataclass(frozen=True, slots=True)
class LaneTopics:
    prefix: str

    @property
    def alarm_filters(self) -> tuple[str, ...]:
        p = self.prefix
        return (
            f"{p}/+/fire/+/event",
            f"{p}/+/security/+/event",
            f"{p}/+/+/+/status",
            "sys/product/+/status",
            "frigate/available",
        )

    def is_alarm(self, topic: str) -> bool:
        """Exactly the topics the alarm filters match; a pure split, no regex (hot path)."""
        levels = topic.split("/")
        if len(levels) == 5 and levels[0] == self.prefix:
            channel = levels[4]
            if channel == "status":
                return all(levels[1:4])
            if channel == "event" and levels[2] in ("fire", "security"):
                return bool(levels[1]) and bool(levels[3])
            return False
        if len(levels) == 4 and levels[0] == "sys" and levels[1] == "product" and levels[3] == "status":
            return bool(levels[2])
        return topic == "frigate/available"


def telemetry_filters(cfg: MqttConfig) -> tuple[str, ...]:
    """The telemetry lane's subscriptions, shared between the workers when a group is set."""
    filters = [f"{cfg.topic_prefix}/#"]
    if cfg.dji_enabled:
        filters += ["thing/product/+/osd", "thing/product/+/events"]
    if cfg.frigate_enabled:
        filters.append("frigate/events")
    if cfg.shared_subscription and cfg.shared_group:
        return tuple(f"$share/{cfg.shared_group}/{f}" for f in filters)
    return tuple(filters)


def alarm_filters(cfg: MqttConfig) -> tuple[str, ...]:
    filters = LaneTopics(cfg.topic_prefix).alarm_filters
    return tuple(
        f
        for f in filters
        if (cfg.dji_enabled or not f.startswith("sys/")) and (cfg.frigate_enabled or not f.startswith("frigate/"))
    )


@lru_cache(maxsize=65536)
def source_label(topic: str, prefix: str) -> str:
    """The `source` label of the message metric: the contract source, or the foreign format."""
    levels = topic.split("/", 3)
    if levels[0] == prefix and len(levels) > 2:
        return levels[2] if levels[2] in ("fire", "video", "drone", "patrol", "security", "env") else "unknown"
    if levels[0] in ("thing", "sys"):
        return "dji"
    if levels[0] == "frigate":
        return "frigate"
    return "unknown"

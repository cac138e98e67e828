"""Native topics as validated value objects, and MQTT topic-filter matching.

`relic/{site}/{source}/{device}/{channel}` (CONTRACT §1; the prefix is configurable
and may itself span several levels, e.g. `acme/relic`). Parsing is pure and cached:
a site has a fixed set of devices publishing on a fixed set of topics, so the cache
hit rate is near 100 % and the hot path pays one dict look-up instead of a split
and four checks. Topics longer than any valid topic are refused before the cache,
so hostile input cannot fill it with long strings.

`matches(filter, topic)` implements MQTT 3.1.1/5 §4.7 semantics: `+` is exactly one
level (possibly empty), `#` is the parent level and everything below it and must
come last, `$share/{group}/` is stripped, and a wildcard at the first level never
matches a topic starting with `$` (broker-internal topics such as `$SYS/…`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from sensors.errors import SensorsError
from sensors.model import Channel, Rejection, RejectReason, Source

NAME: Final = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_SOURCES: Final = {s.value: s for s in Source}
_CHANNELS: Final = {c.value: c for c in Channel}
# The longest valid topic after the prefix: two names, the longest source and channel, four '/'.
_MAX_TAIL: Final = 64 + 64 + max(map(len, _SOURCES)) + max(map(len, _CHANNELS)) + 4


class TopicFilterError(SensorsError, ValueError):
    """A topic filter that MQTT would refuse (our configuration's fault, not a device's)."""


@dataclass(frozen=True, slots=True)
class NativeTopic:
    site: str
    source: Source
    device: str
    channel: Channel

    def topic(self, prefix: str = "relic") -> str:
        """The topic string this value was parsed from (with the given prefix)."""
        return f"{prefix}/{self.site}/{self.source.value}/{self.device}/{self.channel.value}"


def parse_native_topic(topic: str, prefix: str = "relic") -> NativeTopic | Rejection:
    """Validate a native topic; `Rejection(BAD_TOPIC)` says which level is wrong."""
    if len(topic) > len(prefix) + 1 + _MAX_TAIL:
        return Rejection(
            RejectReason.BAD_TOPIC, f"topic is {len(topic)} characters, longer than any valid topic"
        )
    return _parse_cached(topic, prefix)


@lru_cache(maxsize=65536)
def _parse_cached(topic: str, prefix: str) -> NativeTopic | Rejection:
    head = prefix + "/"
    if not topic.startswith(head):
        return _bad(f"topic does not start with the prefix {head!r}")
    levels = topic[len(head) :].split("/")
    if len(levels) != 4:
        return _bad(
            f"expected {prefix}/{{site}}/{{source}}/{{device}}/{{channel}}, "
            f"got {len(levels)} levels after the prefix"
        )
    site, source_name, device, channel_name = levels
    if NAME.fullmatch(site) is None:
        return _bad(f"site {_quote(site)}: expected 1–64 of A-Z a-z 0-9 _ . -")
    source = _SOURCES.get(source_name)
    if source is None:
        return _bad(f"source {_quote(source_name)}: expected one of {', '.join(_SOURCES)}")
    if NAME.fullmatch(device) is None:
        return _bad(f"device {_quote(device)}: expected 1–64 of A-Z a-z 0-9 _ . -")
    channel = _CHANNELS.get(channel_name)
    if channel is None:
        return _bad(f"channel {_quote(channel_name)}: expected one of {', '.join(_CHANNELS)}")
    if channel is Channel.FRAME and source is not Source.VIDEO:
        return _bad(f"channel 'frame' is for video devices only, not {source.value}")
    return NativeTopic(site, source, device, channel)


def _bad(detail: str) -> Rejection:
    return Rejection(RejectReason.BAD_TOPIC, detail)


def _quote(text: str) -> str:
    return repr(text) if len(text) <= 70 else repr(text[:67]) + "…"


# Topic filters ----------------------------------------------------------------


def strip_share(topic_filter: str) -> str:
    """`$share/{group}/{filter}` → `{filter}`; other filters unchanged."""
    if not topic_filter.startswith("$share/"):
        return topic_filter
    parts = topic_filter.split("/", 2)
    if len(parts) < 3 or not parts[1] or any(c in parts[1] for c in "+#") or not parts[2]:
        raise TopicFilterError(f"shared subscription needs $share/{{group}}/{{filter}}: {topic_filter!r}")
    return parts[2]


@lru_cache(maxsize=1024)
def _filter_levels(topic_filter: str) -> tuple[str, ...]:
    inner = strip_share(topic_filter)
    if not inner:
        raise TopicFilterError("empty topic filter")
    if "\x00" in inner:
        raise TopicFilterError(f"topic filter contains NUL: {inner!r}")
    levels = tuple(inner.split("/"))
    for i, level in enumerate(levels):
        if "#" in level and (level != "#" or i != len(levels) - 1):
            raise TopicFilterError(f"'#' must be a whole level and the last one: {topic_filter!r}")
        if "+" in level and level != "+":
            raise TopicFilterError(f"'+' must be a whole level: {topic_filter!r}")
    return levels


def validate_filter(topic_filter: str) -> None:
    """Raise `TopicFilterError` unless MQTT would accept the filter."""
    _filter_levels(topic_filter)


def matches(topic_filter: str, topic: str) -> bool:
    """True when `topic` (a concrete topic name) is matched by `topic_filter`.

    Raises `TopicFilterError` for a malformed filter; a malformed topic name
    (empty, or holding a wildcard or NUL) simply matches nothing."""
    levels = _filter_levels(topic_filter)
    if not topic or "+" in topic or "#" in topic or "\x00" in topic:
        return False
    names = topic.split("/")
    if topic.startswith("$") and levels[0] in ("+", "#"):
        return False
    for i, level in enumerate(levels):
        if level == "#":
            return True  # the parent level itself (i == len(names)) or anything below it
        if i >= len(names):
            return False
        if level != "+" and level != names[i]:
            return False
    return len(names) == len(levels)

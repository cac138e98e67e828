"""One entry point for every MQTT message: pick the adapter by topic, never raise.

`ctx.topic_prefix/…` → the native contract (checked first, so a prefix that
happens to be `thing` still wins), `thing/…` and `sys/…` → DJI Cloud API,
`frigate/…` → Frigate, anything else → `BAD_TOPIC`.

Ingestion must not stop on any input (CONTRACT §4), so an exception escaping an
adapter (an adapter bug: they return `Rejection`s for device faults) is turned
into `Rejection(BAD_PAYLOAD, "adapter error: …")` and the message is quarantined
with its raw bytes like any other. The property tests assert that no input
reaches that branch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from sensors import dji, frigate, native
from sensors.context import ParseContext
from sensors.model import Message, Record, Rejection, RejectReason
from sensors.payload import shorten

Adapter = Callable[[Message, ParseContext], list[Record] | Rejection]

_BY_FIRST_LEVEL: Final[dict[str, Adapter]] = {
    "thing": dji.parse,
    "sys": dji.parse,
    "frigate": frigate.parse,
}


def adapter_for(topic: str, ctx: ParseContext) -> Adapter | None:
    """The adapter that reads messages on `topic`, or None."""
    prefix = ctx.topic_prefix
    if topic.startswith(prefix) and topic[len(prefix) : len(prefix) + 1] == "/":
        return native.parse
    return _BY_FIRST_LEVEL.get(topic.partition("/")[0])


def parse_message(msg: Message, ctx: ParseContext) -> list[Record] | Rejection:
    """Records for any message the daemon receives, or the reason to quarantine it."""
    try:
        adapter = adapter_for(msg.topic, ctx)
        if adapter is None:
            return Rejection(
                RejectReason.BAD_TOPIC,
                f"no adapter for topic {shorten(msg.topic, 80)}; expected {ctx.topic_prefix}/…, "
                "thing/product/…, sys/product/… or frigate/…",
            )
        return adapter(msg, ctx)
    except Exception as exc:  # an adapter bug must not stop ingestion (CONTRACT §4)
        text = str(exc)
        text = text if len(text) <= 200 else text[:199] + "…"
        return Rejection(RejectReason.BAD_PAYLOAD, f"adapter error: {type(exc).__name__}: {text}")

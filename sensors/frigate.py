"""Frigate NVR (`frigate/events`, `frigate/available`) → video records.

`frigate/events` carries `{"type": "new"|"update"|"end", "before": {…}, "after": {…}}`;
the `after` object is the tracked object's current state and is the one read.

- `false_positive: true` → no records (Frigate itself discards the object).
- The camera (`after.camera`) is the device: `ctx.directory.resolve_external("frigate", camera)`.
- Type: label `person` → `intrusion`; `smoke` → `smoke`; `fire`/`flame` → `flame`
  (labels some Frigate+ models emit); every other label (car, dog, bicycle, …) →
  `motion`. The label is always in attrs, so rules can be stricter per site (a
  vehicle at night on a tomb site) without a new event type.
- `end` → `clear=True`.
- Zone: the first of `current_zones`, else the last of `entered_zones` (an `end`
  message usually has no current zone), else none.
- Time: `end` → `end_time`, `update` → `frame_time`, `new` → `start_time` (each falling
  back to the others; all epoch seconds), else the receive time.
- attrs: `label`, `sub_label`, `score` (the best score seen, `top_score`, else
  `score`), `frigate_id`, `frigate_type`, `camera`, `current_zones`, `entered_zones`,
  `has_snapshot`, `has_clip`, `stationary`. No snapshot URL: Frigate's address is not
  in the message; `frigate_id` lets the web layer build `/api/events/{id}/snapshot.jpg`.
- event_key: `frigate:{id}:new` / `frigate:{id}:end`; an update is keyed by
  `frigate:{id}:update:{label}:{entered zones}`, so the repeated updates of one
  object (better snapshot, new score) collapse under de-duplication while an
  object entering a new zone, the moment that matters on a protected site, is a
  new event.

`frigate/available` (`online`/`offline`, Frigate's availability topic) describes the
Frigate process, not a camera, and the registry lists no cameras per Frigate
instance, so it is not fanned out to cameras: it becomes one StatusChange for the
device registered with external id `frigate` (e.g. a video device of kind `nvr`),
and no records when there is none (camera outages still show as heartbeat gaps).

Only the default topic prefix `frigate` is routed here; other Frigate topics
(`frigate/stats`, `frigate/{camera}/…`) are `BAD_TOPIC`: subscribe to the two above.
"""

from __future__ import annotations

from typing import Final

from sensors.context import ParseContext
from sensors.model import (
    MAX_JSON_BYTES,
    Event,
    Message,
    Record,
    Rejection,
    RejectReason,
    Source,
    StatusChange,
)
from sensors.native import MAX_ID_CHARS, MAX_NAME_CHARS, status_word
from sensors.payload import (
    JSONObject,
    clean_text,
    decode_object,
    is_number,
    json_type,
    number,
    oversized,
    shorten,
)
from sensors.timestamps import Stamp, accept, as_utc, from_epoch_seconds

NAMESPACE: Final = "frigate"
INSTANCE_EXTERNAL_ID: Final = "frigate"
EVENTS_TOPIC: Final = "frigate/events"
AVAILABLE_TOPIC: Final = "frigate/available"

LABEL_TYPES: Final = {"person": "intrusion", "smoke": "smoke", "fire": "flame", "flame": "flame"}
DEFAULT_TYPE: Final = "motion"
_KINDS: Final = frozenset({"new", "update", "end"})
_TIME_FIELDS: Final = {
    "new": ("start_time", "frame_time"),
    "update": ("frame_time", "start_time"),
    "end": ("end_time", "frame_time", "start_time"),
}


def parse(msg: Message, ctx: ParseContext) -> list[Record] | Rejection:
    """Records for one Frigate message, or why it goes to quarantine."""
    if msg.topic == EVENTS_TOPIC:
        return _events(msg, ctx)
    if msg.topic == AVAILABLE_TOPIC:
        return _available(msg, ctx)
    return Rejection(
        RejectReason.BAD_TOPIC,
        f"unsupported Frigate topic {shorten(msg.topic, 80)}; "
        f"relic-guard reads {EVENTS_TOPIC} and {AVAILABLE_TOPIC}",
    )


def _events(msg: Message, ctx: ParseContext) -> list[Record] | Rejection:
    obj = decode_object(msg.payload)
    if isinstance(obj, Rejection):
        return obj
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in _KINDS:
        what = shorten(kind) if isinstance(kind, str) else json_type(kind)
        return _bad(f"field `type`: expected new, update or end, got {what}")
    after = obj.get("after")
    if type(after) is not dict:
        return _bad(f"field `after`: expected an object, got {json_type(after)}")
    fields: dict[str, str] = {}
    for key in ("id", "camera", "label"):
        value = after.get(key)
        if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
            what = f"{len(value)} characters" if isinstance(value, str) else json_type(value)
            return _bad(f"field `after.{key}`: expected a string of 1–{MAX_ID_CHARS} characters, got {what}")
        fields[key] = value
    false_positive = after.get("false_positive")
    if false_positive is True:
        return []
    if false_positive is not None and not isinstance(false_positive, bool):
        return _bad(f"field `after.false_positive`: expected true or false, got {json_type(false_positive)}")
    device = ctx.directory.resolve_external(NAMESPACE, fields["camera"])
    if device is None:
        return Rejection(
            RejectReason.UNKNOWN_DEVICE,
            f"Frigate camera {fields['camera']!r} is not in the registry (devices.csv external_id)",
        )
    attrs: dict[str, object] = {
        "label": clean_text(fields["label"]),
        "frigate_id": clean_text(fields["id"]),
        "frigate_type": kind,
        "camera": clean_text(fields["camera"]),
    }
    scores: dict[str, float] = {}
    for key in ("top_score", "score"):
        raw = after.get(key)
        if raw is None:
            continue
        value = number(raw)
        if value is None:
            if is_number(raw):
                return Rejection(
                    RejectReason.NON_FINITE, f"field `after.{key}`: {shorten(raw)} is not a finite number"
                )
            return _bad(f"field `after.{key}`: expected a number from 0 to 1, got {json_type(raw)}")
        if not 0.0 <= value <= 1.0:
            return _bad(f"field `after.{key}`: {value} is out of range; expected a number from 0 to 1")
        scores[key] = value
    if scores:
        attrs["score"] = scores.get("top_score", scores.get("score"))
    if "top_score" in scores:
        attrs["top_score"] = scores["top_score"]
    zones: dict[str, list[str]] = {}
    for key in ("current_zones", "entered_zones"):
        raw = after.get(key)
        if raw is None:
            raw = []
        if type(raw) is not list or not all(isinstance(z, str) and 0 < len(z) <= MAX_NAME_CHARS for z in raw):
            return _bad(f"field `after.{key}`: expected an array of zone names")
        zones[key] = [clean_text(z) for z in raw]
        attrs[key] = zones[key]
    for key in ("has_snapshot", "has_clip", "stationary"):
        raw = after.get(key)
        if isinstance(raw, bool):
            attrs[key] = raw
    sub_label = _sub_label(after.get("sub_label"))
    if sub_label is not None:
        attrs["sub_label"] = sub_label
    stamp = _stamp(kind, after, msg, ctx)
    if isinstance(stamp, Rejection):
        return stamp
    label = fields["label"]
    current, entered = zones["current_zones"], zones["entered_zones"]
    zone = current[0] if current else (entered[-1] if entered else None)
    fid = clean_text(fields["id"])
    if kind == "update":
        event_key = f"frigate:{fid}:update:{clean_text(label)}:{'|'.join(sorted(entered))}"
    else:
        event_key = f"frigate:{fid}:{kind}"
    event_type = LABEL_TYPES.get(label, DEFAULT_TYPE)
    return [
        Event(
            device[0],
            device[1],
            Source.VIDEO,
            event_type,
            stamp[0],
            event_key,
            zone,
            kind == "end",
            attrs,
            stamp[1],
        )
    ]


def _sub_label(raw: object) -> str | None:
    # Frigate ≤ 0.12 sends a string; 0.13+ sends [name, score].
    if isinstance(raw, list) and raw:
        raw = raw[0]
    if isinstance(raw, str) and 0 < len(raw) <= MAX_NAME_CHARS:
        return clean_text(raw)
    return None


def _stamp(kind: str, after: JSONObject, msg: Message, ctx: ParseContext) -> Stamp | Rejection:
    received = as_utc(msg.received_at)
    for key in _TIME_FIELDS[kind]:
        raw = after.get(key)
        if raw is not None:
            field = f"after.{key}"
            return accept(from_epoch_seconds(raw, field=field), received, ctx, field=field)
    return (received, True)


def _available(msg: Message, ctx: ParseContext) -> list[Record] | Rejection:
    payload = msg.payload
    if len(payload) > MAX_JSON_BYTES:
        return oversized(len(payload), MAX_JSON_BYTES)
    online = status_word(payload)
    if online is None:
        return _bad(f"frigate/available: expected `online` or `offline`, got {shorten(payload)}")
    device = ctx.directory.resolve_external(NAMESPACE, INSTANCE_EXTERNAL_ID)
    if device is None:
        return []
    return [StatusChange(device[0], device[1], Source.VIDEO, online, as_utc(msg.received_at), True)]


def _bad(detail: str) -> Rejection:
    return Rejection(RejectReason.BAD_PAYLOAD, detail)

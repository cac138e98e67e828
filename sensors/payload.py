"""Payload steps shared by the JSON adapters: decode with a precise reason, check field types.

Decoding takes the fast road first (one module-level msgspec decoder). Only when
that fails are the bytes read again with the standard library, to name the fault
the way CONTRACT §4 counts it:

- bytes that are not UTF-8, or a string escaping an unpaired UTF-16 surrogate
  (PostgreSQL could not store it) → `BAD_ENCODING`;
- `NaN`, `Infinity`, `-Infinity` or a number beyond the float range such as
  `1e999` (msgspec refuses all of them; the standard library reads them as
  non-finite floats) → `NON_FINITE`;
- anything else that is not one JSON text → `BAD_JSON`.

A leading UTF-8 byte order mark is tolerated (RFC 8259 §8.1 lets parsers ignore it;
Windows-built gateways send one). Invariant of every value this module returns:
no string holds a lone surrogate, and every float is finite except, with
`lenient=True`, the infinities standing for numbers beyond the float range (the
caller rejects those where it reads them). NUL characters
(`\\u0000`) are valid JSON but PostgreSQL text and JSONB refuse them, so the
adapters pass strings that they keep through `clean_text` / `clean_json`,
which replace NUL with U+FFFD instead of losing the message.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import Any, Final

import msgspec

from sensors.model import MAX_JSON_BYTES, Rejection, RejectReason

JSONObject = dict[str, Any]

_DECODER: Final = msgspec.json.Decoder()
_BOM: Final = "\ufeff"
# Metric names (CONTRACT §1) and the other snake_case identifiers we accept.
METRIC_NAME: Final = re.compile(r"[a-z0-9_]{1,64}")
# Names already seen to be valid: telemetry repeats the same few names forever, so a
# set lookup replaces the regex on the hot path. Bounded so hostile input cannot grow it.
_KNOWN_METRICS: set[str] = set()
_KNOWN_METRICS_MAX: Final = 16384


def known_metrics_superset(names: Iterable[str]) -> bool:
    """True when every name is one already seen to be valid (one C call for a whole message)."""
    return _KNOWN_METRICS.issuperset(names)


def is_metric_name(name: str) -> bool:
    if name in _KNOWN_METRICS:
        return True
    if METRIC_NAME.fullmatch(name) is None:
        return False
    if len(_KNOWN_METRICS) < _KNOWN_METRICS_MAX:
        _KNOWN_METRICS.add(name)
    return True


def shorten(value: object, limit: int = 40) -> str:
    """A value quoted for a rejection detail, cut so details stay one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_type(value: object) -> str:
    """The JSON name of a decoded value's type, for "expected X, got Y" details."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def oversized(size: int, limit: int, what: str = "JSON message") -> Rejection:
    return Rejection(RejectReason.OVERSIZED, f"{what} is {size} bytes; the limit is {limit} bytes")


def decode_json(payload: bytes, *, limit: int = MAX_JSON_BYTES, lenient: bool = False) -> object | Rejection:
    """Any JSON value, or the reason the bytes are not one we accept.

    `lenient`: a number beyond the float range (`1e999`: valid JSON) does not reject
    the whole text; it comes back as an infinite float and the caller rejects it only
    if it reads it (telemetry ignores the fields it does not know). The literals
    NaN/Infinity are not JSON and reject the text wherever they stand."""
    if len(payload) > limit:
        return oversized(len(payload), limit)
    try:
        value: object = _DECODER.decode(payload)
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return _diagnose(payload, lenient=lenient)
    return value


def decode_object(
    payload: bytes, *, limit: int = MAX_JSON_BYTES, lenient: bool = False
) -> JSONObject | Rejection:
    """A JSON object (the contract's payloads all are), or why not."""
    value = decode_json(payload, limit=limit, lenient=lenient)
    if isinstance(value, Rejection):
        return value
    if type(value) is not dict:
        return Rejection(
            RejectReason.BAD_JSON, f"payload is a JSON {json_type(value)}; expected a JSON object"
        )
    return value


def _parse_int(digits: str) -> int | float:
    # Python refuses to convert integers of more than 4300 digits; they are far beyond
    # the float range anyway, so they read as infinity (and reject where they are read).
    if len(digits) > 4000:
        return -math.inf if digits.startswith("-") else math.inf
    return int(digits)


def _diagnose(payload: bytes, *, lenient: bool) -> object | Rejection:
    """The slow road, taken only for bytes msgspec refused: name the fault precisely."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(
            RejectReason.BAD_ENCODING,
            f"payload is not UTF-8: byte 0x{payload[exc.start]:02x} at offset {exc.start}",
        )
    if text.startswith(_BOM):
        text = text[1:]
    constants: list[str] = []

    def parse_constant(name: str) -> float:
        constants.append(name)
        return float(name)

    try:
        value: object = json.loads(text, parse_int=_parse_int, parse_constant=parse_constant)
    except json.JSONDecodeError as exc:
        return Rejection(
            RejectReason.BAD_JSON, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        )
    except RecursionError:
        return Rejection(RejectReason.BAD_JSON, "not JSON we accept: nested too deeply")
    if constants:
        # Not JSON at all, but what a C or JavaScript float formatter writes for a broken reading.
        return Rejection(
            RejectReason.NON_FINITE, f"payload holds {constants[0]}, which is not a finite number"
        )
    fault = _find_fault(value, lenient=lenient)
    return value if fault is None else fault


def _find_fault(value: object, *, lenient: bool = False) -> Rejection | None:
    """First non-finite float or unpaired surrogate in a decoded tree (iterative: trees may be deep)."""
    stack: list[tuple[str, object]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, float):
            if not lenient and not math.isfinite(item):
                where = f"field `{path}`" if path else "payload"
                return Rejection(RejectReason.NON_FINITE, f"{where}: {item!r} is not a finite number")
        elif isinstance(item, str):
            if _has_surrogate(item):
                where = f"field `{path}`" if path else "payload"
                return Rejection(
                    RejectReason.BAD_ENCODING, f"{where}: string escapes an unpaired UTF-16 surrogate"
                )
        elif isinstance(item, dict):
            for key, sub in item.items():
                sub_path = f"{path}.{key}" if path else str(key)
                if _has_surrogate(key):
                    return Rejection(
                        RejectReason.BAD_ENCODING,
                        f"object key in `{path or '$'}` escapes an unpaired surrogate",
                    )
                stack.append((sub_path, sub))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", sub) for i, sub in enumerate(item))
    return None


def _has_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def clean_text(text: str) -> str:
    """`text` with NUL replaced by U+FFFD (PostgreSQL text cannot hold NUL)."""
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def clean_json(value: object) -> object:
    """A copy of a decoded JSON tree with `clean_text` applied to every string and key.

    Iterative, because msgspec accepts nesting deeper than Python's recursion limit
    leaves room for here."""
    if isinstance(value, str):
        return clean_text(value)
    if not isinstance(value, dict | list):
        return value
    root: list[object] = [None]
    # (source container, destination container, destination key or index)
    stack: list[tuple[object, list[object] | dict[str, object], int | str]] = [(value, root, 0)]
    while stack:
        src, dest, slot = stack.pop()
        if isinstance(src, dict):
            new_dict: dict[str, object] = {}
            _put(dest, slot, new_dict)
            for key, sub in src.items():
                clean_key = clean_text(key)
                new_dict[clean_key] = None
                stack.append((sub, new_dict, clean_key))
        elif isinstance(src, list):
            new_list: list[object] = [None] * len(src)
            _put(dest, slot, new_list)
            stack.extend((sub, new_list, i) for i, sub in enumerate(src))
        elif isinstance(src, str):
            _put(dest, slot, clean_text(src))
        else:
            _put(dest, slot, src)
    return root[0]


def _put(dest: list[object] | dict[str, object], slot: int | str, value: object) -> None:
    if isinstance(dest, list):
        assert isinstance(slot, int)
        dest[slot] = value
    else:
        assert isinstance(slot, str)
        dest[slot] = value


def may_hold_nul(payload: bytes) -> bool:
    """False when no decoded string of `payload` can contain NUL.

    JSON forbids raw control characters inside strings, so a NUL can only come from
    the escape `\\u0000`; its absence lets the adapters skip `clean_json`."""
    return b"\\u0000" in payload


def number(value: object) -> float | None:
    """A JSON number (not a boolean) as a finite float, else None.

    Integers beyond the float range count as not finite: the caller tells a
    non-number from an overflow with `is_number`."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            return None
    return None


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)

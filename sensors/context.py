"""What an adapter may consult besides the message: the device registry and the limits.

Both are plain in-memory data, so adapters stay pure: no I/O, no clock (the
receive time comes in with the message and stands for "now").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class DeviceDirectory(Protocol):
    """The device registry as the adapters see it."""

    def knows(self, site: str, device: str) -> bool:
        """True when the device is registered (or its site accepts auto-registration)."""
        ...

    def resolve_external(self, namespace: str, external_id: str) -> tuple[str, str] | None:
        """Map a foreign id (namespace `dji`: a serial number; `frigate`: a camera name)
        to (site id, device id), or None when the registry has no such device."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ParseContext:
    directory: DeviceDirectory
    # Timestamps further ahead of the receive time than this are quarantined.
    max_future_skew_s: float = 300.0
    # Timestamps older than the retention window are quarantined (nothing would keep them).
    retention_s: float = 400 * 86400.0
    # The first topic level of the native contract (CONTRACT §1: configurable).
    topic_prefix: str = "relic"

"""Exception root of the drone analysis core (`relic_guard.drones`).

    RelicGuardError
     └── DroneError                 anything the drone core refuses
          ├── InvalidBoundary       a site boundary or no-fly zone is not a usable polygon (also a ValueError)
          └── InvalidDroneConfig    a drone setting out of its range (also a ValueError)

Device faults never raise here: an OSD sample without a position, out of order or with an
unknown mode_code is passed over or handled by the rules, because a drone in the air must not
be able to stop its own monitoring with one odd message.
"""

from __future__ import annotations

from relic_guard.errors import RelicGuardError


class DroneError(RelicGuardError):
    """Root of every exception raised by relic_guard.drones."""


class InvalidBoundary(DroneError, ValueError):  # noqa: N818 (reads as what the boundary is)
    """A boundary or zone WKT that is not a non-empty polygon of WGS-84 lon/lat pairs."""


class InvalidDroneConfig(DroneError, ValueError):  # noqa: N818
    """A drone configuration value outside its range; the message names the field."""

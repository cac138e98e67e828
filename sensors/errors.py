"""Exception root of the `sensors` package.

    SensorsError
     ├── AdapterError    an adapter broke its own contract (raised instead of rejecting)
     └── TopicFilterError   an MQTT topic filter is malformed (also a ValueError)

Device faults are not exceptions here: a bad message becomes a `Rejection`
value with a reason, and the edge quarantines it. Exceptions are for our bugs.
"""


class SensorsError(Exception):
    """Root of every exception raised by the sensors package."""


class AdapterError(SensorsError):
    """An adapter raised instead of returning records or a Rejection."""

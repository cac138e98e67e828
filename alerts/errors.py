"""Exception root of the `alerts` package.

    AlertsError
     └── AlarmSinkError   a consumer of the alarm lane failed
"""


class AlertsError(Exception):
    """Root of every exception raised by the alerts package."""


class AlarmSinkError(AlertsError):
    """A consumer of alarm-lane records failed; the record is still stored."""

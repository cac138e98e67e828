"""Exception root of the `alerts` package.

    AlertsError
     ├── AlarmSinkError           a consumer of the alarm lane failed
     ├── IllegalTransition        a lifecycle command not allowed from the alert's status
     ├── InvalidResolutionError   a close that cannot be recorded as asked (also a ValueError)
     └── UnknownAlertError        a command names an alert the engine does not hold open (also a KeyError)
"""

from __future__ import annotations


class AlertsError(Exception):
    """Root of every exception raised by the alerts package."""


class AlarmSinkError(AlertsError):
    """A consumer of alarm-lane records failed; the record is still stored."""


class IllegalTransition(AlertsError):  # noqa: N818 (the name the issue and callers use)
    """The lifecycle table has no move for (status, command), e.g. resolving a resolved alert."""

    def __init__(self, status: str, command: str) -> None:
        super().__init__(f"cannot {command} an alert that is {status}")
        self.status = status
        self.command = command


class InvalidResolutionError(AlertsError, ValueError):
    """A close that cannot be recorded as asked (e.g. `resolve` with classification false_alarm)."""


class UnknownAlertError(AlertsError, KeyError):
    """No open alert has this id (it was closed already, or never existed)."""

"""Exception root of the `relic_guard` package (everything with I/O and wiring).

    RelicGuardError
     ├── ConfigError        a configuration or registry file is wrong (file, line, column, what to do)
     ├── StoreError         the database refused or was unreachable
     │    └── MigrationError   a schema migration failed
     ├── SpoolError         the on-disk spool is unreadable or full
     └── EmbeddedServiceError   the demo could not start its private broker or database
"""

from __future__ import annotations


class RelicGuardError(Exception):
    """Root of every exception raised by relic_guard."""


class ConfigError(RelicGuardError):
    """A configuration problem. `problems` lists every finding, each already
    phrased as 'file:line: column: what is wrong; how to fix it'."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


class StoreError(RelicGuardError):
    """The database refused a statement or could not be reached."""


class MigrationError(StoreError):
    """A schema migration failed; the message names the migration file."""


class SpoolError(RelicGuardError):
    """The on-disk spool is corrupt or over its quota."""


class EmbeddedServiceError(RelicGuardError):
    """The demo's private broker or database did not start."""

"""Exception root of the annual report.

    ReportError            the report cannot be made; the message says why and what to do
     ├── FontMissing       the Chinese fonts (Debian's fonts-noto-cjk) are not installed
     └── UnknownDistrict   no registered site lies in the district asked for
"""

from __future__ import annotations

from relic_guard.errors import RelicGuardError


class ReportError(RelicGuardError):
    """Root of the report's refusals."""


class FontMissing(ReportError):  # noqa: N818 (reads as the situation)
    """No CJK font file where Debian's fonts-noto-cjk puts them."""


class UnknownDistrict(ReportError, KeyError):  # noqa: N818
    """No site of the registry is in this district."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""

"""The report as PDF: the HTML page printed by weasyprint (Pango lays out the Chinese text with
the Noto CJK fonts fontconfig finds; nothing is fetched from the network).

weasyprint is imported here, on first use, not with the package: it loads Pango through cffi,
which costs start-up time the CLI's other commands and the daemon's start should not pay.
"""

from __future__ import annotations

import logging
from typing import Any

from relic_guard.report.errors import ReportError


def render_pdf(html: str) -> bytes:
    """The PDF of a self-contained page (`html.render_html`): no external resources are loaded."""
    try:
        import weasyprint
    except OSError as exc:  # Pango's shared libraries are missing
        raise ReportError(f"weasyprint cannot load Pango ({exc}); install libpango-1.0-0 and libpangoft2-1.0-0 "
                          "(scripts/bootstrap.sh with the pdf feature)") from exc
    # weasyprint logs every CSS property it does not support at WARNING; the page uses none on
    # purpose, and a browser-only nicety must not fill the daemon's log at every report.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    from weasyprint.urls import URLFetcher

    # Only the page's own `data:` images are read; anything else would be the page reaching out,
    # which a report must never do: it stops the rendering instead of being skipped with a warning.
    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    document: Any = weasyprint.HTML(string=html, url_fetcher=fetcher)
    pdf = document.write_pdf()
    assert isinstance(pdf, bytes)
    return pdf

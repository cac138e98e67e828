"""The report's charts: a `document.Chart` drawn as a PNG with matplotlib, Chinese included.

matplotlib is used without pyplot (a `Figure` per chart, the Agg canvas): no global figure
state, so reports can be drawn in a worker thread of the daemon; the style settings are global
to matplotlib, so charts are drawn one at a time (a lock). Its default fonts have no
Chinese glyphs, so the CJK font is named explicitly, from the files Debian's `fonts-noto-cjk`
installs (nothing is downloaded); without them `FontMissing` says what to install, rather than
charts full of empty boxes. PNGs carry no timestamp, so the same figures draw the same bytes.
"""

from __future__ import annotations

import functools
import io
import math
import threading
from pathlib import Path
from typing import Final

import matplotlib

matplotlib.use("Agg")  # before anything else of matplotlib is imported: no display on a server

from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from relic_guard.report.document import Chart
from relic_guard.report.errors import FontMissing

# Where Debian's fonts-noto-cjk puts the Sans collection (the face "Noto Sans CJK SC" is in it).
CJK_FONT_FILES: Final = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"),
)
CJK_FAMILY: Final = "Noto Sans CJK SC"
DPI: Final = 150
WIDTH_IN: Final = 6.8
PALETTE: Final = ("#2f5d8a", "#c8553d", "#e0a458", "#588157", "#8e6c8a", "#4d908e", "#9c9c9c", "#b5838d",
                  "#6d597a")

_lock = threading.Lock()


@functools.cache
def _registered_fonts() -> tuple[Path, ...]:
    # functools.cache keeps no result of a call that raised: a font installed later is found.
    present = tuple(path for path in CJK_FONT_FILES if path.is_file())
    if not present:
        raise FontMissing(
            f"the Chinese font files are missing ({CJK_FONT_FILES[0]}); install Debian's fonts-noto-cjk "
            "(apt-get install fonts-noto-cjk, or scripts/bootstrap.sh with the pdf feature)")
    for path in present:
        font_manager.fontManager.addfont(str(path))
    return present


def use_cjk_font() -> None:
    """Register the CJK font files with matplotlib (once); FontMissing when none is installed."""
    with _lock:
        _registered_fonts()


def render_png(chart: Chart) -> bytes:
    """The chart as PNG bytes."""
    use_cjk_font()
    with _lock, matplotlib.rc_context({
        "font.family": "sans-serif",
        "font.sans-serif": [CJK_FAMILY],
        "font.size": 9,
        "axes.unicode_minus": False,  # a plain "-" on negative ticks: a glyph every font has
        "axes.spines.top": False,
        "axes.spines.right": False,
    }):
        figure = _draw(chart)
        out = io.BytesIO()
        figure.savefig(out, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    return out.getvalue()


def _draw(chart: Chart) -> Figure:
    count = len(chart.labels)
    # Horizontal bars grow with their labels (one line per site); the others keep one height.
    height = min(9.0, 1.0 + 0.32 * max(count, 1) * max(1, len(chart.series)) ** 0.5) if chart.kind == "barh" else 3.0
    figure = Figure(figsize=(WIDTH_IN, height))
    ax = figure.add_subplot()
    ax.set_title(chart.title, fontsize=11)
    positions = list(range(count))
    if chart.kind in ("bar", "barh"):
        groups = max(1, len(chart.series))
        width = 0.8 / groups
        for index, (name, values) in enumerate(chart.series):
            offsets = [p - 0.4 + width * (index + 0.5) for p in positions]
            color = PALETTE[index % len(PALETTE)]
            if chart.kind == "bar":
                ax.bar(offsets, values, width=width, label=name, color=color)
            else:
                ax.barh(offsets, values, height=width, label=name, color=color)
    elif chart.kind == "stacked":
        base = [0.0] * count
        for index, (name, values) in enumerate(chart.series):
            ax.bar(positions, values, width=0.7, bottom=base, label=name, color=PALETTE[index % len(PALETTE)])
            base = [b + v for b, v in zip(base, values, strict=True)]
    else:
        for index, (name, values) in enumerate(chart.series):
            ax.plot(positions, values, marker="o", label=name, color=PALETTE[index % len(PALETTE)])
    value_axis = ax.xaxis if chart.kind == "barh" else ax.yaxis
    label_axis = ax.yaxis if chart.kind == "barh" else ax.xaxis
    label_axis.set_ticks(positions, labels=list(chart.labels))
    if chart.kind == "barh":
        ax.invert_yaxis()  # the first label on top, as the table reads
    elif count > 8 or max((len(label) for label in chart.labels), default=0) > 4:
        for tick in ax.get_xticklabels():
            tick.set_rotation(30)
            tick.set_horizontalalignment("right")
    if chart.percent:
        value_axis.set_major_formatter(PercentFormatter(1.0, decimals=0 if chart.kind != "line" else 1))
        finite = [v for _, values in chart.series for v in values if not math.isnan(v)]
        low = 0.0 if chart.kind != "line" or not finite else max(0.0, min(finite) - 0.05)
        (ax.set_xlim if chart.kind == "barh" else ax.set_ylim)(low, 1.0 if chart.kind != "line" else 1.005)
    else:
        value_axis.set_major_locator(MaxNLocator(integer=True))
        if chart.unit:
            (ax.set_xlabel if chart.kind == "barh" else ax.set_ylabel)(chart.unit)
    if len(chart.series) > 1:
        ax.legend(fontsize=8, frameon=False, ncols=min(len(chart.series), 5), loc="upper center",
                  bbox_to_anchor=(0.5, -0.18 if chart.kind != "barh" else -0.06))
    ax.grid(axis="x" if chart.kind == "barh" else "y", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    return figure

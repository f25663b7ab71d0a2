"""Charts drawn on the server: the geometry of small SVG bar charts, which the templates'
`charts.html` macros turn into markup.

Server-rendered because the pages are read without JavaScript and the Content-Security-
Policy allows no inline style: every size here becomes an SVG attribute (x, y, width,
height), never a `style`. Each chart also carries its figures as text (a <title> per bar,
and a table beside it in the page) for screen readers and for copying.
"""

import math
from dataclasses import dataclass, field

WIDTH = 720
HEIGHT = 200
MARGIN_LEFT = 64  # room for the axis labels
MARGIN_BOTTOM = 24
GAP = 0.2  # of a slot, between bars


@dataclass
class Bar:
    x: float
    width: float
    segments: list[tuple[float, float, str]]  # (y, height, css class), bottom first
    label: str  # what the bar is (a day, a week)
    title: str  # its figures, as text
    tick: bool = False  # whether its label is printed under the axis


@dataclass
class BarChart:
    title: str
    bars: list[Bar] = field(default_factory=list)
    axis_max: float = 0.0
    axis_label: str = ""
    legend: list[tuple[str, str]] = field(default_factory=list)  # (css class, name)
    width: int = WIDTH
    height: int = HEIGHT
    left: int = MARGIN_LEFT
    bottom: int = MARGIN_BOTTOM

    @property
    def plot_height(self) -> int:
        return self.height - self.bottom - 8


def nice_ceiling(value):
    """An axis top: the value rounded up to 1, 2 or 5 times a power of ten (an int for
    an int of at least 1)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def stacked_bars(
    title: str,
    points: list[tuple[str, list[float]]],
    *,
    series: list[tuple[str, str]],
    describe,
    axis_format=lambda v: f"{v:g}",
    ticks_every: int = 1,
) -> BarChart:
    """A bar per point (label, one value per series), the series stacked bottom up.
    `series` names each one's (css class, legend name); `describe(label, values)` is a
    bar's text."""
    chart = BarChart(title=title, legend=series)
    top = nice_ceiling(max((sum(values) for _, values in points), default=0.0))
    chart.axis_max = top
    chart.axis_label = axis_format(top)
    if not points:
        return chart
    slot = (chart.width - chart.left) / len(points)
    scale = chart.plot_height / top
    base = chart.height - chart.bottom
    for i, (label, values) in enumerate(points):
        y = float(base)
        segments = []
        for value, (css, _) in zip(values, series, strict=True):
            h = max(0.0, value) * scale
            y -= h
            segments.append((round(y, 1), round(h, 1), css))
        chart.bars.append(
            Bar(
                x=round(chart.left + i * slot + slot * GAP / 2, 1),
                width=round(slot * (1 - GAP), 1),
                segments=segments,
                label=label,
                title=describe(label, values),
                tick=i % ticks_every == 0,
            )
        )
    return chart

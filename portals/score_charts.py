"""The developer portal's figures drawn on the server: the agentic-score ring and the
weekly sessions chart, as geometry the templates turn into SVG.

Server-rendered because the portal works without JavaScript, and the Content-Security-
Policy allows no inline style: every size and offset here ends up in an SVG attribute
(`stroke-dasharray`, `x`, `height`, …); the colours come from classes in portal.css. The
templates give each figure a <title> and repeat its numbers as text.
"""

import math
from dataclasses import dataclass
from datetime import date, timedelta

from portals.charts import nice_ceiling

RING_RADIUS = 52
RING_CENTRE = 60  # of a 120 × 120 viewBox

CHART_WIDTH = 720
CHART_HEIGHT = 220
CHART_LEFT = 40  # room for the axis labels
CHART_BOTTOM = 24  # room for the week labels
CHART_TOP = 8


@dataclass(frozen=True)
class Ring:
    score: int  # 0-100
    circumference: float

    @property
    def dash(self) -> str:
        """`stroke-dasharray` of the score's arc: drawn, then the rest of the circle."""
        drawn = self.circumference * self.score / 100
        return f"{drawn:.2f} {self.circumference:.2f}"


def ring(score: int | None) -> Ring:
    clamped = max(0, min(100, int(score or 0)))
    return Ring(clamped, 2 * math.pi * RING_RADIUS)


@dataclass(frozen=True)
class WeekBars:
    week_start: date
    agent_driven: int  # agentic + autonomous sessions
    interactive: int
    x: float  # left edge of the week's slot
    slot: float
    agent_height: float
    interactive_height: float

    @property
    def bar_width(self) -> float:
        return self.slot * 0.35

    @property
    def agent_x(self) -> float:
        return self.x + self.slot * 0.12

    @property
    def interactive_x(self) -> float:
        return self.agent_x + self.bar_width + self.slot * 0.06

    @property
    def label(self) -> str:
        return self.week_start.strftime("%m-%d")


@dataclass(frozen=True)
class WeeklyChart:
    weeks: list[WeekBars]
    axis_max: int
    width: int = CHART_WIDTH
    height: int = CHART_HEIGHT
    left: int = CHART_LEFT
    top: int = CHART_TOP

    @property
    def baseline(self) -> int:
        return self.height - CHART_BOTTOM

    def y(self, bar_height: float) -> float:
        return self.baseline - bar_height


def week_starts(today: date, weeks: int) -> list[date]:
    """The Mondays of the last `weeks` weeks, oldest first, this week's last (weeks start
    on Monday, as the marts' date_trunc('week') does)."""
    monday = today - timedelta(days=today.weekday())
    return [monday - timedelta(weeks=n) for n in range(weeks - 1, -1, -1)]


def weekly_chart(counts: dict[date, tuple[int, int]], today: date, weeks: int) -> WeeklyChart:
    """`counts`: week start -> (agent-driven, interactive) sessions; a week missing from
    it is drawn as zero, so the weeks are evenly spaced and none is silently skipped."""
    starts = week_starts(today, weeks)
    axis_max = nice_ceiling(max((max(counts.get(w, (0, 0))) for w in starts), default=0))
    plot = CHART_HEIGHT - CHART_BOTTOM - CHART_TOP
    slot = (CHART_WIDTH - CHART_LEFT) / len(starts)
    bars = []
    for n, start in enumerate(starts):
        agent, interactive = counts.get(start, (0, 0))
        bars.append(
            WeekBars(
                week_start=start,
                agent_driven=agent,
                interactive=interactive,
                x=CHART_LEFT + n * slot,
                slot=slot,
                agent_height=plot * agent / axis_max,
                interactive_height=plot * interactive / axis_max,
            )
        )
    return WeeklyChart(bars, axis_max)

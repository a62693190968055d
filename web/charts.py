"""Charts drawn on the server as inline SVG (no script, nothing to load): pure geometry."""

from dataclasses import dataclass
from datetime import datetime

WIDTH, HEIGHT = 640, 240
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 48, 16, 16, 32
Y_TICKS = 4


@dataclass(frozen=True)
class Line:
    """A horizontal mark across the chart (the tipping point, the cap)."""

    y: float
    value: int


@dataclass(frozen=True)
class StepChart:
    """A running total over time as a step line, in SVG user units (`WIDTH` x `HEIGHT`)."""

    points: str  # the polyline's points attribute
    y_ticks: list[tuple[float, int]]  # (y, value)
    x_ticks: list[tuple[float, datetime]]  # (x, moment): start and end
    marks: dict[str, Line]
    total: int
    width: int = WIDTH
    height: int = HEIGHT
    left: int = MARGIN_LEFT
    right: int = WIDTH - MARGIN_RIGHT
    top: int = MARGIN_TOP
    bottom: int = HEIGHT - MARGIN_BOTTOM


def step_chart(
    changes: list[tuple[datetime, int]],
    *,
    start: datetime,
    end: datetime,
    marks: dict[str, int | None],
) -> StepChart:
    """The running total of `changes` (moment, delta; oldest first) from `start` to `end`, with
    horizontal `marks` (name -> value; None leaves the mark out)."""
    span = max((end - start).total_seconds(), 1.0)
    totals, running = [], 0
    for moment, delta in changes:
        running += delta
        totals.append((min(max(moment, start), end), running))
    values = [value for value in marks.values() if value is not None]
    top_value = max([running, *values, *(total for _, total in totals), 1])

    def x(moment: datetime) -> float:
        share = (moment - start).total_seconds() / span
        return round(MARGIN_LEFT + share * (WIDTH - MARGIN_LEFT - MARGIN_RIGHT), 1)

    def y(value: float) -> float:
        plot = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
        return round(HEIGHT - MARGIN_BOTTOM - value / top_value * plot, 1)

    points, level = [(x(start), y(0))], 0
    for moment, total in totals:
        points += [(x(moment), y(level)), (x(moment), y(total))]
        level = total
    points.append((x(end), y(level)))
    ticks = sorted({round(top_value * step / Y_TICKS) for step in range(Y_TICKS + 1)})
    return StepChart(
        points=" ".join(f"{px},{py}" for px, py in points),
        y_ticks=[(y(value), value) for value in ticks],
        x_ticks=[(x(start), start), (x(end), end)],
        marks={name: Line(y(value), value) for name, value in marks.items() if value is not None},
        total=running,
    )

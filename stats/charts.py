"""Charts drawn as inline SVG on the server: no script, no other host.

Each chart is an ``<svg role="img">`` with a title and a description;
the page puts its data table right after it. Colours pass 4.5:1 against
white where they carry text or thin lines, and never carry meaning alone:
bars and lines differ in shape, the previous year is hatched, heat-map
cells print their count.
"""

from collections.abc import Sequence
from itertools import count

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

INK = "#1a1a1a"
GRID = "#c8cdd4"
BLUE = "#1d4e89"  # 8.6:1 on white
ORANGE = "#9a4a00"  # 6.3:1 on white
HEAT = ["#f4f7fb", "#d5e3f3", "#a9c6e6", "#6b9fd3", "#3a76b8", "#1d4e89", "#0c2d57"]
OUTCOME_COLOURS = ["#1d4e89", "#2f6b4f", "#9a4a00", "#5b4a8a", "#6b6f76", "#a11d2f"]
_ids = count(1)


def _svg(width: int, height: int, title: str, desc: str, body: str) -> SafeString:
    uid = f"chart{next(_ids)}"
    return mark_safe(  # noqa: S308 - every text part below goes through escape()
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{uid}-t {uid}-d" preserveAspectRatio="xMinYMin meet">'
        f'<title id="{uid}-t">{escape(title)}</title>'
        f'<desc id="{uid}-d">{escape(desc)}</desc>{body}</svg>'
    )


def _number(value: float) -> str:
    """An axis value with a thin space between thousands, as in French."""
    return f"{value:,.0f}".replace(",", "\u202f")


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    for step in (1, 2, 2.5, 5):
        magnitude = 10 ** len(str(int(value))) / 10
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


def _y_axis(top: float, x0: int, y0: int, width: int, height: int) -> str:
    parts = []
    for i in range(5):
        value = top * i / 4
        y = y0 - height * i / 4
        parts.append(
            f'<line x1="{x0}" x2="{x0 + width}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID}" stroke-width="1"/>'
            f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="{INK}">{_number(value)}</text>'
        )
    return "".join(parts)


def _x_labels(labels: Sequence[str], x0: int, step: float, y: int) -> str:
    every = max(1, round(len(labels) / 16))
    return "".join(
        f'<text x="{x0 + step * (i + 0.5):.1f}" y="{y}" text-anchor="middle" '
        f'font-size="11" fill="{INK}">{escape(label)}</text>'
        for i, label in enumerate(labels)
        if i % every == 0
    )


def _legend(items: Sequence[tuple[str, str]], x: int, y: int) -> str:
    parts = []
    for label, swatch in items:
        parts.append(
            f'<g transform="translate({x},{y})">{swatch}'
            f'<text x="22" y="11" font-size="12" fill="{INK}">'
            f"{escape(label)}</text></g>"
        )
        x += 44 + 8 * len(label)
    return "".join(parts)


def series_chart(
    labels: Sequence[str],
    bars: Sequence[int],
    line: Sequence[int],
    *,
    bar_label: str,
    line_label: str,
    title: str,
    desc: str,
) -> SafeString:
    """Bars (one series) with a line and round markers (the other)."""
    width, height, x0, y0 = 760, 280, 48, 230
    plot_w, plot_h = width - x0 - 10, 190
    top = _nice_max(max([*bars, *line, 4]))
    step = plot_w / max(1, len(labels))
    body = [_y_axis(top, x0, y0, plot_w, plot_h)]
    for i, value in enumerate(bars):
        h = plot_h * value / top
        body.append(
            f'<rect x="{x0 + step * i + step * 0.15:.1f}" y="{y0 - h:.1f}" '
            f'width="{step * 0.7:.1f}" height="{h:.1f}" fill="{BLUE}">'
            f"<title>{escape(labels[i])} : {value}</title></rect>"
        )
    points = [
        (x0 + step * (i + 0.5), y0 - plot_h * value / top)
        for i, value in enumerate(line)
    ]
    if points:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        body.append(
            f'<polyline points="{path}" fill="none" stroke="{ORANGE}" '
            f'stroke-width="2.5"/>'
        )
        radius = 3.5 if len(points) <= 40 else 2
        body.extend(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="#fff" '
            f'stroke="{ORANGE}" stroke-width="2"/>'
            for x, y in points
        )
    body.append(_x_labels(labels, x0, step, y0 + 16))
    body.append(
        _legend(
            [
                (bar_label, f'<rect width="16" height="12" fill="{BLUE}"/>'),
                (
                    line_label,
                    f'<line x1="0" x2="16" y1="6" y2="6" stroke="{ORANGE}" '
                    f'stroke-width="2.5"/><circle cx="8" cy="6" r="3.5" '
                    f'fill="#fff" stroke="{ORANGE}" stroke-width="2"/>',
                ),
            ],
            x0,
            height - 24,
        )
    )
    return _svg(width, height, title, desc, "".join(body))


def heat_map(
    rows: Sequence[str], values: Sequence[Sequence[int]], *, title: str, desc: str
) -> SafeString:
    """Weekday rows by 24 hour columns; every cell prints its count."""
    cell_w, cell_h, x0, y0 = 29, 26, 44, 20
    width, height = x0 + 24 * cell_w + 4, y0 + len(rows) * cell_h + 8
    top = max((v for row in values for v in row), default=0) or 1
    body = [
        f'<text x="{x0 + cell_w * (hour + 0.5):.1f}" y="14" text-anchor="middle" '
        f'font-size="11" fill="{INK}">{hour}</text>'
        for hour in range(24)
    ]
    for r, (label, row) in enumerate(zip(rows, values, strict=True)):
        y = y0 + r * cell_h
        body.append(
            f'<text x="{x0 - 6}" y="{y + 17}" text-anchor="end" font-size="12" '
            f'fill="{INK}">{escape(label)}</text>'
        )
        for hour, value in enumerate(row):
            level = 0 if value == 0 else 1 + round((len(HEAT) - 2) * value / top)
            fill = HEAT[level]
            text = "#fff" if level >= 4 else INK
            x = x0 + hour * cell_w
            body.append(
                f'<rect x="{x}" y="{y}" width="{cell_w - 1}" height="{cell_h - 1}" '
                f'fill="{fill}"><title>{escape(label)} {hour} h : {value}'
                "</title></rect>"
                f'<text x="{x + cell_w / 2 - 0.5:.1f}" y="{y + 17}" '
                f'text-anchor="middle" font-size="10" fill="{text}">{value}</text>'
            )
    return _svg(width, height, title, desc, "".join(body))


def bar_split(items: Sequence[tuple[str, int]], *, title: str, desc: str) -> SafeString:
    """Horizontal bars, each labelled with its name, count and share."""
    total = sum(value for _label, value in items) or 1
    top = max((value for _label, value in items), default=0) or 1
    width, bar_h, x0 = 760, 26, 250
    height = len(items) * (bar_h + 10) + 10
    body = []
    for i, (label, value) in enumerate(items):
        y = 8 + i * (bar_h + 10)
        w = (width - x0 - 120) * value / top
        colour = OUTCOME_COLOURS[i % len(OUTCOME_COLOURS)]
        body.append(
            f'<text x="{x0 - 8}" y="{y + 18}" text-anchor="end" font-size="13" '
            f'fill="{INK}">{escape(label)}</text>'
            f'<rect x="{x0}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>'
            f'<text x="{x0 + w + 6:.1f}" y="{y + 18}" font-size="13" '
            f'fill="{INK}">{value} ({100 * value / total:.0f} %)</text>'
        )
    return _svg(width, max(height, 40), title, desc, "".join(body))


def comparison_chart(
    labels: Sequence[str],
    current: Sequence[int],
    previous: Sequence[int],
    *,
    current_label: str,
    previous_label: str,
    title: str,
    desc: str,
) -> SafeString:
    """Paired bars: this period solid, the year before hatched."""
    width, height, x0, y0 = 760, 280, 48, 230
    plot_w, plot_h = width - x0 - 10, 190
    top = _nice_max(max([*current, *previous, 4]))
    step = plot_w / max(1, len(labels))
    uid = f"hatch{next(_ids)}"
    body = [
        f'<defs><pattern id="{uid}" width="6" height="6" '
        f'patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        f'<rect width="6" height="6" fill="#fff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{ORANGE}" stroke-width="3"/>'
        f"</pattern></defs>",
        _y_axis(top, x0, y0, plot_w, plot_h),
    ]
    bar_w = step * 0.38
    for i, label in enumerate(labels):
        for offset, value, fill, name in (
            (0.1, previous[i], f"url(#{uid})", previous_label),
            (0.1 + 0.4, current[i], BLUE, current_label),
        ):
            h = plot_h * value / top
            body.append(
                f'<rect x="{x0 + step * i + step * offset:.1f}" y="{y0 - h:.1f}" '
                f'width="{bar_w:.1f}" height="{h:.1f}" fill="{fill}" '
                f'stroke="{ORANGE if fill != BLUE else BLUE}" stroke-width="1">'
                f"<title>{escape(label)}, {escape(name)} : {value}</title></rect>"
            )
    body.append(_x_labels(labels, x0, step, y0 + 16))
    body.append(
        _legend(
            [
                (
                    previous_label,
                    f'<rect width="16" height="12" fill="url(#{uid})" '
                    f'stroke="{ORANGE}"/>',
                ),
                (current_label, f'<rect width="16" height="12" fill="{BLUE}"/>'),
            ],
            x0,
            height - 24,
        )
    )
    return _svg(width, height, title, desc, "".join(body))

"""Charts drawn on the server as inline SVG: no JavaScript, no outside host, readable in any browser.

Pure: plain numbers in, markup out (every label escaped). Each bar carries a `<title>` (the browser's tooltip) and the
chart a text summary, so the numbers are there for a screen reader and without styles too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

#: Colours of the execution statuses, as the admin's badges (static/admin-extra/admin.css).
STATUS_COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "cancelled": "#757575",
    "running": "#1565c0",
    "paused": "#6a1b9a",
    "pending": "#ef6c00",
}
BAR_COLOUR = "#1565c0"


@dataclass(frozen=True)
class Bucket:
    """One bar of a stacked chart: its label and a value per series."""

    label: str
    values: Mapping[str, float]


def stacked_bars(
    buckets: Sequence[Bucket],
    series: Sequence[str],
    *,
    title: str,
    width: int = 640,
    height: int = 160,
    colours: Mapping[str, str] = STATUS_COLOURS,
    label_every: int = 1,
) -> SafeString:
    """Vertical bars, one per bucket, stacked by series (bottom to top in `series` order)."""
    top = max((sum(bucket.values.get(name, 0) for name in series) for bucket in buckets), default=0)
    plot_h = height - 20
    step = width / max(len(buckets), 1)
    bar_w = max(step - 2, 1)
    parts = [_open(width, height, title), f'<text x="0" y="10" font-size="10" fill="#555">max {_num(top)}</text>']
    for index, bucket in enumerate(buckets):
        x = index * step + 1
        y = float(plot_h)
        for name in series:
            value = bucket.values.get(name, 0)
            if not value:
                continue
            h = plot_h * value / top if top else 0
            y -= h
            tip = f"{bucket.label}: {value:g} {name}"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{escape(colours.get(name, BAR_COLOUR))}"><title>{escape(tip)}</title></rect>'
            )
        if index % label_every == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 4}" font-size="9" fill="#555">{escape(bucket.label)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every value above is a number or escaped


def horizontal_bars(
    rows: Sequence[tuple[str, float]],
    *,
    title: str,
    maximum: float | None = None,
    unit: str = "",
    width: int = 640,
    row_height: int = 18,
    colour: str = BAR_COLOUR,
) -> SafeString:
    """One labelled bar per row, longest = `maximum` (the largest value when None), the value printed after it."""
    top = maximum if maximum is not None else max((value for _, value in rows), default=0)
    label_w = 200
    plot_w = width - label_w - 70
    height = max(len(rows), 1) * row_height
    parts = [_open(width, height, title)]
    for index, (label, value) in enumerate(rows):
        y = index * row_height
        w = plot_w * value / top if top else 0
        text = f"{_num(value)}{unit}"
        parts.append(
            f'<text x="0" y="{y + 13}" font-size="11" fill="#333">{escape(_clip(label))}</text>'
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row_height - 6}" fill="{escape(colour)}">'
            f"<title>{escape(label)}: {escape(text)}</title></rect>"
            f'<text x="{label_w + w + 4:.1f}" y="{y + 13}" font-size="11" fill="#333">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every value above is a number or escaped


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="cm-chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>'
    )


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:.1f}"


def _clip(label: str, length: int = 30) -> str:
    return label if len(label) <= length else f"{label[: length - 1]}…"

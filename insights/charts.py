"""Charts as inline SVG (no scripts, no external files, nothing a strict CSP refuses):
presentation attributes only, every label escaped."""
from __future__ import annotations

from markupsafe import Markup, escape

BAR = "#2f6db5"
BAR2 = "#9cc3e6"
ROW = 24
LABEL_W = 190


def hbar_chart(rows: list[tuple[str, float]], title: str, width: int = 560,
               percent: bool = False) -> Markup:
    """Horizontal bars, one a row, with the value at the end of each bar."""
    height = ROW * len(rows) + 30
    top = max([v for _, v in rows] + [1.0 if percent else 1])
    parts = [_open(width, height, title), _text(4, 16, title, weight="bold")]
    for i, (label, value) in enumerate(rows):
        y = 28 + i * ROW
        length = (width - LABEL_W - 60) * (value / top if top else 0)
        shown = f"{value:.0%}" if percent else f"{value:g}"
        parts += [_text(4, y + 14, _short(label, 14)),
                  f'<rect x="{LABEL_W}" y="{y + 3}" width="{length:.1f}" height="{ROW - 8}" fill="{BAR}"/>',
                  _text(LABEL_W + length + 4, y + 14, shown)]
    return Markup("".join(parts) + "</svg>")


def day_columns(days: list[tuple[str, int, int]], title: str, width: int = 560) -> Markup:
    """Columns a day: all questions (light) and answered ones (dark) side by side."""
    height, base = 190, 160
    top = max([total for _, total, _ in days] + [1])
    step = (width - 40) / max(len(days), 1)
    bar = max(min(step / 2 - 2, 18), 1)
    parts = [_open(width, height, title), _text(4, 16, title, weight="bold"),
             f'<line x1="30" y1="{base}" x2="{width}" y2="{base}" stroke="#888"/>']
    for i, (label, total, answered) in enumerate(days):
        x = 34 + i * step
        for offset, value, colour in ((0, total, BAR2), (bar, answered, BAR)):
            h = 120 * value / top
            parts.append(f'<rect x="{x + offset:.1f}" y="{base - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" fill="{colour}"><title>{escape(label)}: {value}</title></rect>')
        parts += [_text(x, base - 120 * total / top - 4, str(total), size=10),
                  _text(x, base + 14, label, size=10)] if len(days) <= 16 or i % 7 == 0 else []
    parts.append(_text(width - 200, height - 6, "浅色：提问  深色：已回答", size=11))
    return Markup("".join(parts) + "</svg>")


def _open(width: int, height: int, title: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">')


def _text(x: float, y: float, content: str, size: int = 12, weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" font-weight="{weight}" '
            f'fill="#222">{escape(content)}</text>')


def _short(label: str, n: int) -> str:
    return label if len(label) <= n else label[:n - 1] + "…"

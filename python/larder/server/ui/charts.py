"""Chart specifications: what the page's JavaScript hands to Chart.js (see ``static/app.js``).

A spec is plain JSON rendered into the ``data-spec`` attribute of a ``<canvas>`` (data, not code:
the Content-Security-Policy allows no inline script), next to a table holding the same numbers
for screen readers and for copying.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Chart:
    """One chart: ``id`` (unique in the page), ``title`` (also the canvas's accessible name),
    ``labels`` (x axis), ``datasets`` (``{"label", "data"}`` each), and Chart.js options we use:
    ``type`` (bar/line), ``stacked``, ``horizontal``, ``best`` (index of a point to mark)."""

    id: str
    title: str
    labels: list[Any]
    datasets: list[dict[str, Any]]
    type: str = "bar"
    stacked: bool = False
    horizontal: bool = False
    best: int | None = None
    x: str = ""
    y: str = ""
    wide: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "labels": self.labels,
            "datasets": self.datasets,
            "stacked": self.stacked,
            "horizontal": self.horizontal,
            "best": self.best,
            "x": self.x,
            "y": self.y,
            **self.extra,
        }


def _edge(v: float) -> str:
    return f"{v:.4g}"


def histogram(column: str, stats: dict[str, Any], index: int) -> Chart | None:
    """A column's histogram from a commit's statistics (None when it has none)."""
    h = stats.get("histogram")
    if not h or not h.get("counts"):
        return None
    edges, counts = h["edges"], h["counts"]
    labels = [f"{_edge(edges[i])} – {_edge(edges[i + 1])}" for i in range(len(counts))]
    title = f"{column}: histogram"
    if h.get("sample_rows"):
        title += f" (sample of {h['sample_rows']:,} rows)"
    return Chart(f"hist-{index}", title, labels, [{"label": "rows", "data": counts}], x=column, y="rows")


def nulls(columns: dict[str, Any]) -> Chart:
    """Null counts of every column of a commit, one bar each."""
    names = list(columns)
    return Chart(
        "nulls",
        "Null values per column",
        names,
        [{"label": "nulls", "data": [columns[n].get("nulls", 0) for n in names]}],
        horizontal=True,
        wide=True,
        x="null values",
    )

"""Shared figure plumbing: the Agg backend, one style, PNG bytes, segment colours."""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")  # headless: no display on servers or in CI

import numpy as np
from matplotlib.figure import Figure as MplFigure

DPI = 100
STYLE: dict[str, Any] = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "legend.fontsize": 9,
    "figure.titlesize": 13,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": False,
    "figure.facecolor": "white",
    "savefig.facecolor": "white",
}


@dataclass(frozen=True)
class Figure:
    """A rendered figure: file name (``figures/<file>``), title, caption, PNG bytes."""

    file: str
    title: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Note:
    """A panel that could not be drawn, and why."""

    title: str
    text: str


Item = Figure | Note
RGBA = tuple[float, float, float, float]


def new_figure(width: float, height: float, constrained: bool = True) -> MplFigure:
    """A figure in the report style, not registered with pyplot (nothing to close).

    Constrained layout keeps text from overlapping but costs a second draw; grids of
    many uniform panels use ``constrained=False`` with :func:`fixed_margins` instead.
    """
    matplotlib.rcParams.update(STYLE)  # type: ignore[arg-type]
    return MplFigure(figsize=(width, height), dpi=DPI, layout="constrained" if constrained else None)


def fixed_margins(
    fig: MplFigure, left: float, right: float, top: float, bottom: float, hgap: float, wgap: float
) -> None:
    """Subplot margins and gaps given in inches (a uniform grid's layout, computed once)."""
    width, height = fig.get_size_inches()
    spec = fig.axes[0].get_subplotspec()
    if spec is None:
        raise ValueError("fixed_margins needs a figure made with subplots()")
    rows, cols = spec.get_gridspec().get_geometry()
    cell_w = (width - left - right - wgap * (cols - 1)) / cols
    cell_h = (height - top - bottom - hgap * (rows - 1)) / rows
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        top=1 - top / height,
        bottom=bottom / height,
        wspace=wgap / cell_w,
        hspace=hgap / cell_h,
    )


def to_png(fig: MplFigure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def render(file: str, title: str, caption: str, fig: MplFigure) -> Figure:
    return Figure(file, title, caption, to_png(fig))


def segment_colors(k: int) -> list[RGBA]:
    """One distinct colour per segment, in label order."""
    cmap = matplotlib.colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(k)]


def segment_labels(names: list[str], ids: list[int], width: int = 26, lines: int = 2) -> list[str]:
    """``"<id> · <name>"`` per segment, wrapped to ``lines`` lines of ``width`` characters."""
    out = []
    for i, name in zip(ids, names, strict=True):
        wrapped = textwrap.wrap(f"{i} · {name}", width) or [str(i)]
        if len(wrapped) > lines:
            wrapped = wrapped[:lines]
            wrapped[-1] = wrapped[-1][: width - 1] + "…"
        out.append("\n".join(wrapped))
    return out


def colorbar(fig: MplFigure, image: Any, ax: Any, label: str, shrink: float = 0.9) -> None:
    """A colorbar whose label is wrapped to the bar's height (a long label is not cut off)."""
    height_pt = fig.get_size_inches()[1] * 72 * shrink * 0.8
    chars = max(12, int(height_pt / (0.6 * float(matplotlib.rcParams["axes.labelsize"]))))
    fig.colorbar(image, ax=ax, shrink=shrink, label="\n".join(textwrap.wrap(label, chars)))


def currency_label(meta: dict[str, Any]) -> str:
    """The training data's currency (``fit --currency``) or ``currency`` when it was not given."""
    code = (meta.get("parameters") or {}).get("currency")
    return str(code) if code else "currency"


def feature_unit(name: str, has_money: bool, currency: str = "currency") -> str:
    """Axis label with the unit of a feature in original units (money in ``currency``)."""
    units = {
        "recency_days": "days since last order",
        "frequency": "orders",
        "monetary": f"net spend ({currency})",
        "avg_order_value": f"spend per order ({currency})",
        "tenure_days": "days since first order",
    }
    if name in units:
        return units[name]
    if name.startswith("share_"):
        return "share of spend (0-1)" if has_money else "share of lines (0-1)"
    return name


def grid_shape(n: int, columns: int) -> tuple[int, int]:
    rows = int(np.ceil(n / columns))
    return rows, min(n, columns)

"""The model's segments against the named RFM grid: a heatmap and its table."""

from __future__ import annotations

import numpy as np

from shopper_segments.core import rfm
from shopper_segments.training.report.context import ReportContext
from shopper_segments.training.report.html import table_html
from shopper_segments.training.report.plotting import Item, Note, new_figure, render, segment_labels

TITLE = "Segments against the RFM grid"


def crosstab_counts(ctx: ReportContext) -> np.ndarray | None:
    """Customers per (segment, grid name): rows ``ctx.segments``, columns :data:`rfm.GRID_NAMES`.

    None when the model has no ``rfm`` section (no recency, frequency or monetary feature).
    """
    section = ctx.meta.get("rfm")
    if not isinstance(section, dict):
        return None
    names = list(ctx.X.columns)
    cells = rfm.grid_index(rfm.score_matrix(ctx.X.to_numpy(np.float64), names, section["edges"]))
    counts = np.zeros((ctx.k, len(rfm.GRID_NAMES)), dtype=np.int64)
    np.add.at(counts, (ctx.labels, cells), 1)
    return counts


def crosstab(ctx: ReportContext) -> Item:
    """Heatmap: rows the segments, columns the grid names; counts, coloured by the row's share."""
    counts = crosstab_counts(ctx)
    if counts is None:
        return Note(TITLE, "This model's features have no recency, frequency and monetary: no RFM scores.")
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    rows = segment_labels(ctx.names, ctx.ids, 24)
    fig = new_figure(max(8.0, 0.95 * len(rfm.GRID_NAMES) + 3.5), 0.62 * ctx.k + 2.6)
    ax = fig.add_subplot()
    image = ax.imshow(share * 100, cmap="Purples", vmin=0, vmax=100, aspect="auto")
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            ink = "white" if share[i, j] > 0.6 else "black"
            text = f"{counts[i, j]:,}\n{share[i, j]:.0%}" if counts[i, j] else "·"
            ax.text(j, i, text, ha="center", va="center", fontsize=7.5, color=ink)
    ax.set_xticks(range(len(rfm.GRID_NAMES)), rfm.GRID_NAMES, rotation=35, ha="right", fontsize=8)
    ax.set_yticks(range(ctx.k), rows, fontsize=8)
    ax.set_xlabel("RFM grid name (from the R, F and M quintile scores)")
    ax.set_ylabel("segment (id · name)")
    ax.spines[:].set_visible(False)
    fig.colorbar(image, ax=ax, shrink=0.9, label="% of the segment's customers")
    top = counts.sum(axis=0)
    biggest = rfm.GRID_NAMES[int(np.argmax(top))]
    caption = (
        f"The {int(counts.sum()):,} training customers by their segment (rows) and their RFM grid "
        f"name (columns): count and share of the row. R, F and M are quintile scores 1-5 fitted on "
        f"these customers; the grid is read on (R, F), Lost is R = F = M = 1. The largest grid "
        f"group is {biggest} ({int(top.max()):,} customers)."
    )
    return render("rfm_crosstab.png", TITLE, caption, fig)


def crosstab_table(ctx: ReportContext) -> str:
    """HTML: customers per segment (rows) and grid name (columns, the grid's cells in the header)."""
    counts = crosstab_counts(ctx)
    if counts is None:
        return ""
    used = [j for j in range(len(rfm.GRID_NAMES)) if counts[:, j].any()]
    header = ["id", "segment", *(rfm.GRID_NAMES[j] for j in used), "customers"]
    body = [
        [ctx.ids[i], ctx.names[i], *(f"{counts[i, j]:,}" for j in used), f"{counts[i].sum():,}"]
        for i in range(ctx.k)
    ]
    cells = "; ".join(rfm.describe(j) for j in used)
    return table_html(header, body, f"Customers per segment and RFM grid name ({cells})")

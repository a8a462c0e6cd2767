"""EDA figures: feature distributions, correlations, activity over time, cleaning."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from shopper_segments.training.report.context import ReportContext
from shopper_segments.training.report.plotting import (
    Item,
    Note,
    currency_label,
    feature_unit,
    fixed_margins,
    grid_shape,
    new_figure,
    render,
)

BINS = 40
#: Raw heavy-tailed features are drawn up to this quantile (the caption says so).
RAW_CLIP = 0.99
#: Standardized panels show this quantile range when a few outliers would squash the rest.
Z_CLIP = (0.01, 0.99)


def distributions(ctx: ReportContext) -> Item:
    """Per feature: original units, and (for transformed features) the model's input."""
    spec = ctx.model.spec
    # A standardized-only feature has the same histogram shape: one panel is enough.
    panels: list[tuple[int, bool]] = []
    for j, name in enumerate(spec.names):
        panels.append((j, False))
        if spec.transforms[name] != "none":
            panels.append((j, True))
    columns = 4 if len(panels) > 3 else len(panels)
    rows, _ = grid_shape(len(panels), columns)
    fig = new_figure(3.1 * columns, 2.25 * rows, constrained=False)
    axes = list(fig.subplots(rows, columns, squeeze=False).flat)
    for ax, (j, transformed) in zip(axes, panels, strict=False):
        name = spec.names[j]
        if transformed:
            z = ctx.Xs[:, j]
            lo, hi = (float(q) for q in np.quantile(z, Z_CLIP))
            clip = (z.min() < lo or z.max() > hi) and hi > lo
            outside = int(((z < lo) | (z > hi)).sum()) if clip else 0
            ax.hist(z, bins=BINS, range=(lo, hi) if clip else None, color="#dd8452", histtype="stepfilled")
            ax.set_title(f"{name}\n{spec.transforms[name]}, standardized", loc="left")
            ax.set_xlabel(f"z-score, p1-p99 shown ({outside:,} outside)" if clip else "z-score (model input)")
            continue
        values = ctx.X[name].to_numpy()
        hi = float(np.quantile(values, RAW_CLIP))
        lo = float(values.min())
        clipped = hi < values.max() and spec.transforms[name] != "none"
        top = hi if clipped else float(values.max())
        ax.hist(values, bins=BINS, range=(lo, max(top, lo + 1e-9)), color="#4c72b0", histtype="stepfilled")
        note = ", up to p99" if clipped else "" if spec.transforms[name] != "none" else " (only standardized)"
        ax.set_title(f"{name}\noriginal{note}", loc="left")
        ax.set_xlabel(feature_unit(name, spec.has_money, currency_label(ctx.meta)))
        ax.set_ylabel("customers")
    for ax in axes[len(panels) :]:
        ax.set_visible(False)
    fixed_margins(fig, left=0.75, right=0.2, top=0.5, bottom=0.55, hgap=1.05, wgap=0.75)
    caption = (
        "Blue: each feature in original units across training customers (heavy-tailed features "
        "drawn up to their 99th percentile). Orange: the same after the model's transform and "
        "standardization, as K-means sees it; where a few outliers would squash the rest, the axis "
        "shows the 1st to 99th percentile and its label counts the customers outside. Features that "
        "are only standardized (no transform) "
        "keep their shape and get a single panel."
    )
    return render("distributions.png", "Feature distributions before and after transformation", caption, fig)


def correlations(ctx: ReportContext) -> Item:
    """Pearson correlation of the transformed features."""
    names = ctx.model.spec.names
    if len(names) < 2:
        return Note("Feature correlations", "Only one feature: no correlations to show.")
    corr = np.corrcoef(ctx.Xt, rowvar=False)
    corr = np.nan_to_num(corr)
    size = max(4.5, 0.55 * len(names) + 2.5)
    fig = new_figure(size + 1.2, size)
    ax = fig.add_subplot()
    image = ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto")
    ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), names)
    if len(names) <= 16:
        for i in range(len(names)):
            for j in range(len(names)):
                color = "white" if abs(corr[i, j]) > 0.6 else "black"
                ax.text(j, i, f"{corr[i, j]:.2f}", ha="center", va="center", fontsize=8, color=color)
    fig.colorbar(image, ax=ax, shrink=0.8, label="Pearson correlation")
    ax.spines[:].set_visible(False)
    caption = "Correlation between features after their transforms (the space the model is fitted in)."
    return render("correlations.png", "Feature correlations", caption, fig)


def activity(ctx: ReportContext) -> Item:
    """Purchasing customers and revenue per month."""
    monthly = ctx.meta.get("data", {}).get("monthly")
    title = "Customers and revenue over time"
    if not monthly:
        reason = (
            "This model was trained on a customer table: there are no dated transactions."
            if ctx.meta.get("data", {}).get("kind") == "table"
            else "The metadata has no monthly counts (model trained before they were recorded)."
        )
        return Note(title, reason)
    frame = pd.DataFrame(monthly)
    has_money = "revenue" in frame
    fig = new_figure(10, 5.6 if has_money else 3.2)
    axes = fig.subplots(2 if has_money else 1, 1, sharex=True, squeeze=False)[:, 0]
    x = np.arange(len(frame))
    returning = frame["customers"] - frame["new_customers"]
    axes[0].bar(x, returning, color="#4c72b0", label="returning customers")
    axes[0].bar(x, frame["new_customers"], bottom=returning, color="#55a868", label="new customers")
    axes[0].set_ylabel("purchasing customers")
    # Above the axes: inside, it covered the first months' bars.
    axes[0].legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False)
    axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    if has_money:
        axes[1].bar(x, frame["revenue"], color="#c44e52")
        axes[1].set_ylabel(f"net revenue ({currency_label(ctx.meta)})")
        axes[1].yaxis.set_major_formatter(FuncFormatter(_compact))
    step = max(1, len(frame) // 14)
    axes[-1].set_xticks(x[::step], frame["month"].iloc[::step], rotation=45, ha="right")
    axes[-1].set_xlabel("month (UTC)")
    caption = (
        "Distinct purchasing customers per month (new: first purchase in the training data that month)"
        + (" and net revenue (returns subtracted)." if has_money else ".")
        + " A partial first or last month shows as a dip."
    )
    return render("activity.png", title, caption, fig)


def cleaning(ctx: ReportContext) -> Item:
    """Rows read, rows dropped per reason, rows used."""
    data = ctx.meta.get("data", {})
    dropped = {k: int(v) for k, v in data.get("rows_dropped", {}).items()}
    title = "What loading and cleaning dropped"
    if not data.get("rows_read"):
        return Note(title, "The metadata records no row counts.")
    used = int(data.get("rows_used", data["rows_read"] - sum(dropped.values())))
    labels = ["rows read", *[f"dropped: {k}" for k in dropped], "rows used"]
    values = [int(data["rows_read"]), *dropped.values(), used]
    colors = ["#4c72b0", *["#c44e52"] * len(dropped), "#55a868"]
    fig = new_figure(9, 0.45 * len(labels) + 1.2)
    ax = fig.add_subplot()
    y = np.arange(len(labels))[::-1]
    ax.barh(y, values, color=colors)
    ax.set_yticks(y, labels)
    ax.set_xlabel("rows")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    top = max(values) or 1
    for yi, value in zip(y, values, strict=True):
        share = f" ({value / values[0]:.1%})" if values[0] else ""
        ax.text(value + top * 0.01, yi, f"{value:,}{share}", va="center", fontsize=9)
    ax.set_xlim(0, top * 1.3)
    customers = data.get("customers_dropped", {})
    extra = "; ".join(f"{v:,} customers dropped: {k}" for k, v in customers.items() if v)
    caption = "Rows of the input file by what loading and cleaning did with them." + (
        f" Also {extra}." if extra else ""
    )
    return render("cleaning.png", title, caption, fig)


def _compact(value: float, _pos: object = None) -> str:
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.0f}"

"""Segment figures: PCA projection, profile heatmap, sizes and revenue shares."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from shopper_segments.training.report.context import ReportContext
from shopper_segments.training.report.plotting import (
    Item,
    Note,
    colorbar,
    new_figure,
    render,
    segment_colors,
    segment_labels,
)

#: Heatmap colours saturate at this many standard deviations.
Z_LIMIT = 2.0


def pca_projection(ctx: ReportContext) -> Item:
    """Customers on the first two principal components of the scaled features."""
    title = "Customers by segment (PCA projection)"
    if ctx.Xs.shape[1] < 2:
        return Note(title, "Only one feature: nothing to project.")
    pca = PCA(n_components=2, random_state=ctx.seed).fit(ctx.Xs)
    points = pca.transform(ctx.Xs[ctx.sample])
    centers = pca.transform(ctx.centroids)
    labels = ctx.labels[ctx.sample]
    colors = segment_colors(ctx.k)
    tags = segment_labels(ctx.names, ctx.ids)
    fig = new_figure(10, 6.4)
    ax = fig.add_subplot()
    alpha = 0.6 if len(points) <= 1000 else 0.35
    for i in range(ctx.k):
        mine = points[labels == i]
        ax.scatter(mine[:, 0], mine[:, 1], s=10, color=colors[i], alpha=alpha, linewidths=0, label=tags[i])
    ax.scatter(
        centers[:, 0], centers[:, 1], s=220, c=colors[: ctx.k], marker="X", edgecolors="black", linewidths=1.2
    )
    for i, ((x, y), offset) in enumerate(zip(centers, _label_offsets(centers, points), strict=True)):
        ax.annotate(
            str(ctx.ids[i]),
            (x, y),
            xytext=offset,
            textcoords="offset points",
            fontsize=10,
            fontweight="bold",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": colors[i], "alpha": 0.85},
        )
    ratio = pca.explained_variance_ratio_
    ax.set_xlabel(f"principal component 1 ({ratio[0]:.0%} of variance, z-score units)")
    ax.set_ylabel(f"principal component 2 ({ratio[1]:.0%} of variance, z-score units)")
    legend = ax.legend(
        loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, title="segment", markerscale=2
    )
    for handle in legend.legend_handles:
        if handle is not None:
            handle.set_alpha(1.0)
    shown = f"a seeded sample of {len(points):,} of {len(ctx.Xs):,}" if len(points) < len(ctx.Xs) else "all"
    caption = (
        f"The first two principal components of the scaled features ({ratio.sum():.0%} of the variance), "
        f"{shown} customers; crosses are the segment centroids, labelled with the segment id. "
        "Segments that overlap here may still separate on the other components."
    )
    return render("pca.png", title, caption, fig)


def _label_offsets(centers: np.ndarray, points: np.ndarray) -> list[tuple[int, int]]:
    """Per centroid, the label offset (points) farthest from the labels and centroids placed so far."""
    lo = np.minimum(points.min(axis=0), centers.min(axis=0))
    span = np.maximum(points.max(axis=0), centers.max(axis=0)) - lo
    # Roughly the axes size in points (figure 10 x 6.4 in, legend on the right).
    xy = (centers - lo) / np.where(span > 0, span, 1.0) * np.array([520.0, 400.0])
    candidates = [(7, 7), (7, -17), (-19, 7), (-19, -17)]
    taken: list[np.ndarray] = list(xy)
    out = []
    for i in range(len(xy)):
        others = [p for j, p in enumerate(taken) if j != i]

        def clearance(offset: tuple[int, int], i: int = i, others: list[np.ndarray] = others) -> float:
            spot = xy[i] + np.array(offset) + np.array([5.0, 5.0])
            return min((float(np.linalg.norm(spot - p)) for p in others), default=1e9)

        best = max(candidates, key=clearance)
        out.append(best)
        taken.append(xy[i] + np.array(best) + np.array([5.0, 5.0]))
    return out


def profile_heatmap(ctx: ReportContext) -> Item:
    """Each segment's centroid as z-scores against the training population."""
    names = ctx.model.spec.names
    # The scaler standardizes the transformed features over the training customers,
    # so scaled centroids are z-scores against the population.
    z = ctx.centroids
    tags = segment_labels(ctx.names, ctx.ids, width=32)
    fig = new_figure(max(6.0, 0.75 * len(names) + 3.5), 0.55 * ctx.k + 2.6)
    ax = fig.add_subplot()
    image = ax.imshow(z, cmap="RdBu_r", vmin=-Z_LIMIT, vmax=Z_LIMIT, aspect="auto")
    ax.set_xticks(range(len(names)), names, rotation=40, ha="right")
    ax.set_yticks(range(ctx.k), tags)
    for i in range(ctx.k):
        for j in range(len(names)):
            color = "white" if abs(z[i, j]) > 0.65 * Z_LIMIT else "black"
            ax.text(j, i, f"{z[i, j]:+.1f}", ha="center", va="center", fontsize=8, color=color)
    ax.spines[:].set_visible(False)
    colorbar(fig, image, ax, "z-score vs. all customers (std. deviations)")
    caption = (
        "Segment centroids in standard deviations from the population mean of each (transformed) "
        f"feature; red above, blue below average; colours saturate at ±{Z_LIMIT:g}."
    )
    return render("profile.png", "Segment profiles", caption, fig)


def sizes(ctx: ReportContext) -> Item:
    """Share of customers and, with money, share of revenue per segment."""
    segs = ctx.segments
    share = np.array([float(s.get("share", 0.0)) for s in segs])
    revenue = [s.get("revenue_share") for s in segs]
    has_revenue = all(isinstance(r, int | float) for r in revenue)
    tags = segment_labels(ctx.names, ctx.ids, width=32)
    fig = new_figure(9, 0.6 * ctx.k + 1.6)
    ax = fig.add_subplot()
    y = np.arange(ctx.k)
    height = 0.38 if has_revenue else 0.6
    bars = [("customers", share, "#4c72b0")]
    if has_revenue:
        bars.append(("revenue", np.array(revenue, dtype=np.float64), "#dd8452"))
    for b, (label, values, color) in enumerate(bars):
        offset = (b - (len(bars) - 1) / 2) * height
        ax.barh(y + offset, values * 100, height=height, color=color, label=f"share of {label}")
        for yi, v in zip(y + offset, values, strict=True):
            ax.text(v * 100 + 0.5, yi, f"{v:.1%}", va="center", fontsize=8)
    ax.set_yticks(y, tags)
    ax.invert_yaxis()
    top = max(float(np.max(b[1])) for b in bars) * 100
    ax.set_xlim(0, top * 1.18 + 1)
    ax.set_xlabel("share of all training customers" + (" / of net revenue" if has_revenue else "") + " (%)")
    ax.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncol=2, frameon=False)
    caption = "How many customers each segment holds" + (
        " and what share of the net revenue (purchases less returns, per customer clipped at 0) they bring."
        if has_revenue
        else "."
    )
    return render("sizes.png", "Segment sizes" + (" and revenue" if has_revenue else ""), caption, fig)

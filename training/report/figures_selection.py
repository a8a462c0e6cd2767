"""Selection figures: scores per k, silhouette per segment, stability, algorithm comparison."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import silhouette_samples

from shopper_segments.training.report.context import ReportContext
from shopper_segments.training.report.plotting import (
    Item,
    Note,
    new_figure,
    render,
    segment_colors,
    segment_labels,
)

#: (key, title, direction) of each score curve.
CURVES = [
    ("silhouette", "Silhouette", "higher is better"),
    ("calinski_harabasz", "Calinski-Harabasz", "higher is better"),
    ("davies_bouldin", "Davies-Bouldin", "lower is better"),
    ("inertia", "Inertia (within-segment sum of squares)", "lower is better; look for the elbow"),
]
COMPARED = ["silhouette", "calinski_harabasz", "davies_bouldin", "stability"]


def selection_info(ctx: ReportContext) -> dict[str, Any]:
    return dict(ctx.meta.get("selection", {}))


def elbow_k(selection: dict[str, Any]) -> int | None:
    """The elbow's k as recorded by selection (an int or a dict with ``k``), if any."""
    elbow = selection.get("elbow")
    if isinstance(elbow, dict):
        elbow = elbow.get("k")
    return int(elbow) if isinstance(elbow, int | float) and not isinstance(elbow, bool) else None


def score_curves(ctx: ReportContext) -> Item:
    sel = selection_info(ctx)
    scores = pd.DataFrame(sel.get("scores", []))
    title = "Scores per number of segments"
    if len(scores) < 2:
        return Note(title, f"k was given (k = {sel.get('chosen_k')}); no other k was scored.")
    chosen, elbow = sel.get("chosen_k"), elbow_k(sel)
    fig = new_figure(10, 6.4)
    axes = fig.subplots(2, 2, sharex=True).flat
    for ax, (key, name, direction) in zip(axes, CURVES, strict=True):
        if key not in scores:
            ax.set_visible(False)
            continue
        if "in_range" in scores and scores["in_range"].any():
            inside = scores.loc[scores["in_range"], "k"]
            ax.axvspan(inside.min() - 0.5, inside.max() + 0.5, color="#e8e8e8", zorder=0)
        ax.plot(scores["k"], scores[key], marker="o", color="#4c72b0")
        ax.set_title(f"{name}\n({direction})", loc="left")
        ax.set_ylabel(key.replace("_", "-"))
        if chosen in set(scores["k"]):
            ax.axvline(chosen, color="#c44e52", linestyle="--", linewidth=1.2, label=f"chosen k = {chosen}")
            ax.plot(chosen, scores.set_index("k").loc[chosen, key], "o", color="#c44e52", markersize=9)
        if key == "inertia" and elbow is not None and elbow in set(scores["k"]):
            value = scores.set_index("k").loc[elbow, key]
            ax.plot(elbow, value, "s", mfc="none", mec="black", markersize=12, label=f"elbow k = {elbow}")
        ax.legend(loc="best", frameon=False)
    for ax in list(fig.axes)[-2:]:
        ax.set_xlabel("number of segments k")
        ax.set_xticks(scores["k"])
    rule = sel.get("rule", "")
    caption = (
        "Each k was fitted and scored on the training customers; grey: the range k is chosen from. "
        f"Rule: {rule}." + (f" Note: {sel['better_outside_note']}." if sel.get("better_outside_note") else "")
    )
    return render("scores.png", title, caption, fig)


def stability(ctx: ReportContext) -> Item:
    sel = selection_info(ctx)
    scores = pd.DataFrame(sel.get("scores", []))
    title = "Stability per number of segments"
    if "stability" not in scores or scores["stability"].isna().all():
        return Note(title, "This model's metadata records no stability scores (trained without them).")
    fig = new_figure(8, 3.6)
    ax = fig.add_subplot()
    err = scores.get("stability_std")
    ax.errorbar(scores["k"], scores["stability"], yerr=err, marker="o", capsize=3, color="#4c72b0")
    chosen = sel.get("chosen_k")
    if chosen is not None and chosen in set(scores["k"]):
        ax.axvline(
            float(chosen), color="#c44e52", linestyle="--", linewidth=1.2, label=f"chosen k = {chosen}"
        )
    threshold = sel.get("stability_threshold")
    if isinstance(threshold, int | float):
        ax.axhline(threshold, color="gray", linestyle=":", label=f"stable above {threshold:g}")
    ax.set_xticks(scores["k"])
    low = scores["stability"] - (err if err is not None else 0.0)
    ax.set_ylim(min(0.0, float(low.min()) - 0.05), 1.05)
    ax.set_xlabel("number of segments k")
    ax.set_ylabel("mean adjusted Rand index")
    ax.legend(loc="lower left", frameon=False)
    method: dict[str, Any] = sel["stability"] if isinstance(sel.get("stability"), dict) else {}
    per_segment = next((s.get("segment_stability") for s in sel.get("scores", []) if s["k"] == chosen), None)
    caption = (
        "Agreement (adjusted Rand index, 1 = identical) between segmentations fitted on "
        f"{method.get('resamples', 'several')} seeded bootstrap resamples, each with its own seed; "
        "an unstable k depends on chance."
        + (" Bars: one standard deviation over the pairs of resample fits." if err is not None else "")
        + (
            f" Per segment at k = {chosen} (label order; mean best Jaccard overlap, 0.75+ is stable): "
            + ", ".join(f"{v:.2f}" for v in per_segment)
            + "."
            if per_segment
            else ""
        )
    )
    return render("stability.png", title, caption, fig)


def silhouette(ctx: ReportContext) -> Item:
    """Knife plot: each sampled customer's silhouette, grouped and sorted by segment."""
    idx = ctx.sample
    labels = ctx.labels[idx]
    title = "Silhouette per segment"
    if len(np.unique(labels)) < 2:
        return Note(title, "A single segment: silhouette is undefined.")
    values = silhouette_samples(ctx.Xs[idx], labels)
    colors = segment_colors(ctx.k)
    tags = segment_labels(ctx.names, ctx.ids)
    fig = new_figure(8, max(4.0, 0.5 * ctx.k + 2.5))
    ax = fig.add_subplot()
    lower, ticks = 0, []
    gap = max(5, len(idx) // 60)
    for i in range(ctx.k):
        seg = np.sort(values[labels == i])
        ax.fill_betweenx(np.arange(lower, lower + len(seg)), 0, seg, color=colors[i], linewidth=0)
        ticks.append(lower + len(seg) / 2)
        lower += len(seg) + gap
    mean = float(values.mean())
    ax.axvline(mean, color="black", linestyle="--", linewidth=1)
    ax.set_title(f"mean silhouette {mean:.3f} (dashed line)", loc="left")
    ax.set_yticks(ticks, [f"{t} (n={int((labels == i).sum()):,})" for i, t in enumerate(tags)])
    ax.set_ylim(-gap, lower)
    ax.invert_yaxis()
    ax.set_xlabel("silhouette coefficient (-1 .. 1; higher: closer to its own segment)")
    sampled = f"a seeded sample of {len(idx):,} of {len(ctx.Xs):,}" if len(idx) < len(ctx.Xs) else "all"
    caption = (
        f"Silhouette of {sampled} training customers in the model's scaled space. Values "
        "below zero are customers closer to another segment than to their own."
    )
    return render("silhouette.png", title, caption, fig)


def comparison_table(ctx: ReportContext) -> pd.DataFrame | None:
    """Algorithm comparison scores (one row per algorithm), if selection recorded any."""
    sel = selection_info(ctx)
    raw = sel.get("comparison", ctx.meta.get("comparison"))
    if isinstance(raw, dict) and "algorithms" in raw:
        raw = raw["algorithms"]
    if isinstance(raw, dict):
        raw = [{"algorithm": name, **vals} for name, vals in raw.items() if isinstance(vals, dict)]
    if not isinstance(raw, list) or not raw:
        return None
    frame = pd.DataFrame([r for r in raw if isinstance(r, dict)])
    if "algorithm" not in frame:
        return None
    return frame.set_index("algorithm")


def comparison(ctx: ReportContext) -> Item:
    title = "Algorithm comparison"
    table = comparison_table(ctx)
    if table is None:
        return Note(title, "This model was trained without the algorithm comparison (K-means, GMM, Ward).")
    metrics = [m for m in COMPARED if m in table and pd.api.types.is_numeric_dtype(table[m])]
    if not metrics:
        return Note(title, "The comparison records no scores this report knows how to draw.")
    fig = new_figure(3.2 * len(metrics) + 0.6, 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    used = str(ctx.meta.get("algorithm", ""))
    for ax, metric in zip(axes, metrics, strict=True):
        colors = ["#c44e52" if a == used else "#4c72b0" for a in table.index]
        ax.bar(range(len(table)), table[metric], color=colors)
        ticks = [
            f"{name}\n(k = {int(k)})" if isinstance(k, int | float) and not pd.isna(k) else str(name)
            for name, k in zip(table.index, table.get("chosen_k", [None] * len(table)), strict=True)
        ]
        ax.set_xticks(range(len(table)), ticks)
        direction = "lower is better" if metric == "davies_bouldin" else "higher is better"
        ax.set_title(f"{metric.replace('_', '-')}\n({direction})", loc="left")
        for x, v in enumerate(table[metric]):
            ax.text(x, v, f"{v:,.0f}" if abs(v) >= 100 else f"{v:.3g}", ha="center", va="bottom", fontsize=8)
        ax.margins(y=0.15)
    caption = "Every algorithm fitted and scored on the same features, each at its own chosen k" + (
        f"; red: the algorithm this model serves ({used})." if used else "."
    )
    return render("comparison.png", title, caption, fig)

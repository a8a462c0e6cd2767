"""Segment identities across retraining: the migration heatmap and the matching table."""

from __future__ import annotations

from typing import Any

import numpy as np

from shopper_segments.training.report.context import ReportContext
from shopper_segments.training.report.html import table_html
from shopper_segments.training.report.plotting import Item, Note, new_figure, render, segment_labels

TITLE = "Customer migration from the previous model"


def identity_info(ctx: ReportContext) -> dict[str, Any] | None:
    info = ctx.meta.get("identity")
    return info if isinstance(info, dict) else None


def previous_names(info: dict[str, Any]) -> dict[int, str]:
    """Previous segment id -> name (matched segments keep theirs; vanished ones are listed)."""
    names = {int(m["id"]): str(m["name"]) for m in info.get("matches", [])}
    names |= {int(v["id"]): str(v["name"]) for v in info.get("vanished", [])}
    return names


def migration(ctx: ReportContext) -> Item:
    """Heatmap: rows previous segments, columns new ones; counts, coloured by row share."""
    info = identity_info(ctx)
    if info is None or not isinstance(info.get("migration"), dict):
        return Note(TITLE, "This model was trained without a previous model: no segment ids were matched.")
    mig = info["migration"]
    counts = np.asarray(mig["counts"], dtype=np.float64).reshape(len(mig["previous_ids"]), -1)
    if counts.size == 0:
        return Note(TITLE, "No customer is in both trainings.")
    prev_names = previous_names(info)
    new_names = {int(s["id"]): str(s["name"]) for s in ctx.segments}
    rows = segment_labels([prev_names.get(int(i), "?") for i in mig["previous_ids"]], mig["previous_ids"], 24)
    cols = segment_labels([new_names.get(int(i), "?") for i in mig["new_ids"]], mig["new_ids"], 18)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    fig = new_figure(max(6.5, 1.15 * counts.shape[1] + 3.8), 0.62 * counts.shape[0] + 2.4)
    ax = fig.add_subplot()
    image = ax.imshow(share * 100, cmap="Blues", vmin=0, vmax=100, aspect="auto")
    for i in range(counts.shape[0]):
        for j in range(counts.shape[1]):
            ink = "white" if share[i, j] > 0.6 else "black"
            text = f"{int(counts[i, j]):,}\n{share[i, j]:.0%}" if counts[i, j] else "0"
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color=ink)
    ax.set_xticks(range(counts.shape[1]), cols, rotation=30, ha="right", fontsize=8)
    ax.set_yticks(range(counts.shape[0]), rows, fontsize=8)
    ax.set_xlabel("segment in this model (id · name)")
    ax.set_ylabel("segment in the previous model")
    ax.spines[:].set_visible(False)
    fig.colorbar(image, ax=ax, shrink=0.9, label="% of the previous segment's customers")
    both = int(mig.get("customers_in_both", counts.sum()))
    kept = int(mig.get("kept_segment", 0))
    caption = (
        f"The {both:,} customers in both trainings, by their segment in the previous model "
        f"({info.get('previous_version', '?')}) and in this one; {kept:,} ({kept / max(both, 1):.0%}) "
        f"kept their segment id. {int(mig.get('only_previous', 0)):,} customers were only in the "
        f"previous training, {int(mig.get('only_new', 0)):,} only in this one."
    )
    return render("migration.png", TITLE, caption, fig)


def identity_table(ctx: ReportContext) -> str:
    """HTML: how each segment got its id (matched, new) and which previous segments vanished."""
    info = identity_info(ctx)
    if info is None:
        return ""
    matched = {int(m["id"]): m for m in info.get("matches", [])}
    rows: list[list[Any]] = []
    for seg in ctx.segments:
        sid = int(seg["id"])
        if sid in matched:
            rows.append([sid, seg["name"], f"kept (centroid distance {float(matched[sid]['distance']):.2f})"])
        else:
            rows.append([sid, seg["name"], "new segment"])
    for gone in info.get("vanished", []):
        rows.append([gone["id"], gone["name"], "vanished (in the previous model only)"])
    caption = f"Segment ids matched to {info.get('previous_version', 'the previous model')}: " + str(
        info.get("method", "")
    )
    return table_html(["id", "name", "identity"], rows, caption)

"""Each segment's mix of customer attributes from a separate table (profiling only)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from shopper_segments.core.errors import DataError
from shopper_segments.training.io import normalize_ids, read_table
from shopper_segments.training.report.context import ReportContext
from shopper_segments.training.report.plotting import (
    RGBA,
    Item,
    Note,
    fixed_margins,
    new_figure,
    render,
    segment_labels,
)

MISSING = "(missing)"
OTHER = "(other)"
#: Numbers with more distinct values than this are binned into quartiles.
MAX_NUMBER_LEVELS = 8
#: Text attributes with more values than this keep the most frequent and fold the rest.
MAX_TEXT_LEVELS = 12


@dataclass(frozen=True)
class Demographics:
    """Attribute mixes per segment.

    Attributes
    ----------
    mixes : dict of str to DataFrame
        Per attribute: rows are segment positions (0..k-1), columns the attribute's
        levels in display order, values the share of the segment's matched customers.
    matched : ndarray
        Customers per segment found in the attribute table.
    source : str
        File name of the table.
    skipped : list of str
        Columns left out because the model clusters on them.
    """

    mixes: dict[str, pd.DataFrame]
    matched: np.ndarray
    source: str
    skipped: list[str]


def read_demographics(path: Path, id_column: str) -> pd.DataFrame:
    """Read an attribute table keyed by ``id_column`` (ids normalized as training does).

    Raises
    ------
    DataError
        Missing file or column, or an id that appears twice.
    """
    frame = read_table(path)
    if id_column not in frame:
        raise DataError(f"{path}: id column {id_column!r} not found; the file has {list(frame.columns)}")
    ids = normalize_ids(frame[id_column].astype("string"))
    duplicated = ids[ids.duplicated() & ids.notna()]
    if len(duplicated):
        raise DataError(f"{path}: id {duplicated.iloc[0]!r} of column {id_column!r} appears more than once")
    frame = frame.drop(columns=[id_column])
    frame.index = pd.Index(ids, name="customer_id")
    if frame.shape[1] == 0:
        raise DataError(f"{path}: no attribute columns besides {id_column!r}")
    return frame[frame.index.notna()]


def levels(values: pd.Series) -> pd.Series:
    """An attribute as ordered categorical levels (numbers with many values: quartile bins)."""
    text = values.astype("string").str.strip().replace("", pd.NA)
    numbers = pd.to_numeric(text, errors="coerce")
    is_numeric = numbers.notna().sum() == text.notna().sum() and text.notna().any()
    if is_numeric and numbers.nunique() > MAX_NUMBER_LEVELS:
        codes, edges = pd.qcut(numbers, 4, labels=False, duplicates="drop", retbins=True)
        order = _bin_labels(edges, bool((numbers.dropna() % 1 == 0).all()))
        out = pd.Series(
            [order[int(c)] if pd.notna(c) else pd.NA for c in codes], index=values.index, dtype="string"
        )
    else:
        out = text
        found = [str(v) for v in out.dropna().unique()]
        order = sorted(found, key=float if is_numeric else _natural_key)
        if len(order) > MAX_TEXT_LEVELS:
            top = out.value_counts().index[: MAX_TEXT_LEVELS - 1]
            out = out.where(out.isin(top) | out.isna(), OTHER)
            order = [c for c in order if c in set(top)] + [OTHER]
    out = out.fillna(MISSING)
    if (out == MISSING).any():
        order = [*order, MISSING]
    return pd.Series(pd.Categorical(out, categories=order, ordered=True), index=values.index)


def _bin_labels(edges: np.ndarray, integers: bool) -> list[str]:
    """Readable quantile bin labels: "18–28", "29–36" for integers, 3 significant digits else."""
    labels = []
    for i in range(len(edges) - 1):
        lo, hi = float(edges[i]), float(edges[i + 1])
        if integers:
            low = int(np.ceil(lo)) if i == 0 else int(np.floor(lo)) + 1
            labels.append(f"{low}–{int(np.floor(hi))}")
        else:
            labels.append(f"{lo:.3g}–{hi:.3g}")
    return labels


def _natural_key(text: str) -> tuple[float, str]:
    """Order "Under 15K" < "15-24K" < "100-124K" < "250K+" by their first number."""
    match = re.search(r"\d+(\.\d+)?", text)
    number = float(match.group()) if match else float("inf")
    if text.lower().startswith(("under", "less", "<")):
        number -= 0.5
    return number, text


def segment_mix(ctx: ReportContext, table: pd.DataFrame, source: str) -> Demographics:
    """Share of each attribute level among each segment's customers found in ``table``."""
    ids = pd.Index(normalize_ids(ctx.X.index.to_series().astype("string")))
    found = table.reindex(ids)
    present = ids.isin(table.index)
    labels = ctx.labels[present]
    matched = np.bincount(labels, minlength=ctx.k)
    mixes = {}
    skipped = [str(c) for c in table.columns if c in ctx.model.spec.names]
    for column in (c for c in table.columns if c not in skipped):
        lv = levels(found[column][present])
        counts = pd.crosstab(labels, lv.to_numpy(), dropna=False)
        counts = counts.reindex(index=range(ctx.k), columns=lv.cat.categories, fill_value=0)
        mixes[str(column)] = counts.div(counts.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)
    return Demographics(mixes, matched, source, skipped)


def mix_figure(ctx: ReportContext, demo: Demographics | None) -> Item:
    title = "Demographics per segment"
    if demo is None:
        return Note(
            title, "No attribute table given (report option --demographics FILE --demographics-id COL)."
        )
    if not demo.mixes:
        return Note(title, f"Every column of {demo.source} is a feature the model clusters on.")
    if demo.matched.sum() == 0:
        return Note(title, f"No training customer was found in {demo.source}: check the id column.")
    tags = segment_labels(ctx.names, ctx.ids, width=30)
    tags = [f"{t} (n={n:,})" for t, n in zip(tags, demo.matched, strict=True)]
    n_attr = len(demo.mixes)
    # Each panel is tall enough for its bars and for its legend (one line per level).
    heights = [max(0.3 * ctx.k + 0.95, 0.18 * len(mix.columns) + 0.45) for mix in demo.mixes.values()]
    fig = new_figure(11, sum(heights) + 0.3, constrained=False)
    axes = np.atleast_1d(fig.subplots(n_attr, 1, gridspec_kw={"height_ratios": heights}))
    y = np.arange(ctx.k)
    for ax, (attribute, mix) in zip(axes, demo.mixes.items(), strict=True):
        left = np.zeros(ctx.k)
        cmap = _palette(len(mix.columns), MISSING in mix.columns)
        for j, level in enumerate(mix.columns):
            widths = mix[level].to_numpy() * 100
            ax.barh(y, widths, left=left, color=cmap[j], label=str(level), height=0.75)
            for yi, (x0, w) in enumerate(zip(left, widths, strict=True)):
                if w >= 7:
                    ink = "white" if _luminance(cmap[j]) < 0.5 else "black"
                    ax.text(x0 + w / 2, yi, f"{w:.0f}", ha="center", va="center", fontsize=7, color=ink)
            left += widths
        ax.set_yticks(y, tags, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 100)
        ax.set_title(attribute, loc="left")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8)
    axes[-1].set_xlabel("share of the segment's customers with attributes (%)")
    label_chars = max(len(line) for t in tags for line in t.split("\n"))
    legend_chars = max(len(str(c)) for mix in demo.mixes.values() for c in mix.columns)
    # Inches from character counts at 8 pt (about 0.07 in per character).
    fixed_margins(
        fig,
        left=0.25 + 0.07 * label_chars,
        right=0.6 + 0.07 * legend_chars,
        top=0.3,
        bottom=0.55,
        hgap=0.62,
        wgap=0.0,
    )
    total = int(demo.matched.sum())
    caption = (
        f"Attributes from {demo.source} ({total:,} of {len(ctx.X):,} training customers found there). "
        "For profiling only: they were not used to form the segments. Numbers in bars are percent."
    )
    if demo.skipped:
        caption += f" Left out as the model clusters on them: {', '.join(demo.skipped)}."
    return render("demographics.png", title, caption, fig)


def _palette(n: int, has_missing: bool) -> list[RGBA]:
    import matplotlib

    levels_n = n - 1 if has_missing else n
    cmap = matplotlib.colormaps["viridis"]
    colors = [cmap(0.15 + 0.8 * i / max(levels_n - 1, 1)) for i in range(levels_n)]
    if has_missing:
        colors.append((0.8, 0.8, 0.8, 1.0))
    return colors


def _luminance(color: RGBA) -> float:
    r, g, b = color[:3]
    return 0.299 * r + 0.587 * g + 0.114 * b

"""Assemble the report of a model directory: figures, cards, tables, and write it in place."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from shopper_segments.core.artifact import resolve_model_dir
from shopper_segments.core.errors import DataError
from shopper_segments.training.report import demographics as demo_mod
from shopper_segments.training.report import figures_eda as eda
from shopper_segments.training.report import figures_identity as ident
from shopper_segments.training.report import figures_rfm
from shopper_segments.training.report import figures_segments as segs
from shopper_segments.training.report import figures_selection as sel
from shopper_segments.training.report.context import ReportContext, load_context
from shopper_segments.training.report.html import STANDS_OUT, Section, card_html, page, table_html
from shopper_segments.training.report.plotting import Figure, Note, segment_colors

REPORT_HTML = "report.html"
REPORT_JSON = "report.json"
FIGURES_DIR = "figures"
#: Files and directories the report owns in a model directory (never checksummed).
REPORT_FILES = (REPORT_HTML, REPORT_JSON, FIGURES_DIR)
#: Median features shown on a card, when the model has them.
CARD_FEATURES = 6


@dataclass(frozen=True)
class ReportOptions:
    """Report options: an optional customer attribute table for demographic profiles."""

    demographics: Path | None = None
    demographics_id: str | None = None
    log: Callable[[str], None] | None = None

    def check(self) -> None:
        """Fail early (before training) on an unusable attribute table option."""
        if (self.demographics is None) != (self.demographics_id is None):
            raise DataError("--demographics and --demographics-id go together: give both or neither")
        if self.demographics is not None and self.demographics_id is not None:
            demo_mod.read_demographics(self.demographics, self.demographics_id)


def write_report(model_dir: Path, options: ReportOptions | None = None) -> Path:
    """Render the report of ``model_dir`` and write it there; returns the HTML path.

    Writes ``report.html`` (self-contained: figures embedded), ``figures/*.png`` and
    ``report.json`` (what was drawn, the cards and demographic mixes). Existing report
    files are replaced; the model's artifacts and metadata are never touched.
    """
    options = options or ReportOptions()
    options.check()
    started = time.perf_counter()
    ctx = load_context(model_dir)
    demo = None
    if options.demographics is not None and options.demographics_id is not None:
        table = demo_mod.read_demographics(options.demographics, options.demographics_id)
        demo = demo_mod.segment_mix(ctx, table, options.demographics.name)
    cards = segment_cards(ctx)
    sections = build_sections(ctx, cards, demo)
    summary = _summary(ctx, sections, cards, demo)
    title = f"Segments of {ctx.meta.get('name', 'model')}"
    subtitle = _subtitle(ctx)
    summary["seconds"] = round(time.perf_counter() - started, 3)
    footer = f"{ctx.meta.get('version', '')} · written {summary['generated_at']} by python -m training report"
    _write(ctx.model_dir, sections, page(title, subtitle, sections, footer), summary)
    if options.log:
        options.log(f"report written in {summary['seconds']:.1f} s: {ctx.model_dir / REPORT_HTML}")
    return ctx.model_dir / REPORT_HTML


def build_sections(
    ctx: ReportContext, cards: list[dict[str, Any]], demo: demo_mod.Demographics | None
) -> list[Section]:
    colors = segment_colors(ctx.k)
    data = Section("data", "Data", [eda.cleaning(ctx), eda.activity(ctx), eda.distributions(ctx)])
    data.items.append(eda.correlations(ctx))
    selection = Section("selection", "Choosing the number of segments", [sel.score_curves(ctx)])
    warning = ctx.meta.get("selection", {}).get("warning")
    if warning:
        selection.items.insert(0, Note("Selection warning", str(warning)))
    selection.items += [sel.stability(ctx), sel.silhouette(ctx), sel.comparison(ctx)]
    selection.blocks.append(_scores_table(ctx))
    segments = Section("segments", "Segments", [segs.sizes(ctx), segs.profile_heatmap(ctx)])
    segments.items.append(segs.pca_projection(ctx))
    segments.blocks.append(
        '<div class="cards">' + "".join(card_html(c, colors[i]) for i, c in enumerate(cards)) + "</div>"
    )
    grid = Section("rfm", "RFM grid", [figures_rfm.crosstab(ctx)])
    grid.blocks.append(figures_rfm.crosstab_table(ctx))
    identity = Section("identity", "Segment identities", [ident.migration(ctx), ident.lineage(ctx)])
    identity.blocks += [ident.identity_table(ctx), ident.chain_table(ctx)]
    demographics = Section("demographics", "Demographics", [demo_mod.mix_figure(ctx, demo)])
    return [data, selection, segments, grid, identity, demographics]


def segment_cards(ctx: ReportContext) -> list[dict[str, Any]]:
    """Per segment: id, name, description and key figures (formatted)."""
    names = ctx.model.spec.names
    cards = []
    for i, seg in enumerate(ctx.segments):
        figures = {"customers": f"{int(seg['size']):,}", "share of customers": f"{seg['share']:.1%}"}
        if isinstance(seg.get("revenue_share"), int | float):
            figures["share of revenue"] = f"{seg['revenue_share']:.1%}"
        median = seg.get("median", {})
        for name in names[:CARD_FEATURES]:
            if name in median:
                figures[f"median {name}"] = _number(float(median[name]))
        z = ctx.centroids[i]
        top = np.argsort(-np.abs(z))[:3]
        figures[STANDS_OUT] = ", ".join(f"{names[j]} {z[j]:+.1f}σ" for j in top)
        cards.append(
            {
                "id": int(seg["id"]),
                "name": str(seg["name"]),
                "description": str(seg.get("description", "")),
                "figures": figures,
            }
        )
    return cards


def _number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value % 1 else f"{value:,.0f}"


def _scores_table(ctx: ReportContext) -> str:
    scores = ctx.meta.get("selection", {}).get("scores", [])
    if not scores:
        return ""
    keys = [k for k in ("silhouette", "calinski_harabasz", "davies_bouldin", "inertia", "stability")]
    keys = [k for k in keys if any(k in s for s in scores)]
    chosen = ctx.meta.get("selection", {}).get("chosen_k")
    rows = [
        [f"{s['k']}{' (chosen)' if s['k'] == chosen else ''}", *[_fmt(s.get(k)) for k in keys]]
        for s in scores
    ]
    return table_html(["k", *keys], rows, "Scores per k (as recorded in metadata.json)")


def _fmt(value: Any) -> str:
    if not isinstance(value, int | float):
        return "–"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _subtitle(ctx: ReportContext) -> str:
    data = ctx.meta.get("data", {})
    parts = [
        f"{ctx.k} segments of {int(data.get('customers', len(ctx.X))):,} customers",
        f"algorithm {ctx.meta.get('algorithm', 'kmeans')}",
        f"trained on {data.get('file', '?')}",
    ]
    if "date_range" in data:
        parts.append(f"{data['date_range'][0][:10]} to {data['date_range'][1][:10]}")
    parts.append(f"model {ctx.meta.get('version', '?')}")
    return " · ".join(parts)


def _summary(
    ctx: ReportContext,
    sections: list[Section],
    cards: list[dict[str, Any]],
    demo: demo_mod.Demographics | None,
) -> dict[str, Any]:
    items = [item for s in sections for item in s.items]
    out: dict[str, Any] = {
        "version": ctx.meta.get("version"),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "figures": [f"{FIGURES_DIR}/{i.file}" for i in items if isinstance(i, Figure)],
        "notes": [{"title": i.title, "text": i.text} for i in items if isinstance(i, Note)],
        "cards": cards,
    }
    if demo is not None:
        out["demographics"] = {
            "source": demo.source,
            "matched": {str(ctx.ids[i]): int(n) for i, n in enumerate(demo.matched)},
            "mix": {
                attr: {str(ctx.ids[i]): mix.iloc[i].round(6).to_dict() for i in range(ctx.k)}
                for attr, mix in demo.mixes.items()
            },
        }
    return out


def _write(model_dir: Path, sections: list[Section], html_text: str, summary: dict[str, Any]) -> None:
    """Write into a scratch directory, then swap each report file into place."""
    model_dir = resolve_model_dir(model_dir)
    scratch = Path(tempfile.mkdtemp(prefix=".report-", dir=model_dir))
    try:
        (scratch / FIGURES_DIR).mkdir()
        for item in (i for s in sections for i in s.items):
            if isinstance(item, Figure):
                (scratch / FIGURES_DIR / item.file).write_bytes(item.png)
        (scratch / REPORT_HTML).write_text(html_text, encoding="utf-8")
        (scratch / REPORT_JSON).write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", "utf-8")
        old = model_dir / FIGURES_DIR
        if old.exists():
            old.rename(scratch / "old-figures")
        (scratch / FIGURES_DIR).rename(old)
        for name in (REPORT_JSON, REPORT_HTML):
            os.replace(scratch / name, model_dir / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

"""The HTML + PNG report: written at training, rewritten by `report`, figures valid and referenced."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from shopper_segments.core import artifact
from shopper_segments.training.cli import main
from shopper_segments.training.report import ReportOptions, figures_eda, figures_segments, write_report
from shopper_segments.training.report.context import ReportContext, load_context

EXPECTED = {
    "cleaning.png",
    "activity.png",
    "distributions.png",
    "correlations.png",
    "scores.png",
    "silhouette.png",
    "sizes.png",
    "profile.png",
    "pca.png",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def embedded_images(html: str) -> dict[str, bytes]:
    """figures/<file> -> the PNG bytes embedded in the HTML for it."""
    found = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" data-file="([^"]+)"', html)
    return {name: base64.b64decode(data) for data, name in found}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_training_writes_every_figure_as_a_valid_png_embedded_in_the_html(
    sample_model: tuple[Path, dict],
) -> None:
    path, _ = sample_model
    summary = json.loads((path / "report.json").read_text())
    files = {p.name for p in (path / "figures").glob("*.png")}
    assert files >= EXPECTED
    assert {f"figures/{f}" for f in files} == set(summary["figures"])
    html = (path / "report.html").read_text(encoding="utf-8")
    embedded = embedded_images(html)
    assert set(embedded) == {f"figures/{f}" for f in files}
    for name in files:
        data = (path / "figures" / name).read_bytes()
        assert data.startswith(PNG_MAGIC), name
        with Image.open(path / "figures" / name) as image:
            image.verify()
        with Image.open(path / "figures" / name) as image:
            assert image.width >= 400 and image.height >= 150, (name, image.size)
        assert embedded[f"figures/{name}"] == data, f"{name}: HTML embeds other bytes than the file"
    # Training records stability per k (a figure); without --compare or demographics those are notes.
    assert "stability.png" in files
    titles = {n["title"] for n in summary["notes"]}
    assert {"Algorithm comparison", "Demographics per segment"} <= titles
    assert "Stability per number of segments" not in titles
    for note in titles:
        assert note in html


def test_report_files_are_not_artifacts_and_the_model_still_verifies(sample_model: tuple[Path, dict]) -> None:
    path, meta = sample_model
    recorded = json.loads((path / "metadata.json").read_text())["artifacts"]
    assert set(recorded) == {artifact.PIPELINE, artifact.ASSIGNMENTS}
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")], "temporary directories left"
    loaded, _, _ = artifact.load_model(path)
    assert loaded["version"] == meta["version"]


def cards_of(html: str) -> list[tuple[str, str, str, str, str]]:
    """(id, name, description, customers, stands-out line) of each card, in page order."""
    cards = re.findall(
        r'<article class="card" data-segment-id="(\d+)">.*?<span class="name">(.*?)</span>.*?'
        r'<p class="description">(.*?)</p>.*?<dt>customers</dt><dd>([\d,]+)</dd>.*?'
        r'<p class="stands">stands out on: (.*?)</p>',
        html,
    )
    return [(i, n.replace("&#x27;", "'"), d.replace("&#x27;", "'"), c, z) for i, n, d, c, z in cards]


def stands_out(meta_segment: dict, names: list[str]) -> str:
    z = np.asarray(meta_segment["centroid_scaled"])
    return ", ".join(f"{names[j]} {z[j]:+.1f}σ" for j in np.argsort(-np.abs(z))[:3])


def test_cards_match_the_segments(sample_model: tuple[Path, dict]) -> None:
    path, meta = sample_model
    html = (path / "report.html").read_text(encoding="utf-8")
    names = meta["features"]["names"]
    expected = [
        (str(s["id"]), s["name"], s["description"], f"{s['size']:,}", stands_out(s, names))
        for s in sorted(meta["segments"], key=lambda s: s["id"])
    ]
    assert cards_of(html) == expected


def test_monthly_counts_are_in_the_metadata(sample_model: tuple[Path, dict]) -> None:
    _, meta = sample_model
    monthly = meta["data"]["monthly"]
    months = [m["month"] for m in monthly]
    assert months == sorted(months) and len(months) == len(set(months))
    assert months[0] == meta["data"]["date_range"][0][:7]
    assert months[-1] == meta["data"]["date_range"][1][:7]
    # Every training customer is new in exactly one month.
    assert sum(m["new_customers"] for m in monthly) == meta["data"]["customers"]


def demographics_table(model_dir: Path, path: Path) -> pd.DataFrame:
    """Seeded attributes for 80% of the model's customers plus 5 unknown ones."""
    customers = pd.read_parquet(model_dir / artifact.ASSIGNMENTS)["customer_id"].astype(str)
    rng = np.random.default_rng(7)
    kept = customers[rng.random(len(customers)) < 0.8].to_numpy()
    ids = np.concatenate([kept, [f"unknown-{i}" for i in range(5)]])
    table = pd.DataFrame(
        {
            "cust": ids,
            "income": rng.choice(["Under 15K", "15-24K", "25-34K", "100-124K"], len(ids)),
            "age": rng.integers(18, 80, len(ids)),
            "owner": rng.choice(["Homeowner", "Renter", ""], len(ids)),
            "frequency": rng.integers(1, 5, len(ids)),  # a model feature: left out
        }
    )
    table.to_csv(path, index=False)
    return table


def compared(algorithm: str, k: int, silhouette: float, davies_bouldin: float) -> dict:
    """One row of a recorded algorithm comparison (the contract's every key)."""
    scores = {"silhouette": silhouette, "calinski_harabasz": 100.0, "davies_bouldin": davies_bouldin}
    rest = {"stability": 0.9, "inertia": 10.0, "elbow_k": None, "warning": None, "scores": []}
    return {"algorithm": algorithm, "chosen_k": k, **scores, **rest}


@pytest.fixture(scope="module")
def enriched_model(sample_model: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample model whose metadata gains stability, an elbow and an algorithm
    comparison (as selection records them), reported with a demographics table (one render)."""
    path, _ = sample_model
    root = tmp_path_factory.mktemp("enriched")
    shutil.copytree(path.parent, root / "models" / path.parent.name)
    model_dir = root / "models" / path.parent.name / path.name
    meta = json.loads((model_dir / "metadata.json").read_text())
    # Stable ids need not follow the label order (after matching a previous model): reverse them.
    k = len(meta["segments"])
    for seg in meta["segments"]:
        seg["id"] = k - 1 - seg["label"]
    assignments = pd.read_parquet(model_dir / artifact.ASSIGNMENTS)
    assignments["segment_id"] = k - 1 - assignments["segment_id"]
    assignments.to_parquet(model_dir / artifact.ASSIGNMENTS, index=False)
    meta["artifacts"][artifact.ASSIGNMENTS] = artifact.sha256_file(model_dir / artifact.ASSIGNMENTS)
    for i, score in enumerate(meta["selection"]["scores"]):
        score["stability"] = 0.9 - 0.05 * i
    meta["selection"]["elbow"] = {"k": meta["selection"]["scores"][1]["k"], "method": "kneedle"}
    meta["selection"]["stability_threshold"] = 0.75
    meta["selection"]["comparison"] = {
        "algorithms": [
            compared("kmeans", 3, 0.31, 1.1),
            compared("gmm", 4, 0.22, 1.6),
            compared("ward", 3, 0.28, 1.2),
        ]
    }
    ids = [s["id"] for s in meta["segments"]]
    meta["identity"] = {
        "previous_version": "sample-previous",
        "previous_path": "models/sample/sample-previous",
        "method": "shared_customers",
        "rule": "Hungarian matching on the Jaccard overlap of shared customers",
        "matched_on": meta["features"]["names"],
        "own_scale_features": ["recency_days", "tenure_days"],
        "max_distance": 1.5,
        "keep_share": 0.5,
        "min_shared_customers": 10,
        "shared_customers": sum(j + i for j in range(len(ids)) for i in range(len(ids))),
        "previous_default": True,
        "pairs": [
            {"previous_id": s["id"], "previous_name": s["name"], "label": s["label"], "shared_customers": 5}
            | {"overlap_share": 0.8, "source_share": 0.7, "jaccard": 0.6, "mutual_best": True}
            | {"distance": 0.1, "kept": True, "reason": "80% of its shared customers went there"}
            for s in meta["segments"][1:]
        ]
        + [
            {"previous_id": 99, "previous_name": "Gone segment", "label": None, "shared_customers": 0}
            | {"overlap_share": 0.0, "source_share": 0.0, "jaccard": 0.0, "mutual_best": False}
            | {"distance": None, "kept": False, "reason": "no new segment left to pair with"}
        ],
        "new_ids": [ids[0]],
        "vanished": [{"id": 99, "name": "Gone segment"}],
        "next_free_id": 100,
        "migration": {
            "previous_ids": [*ids[1:], 99],
            "new_ids": ids,
            "counts": [[j + i for j in range(len(ids))] for i in range(len(ids))],
            "customers_in_both": sum(j + i for j in range(len(ids)) for i in range(len(ids))),
            "only_previous": 3,
            "only_new": 4,
            "kept_segment": 5,
        },
    }
    (model_dir / "metadata.json").write_text(json.dumps(meta))
    artifact.write_manifest(model_dir)  # the edited metadata signed: it still follows the contract
    demographics_table(model_dir, root / "demo.csv")
    write_report(model_dir, ReportOptions(root / "demo.csv", "cust"))
    return model_dir


def test_demographics_mix_sums_to_one_per_segment_and_matches_a_direct_count(enriched_model: Path) -> None:
    table = pd.read_csv(enriched_model.parents[2] / "demo.csv", dtype={"cust": str}, keep_default_na=False)
    summary = json.loads((enriched_model / "report.json").read_text())
    demo = summary["demographics"]
    assert set(demo["mix"]) == {"income", "age", "owner"}
    html = (enriched_model / "report.html").read_text(encoding="utf-8")
    assert "Left out as the model clusters on them: frequency." in html
    for attribute, per_segment in demo["mix"].items():
        for seg_id, mix in per_segment.items():
            if demo["matched"][seg_id]:
                assert sum(mix.values()) == pytest.approx(1.0, abs=1e-5), (attribute, seg_id)
    assert len(demo["mix"]["age"]["0"]) == 4, "many-valued numbers are binned into quartiles"
    assert list(demo["mix"]["income"]["0"]) == ["Under 15K", "15-24K", "25-34K", "100-124K"]
    assert "(missing)" in demo["mix"]["owner"]["0"]
    # Recount one segment's renter share straight from the files.
    assignments = pd.read_parquet(enriched_model / artifact.ASSIGNMENTS)
    merged = assignments.merge(table.astype({"cust": str}), left_on="customer_id", right_on="cust")
    assert sum(demo["matched"].values()) == len(merged) == len(table) - 5
    seg0 = merged[merged["segment_id"] == 0]
    assert demo["matched"]["0"] == len(seg0)
    assert demo["mix"]["owner"]["0"]["Renter"] == pytest.approx((seg0["owner"] == "Renter").mean(), abs=1e-6)
    assert (enriched_model / "figures" / "demographics.png").read_bytes().startswith(PNG_MAGIC)


def test_cards_follow_stable_ids_not_label_order(enriched_model: Path) -> None:
    meta = json.loads((enriched_model / "metadata.json").read_text())
    html = (enriched_model / "report.html").read_text(encoding="utf-8")
    cards = cards_of(html)
    assert [c[0] for c in cards] == [str(i) for i in range(len(meta["segments"]))]
    by_id = {s["id"]: s for s in meta["segments"]}
    names = meta["features"]["names"]
    for card in cards:
        seg = by_id[int(card[0])]
        assert card[1:] == (seg["name"], seg["description"], f"{seg['size']:,}", stands_out(seg, names))


def test_stability_comparison_and_migration_are_drawn_when_recorded(enriched_model: Path) -> None:
    summary = json.loads((enriched_model / "report.json").read_text())
    drawn = {"figures/stability.png", "figures/comparison.png", "figures/migration.png"}
    assert drawn <= set(summary["figures"])
    titles = {n["title"] for n in summary["notes"]}
    assert not {"Stability per number of segments", "Algorithm comparison"} & titles
    assert not any(t.startswith("Customer migration") for t in titles)
    html = (enriched_model / "report.html").read_text(encoding="utf-8")
    assert "<th>stability</th>" in html
    assert "<td>99 Gone segment</td><td>-</td>" in html  # a vanished segment: paired with none
    assert "<td>vanished</td><td>no new segment left to pair with</td>" in html
    assert "<td>new</td><td>no previous segment kept into it</td>" in html
    assert set(embedded_images(html)) == set(summary["figures"])


def test_report_command_rewrites_only_the_report_files(enriched_model: Path) -> None:
    before = {
        f: digest(enriched_model / f) for f in ("metadata.json", artifact.PIPELINE, artifact.ASSIGNMENTS)
    }
    assert (enriched_model / "figures" / "demographics.png").is_file()
    assert main(["report", str(enriched_model.parent)]) == 0  # a name directory: follows LATEST
    assert not (enriched_model / "figures" / "demographics.png").exists(), "stale figure left behind"
    assert "demographics" not in json.loads((enriched_model / "report.json").read_text())
    after = {f: digest(enriched_model / f) for f in before}
    assert after == before
    assert not [p for p in enriched_model.iterdir() if p.name.startswith(".")]
    artifact.load_model(enriched_model)


def test_a_failing_report_leaves_no_model_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import train_sample

    def boom(model_dir: Path) -> None:
        (model_dir / "report.html").write_text("half")
        raise RuntimeError("disk full")

    original = artifact.save_model

    def save_with_failing_report(*args: object, **kwargs: object) -> Path:
        kwargs["extras"] = boom
        return original(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(artifact, "save_model", save_with_failing_report)
    with pytest.raises(RuntimeError, match="disk full"):
        train_sample(tmp_path, k=3)
    assert list((tmp_path / "sample").iterdir()) == []


def test_bad_demographics_options_fail_before_training(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.conftest import ONLINE_RETAIL_SPEC, SAMPLE

    base = ["fit", "--input", str(SAMPLE), "--dataset", str(ONLINE_RETAIL_SPEC), "--out", str(tmp_path)]
    assert main([*base, "--demographics", str(tmp_path / "absent.csv"), "--demographics-id", "x"]) == 2
    assert "absent.csv does not exist" in capsys.readouterr().err
    (tmp_path / "demo.csv").write_text("household_id,age\n1,30\n")
    assert main([*base, "--demographics", str(tmp_path / "demo.csv"), "--demographics-id", "hh"]) == 2
    assert "id column 'hh' not found" in capsys.readouterr().err
    assert main([*base, "--demographics", str(tmp_path / "demo.csv")]) == 2
    assert "go together" in capsys.readouterr().err
    assert not (tmp_path / "model").exists()


def test_a_customer_table_model_reports_demographics_without_activity_or_revenue(tmp_path: Path) -> None:
    from tests.conftest import shared_file

    mall = shared_file("customer_tables/mall_customers.csv")
    columns = ["Annual Income (k$)", "Spending Score (1-100)"]
    args = ["fit", "--input", str(mall), "--table-columns", *columns, "--table-id", "CustomerID"]
    args += ["--k-max", "6", "--out", str(tmp_path), "--name", "mall"]
    assert main([*args, "--demographics", str(mall), "--demographics-id", "CustomerID"]) == 0
    model_dir = artifact.resolve_model_dir(tmp_path / "mall")
    summary = json.loads((model_dir / "report.json").read_text())
    notes = {n["title"]: n["text"] for n in summary["notes"]}
    assert "customer table" in notes["Customers and revenue over time"]
    assert "figures/demographics.png" in summary["figures"]
    assert set(summary["demographics"]["mix"]) == {"Gender", "Age"}  # the clustered columns are left out
    table = pd.read_csv(mall)
    assert sum(summary["demographics"]["matched"].values()) == len(table) == 200
    female = (table["Gender"] == "Female").sum()
    counts = summary["demographics"]["matched"]
    mixed = sum(mix["Female"] * counts[i] for i, mix in summary["demographics"]["mix"]["Gender"].items())
    assert mixed == pytest.approx(female, abs=1e-3)
    assert all("share of revenue" not in card["figures"] for card in summary["cards"])


def captured_figures(monkeypatch: pytest.MonkeyPatch, *modules: object) -> dict[str, Any]:
    """The matplotlib figure each figure function renders, by file name (drawn, so extents are known)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    figures: dict[str, Any] = {}

    def keep(file: str, title: str, caption: str, fig: Any) -> str:
        FigureCanvasAgg(fig).draw()
        figures[file] = fig
        return caption

    for module in modules:
        monkeypatch.setattr(module, "render", keep)
    return figures


def with_currency(ctx: ReportContext, currency: str | None) -> ReportContext:
    meta = {**ctx.meta, "parameters": {**ctx.meta["parameters"], "currency": currency}}
    return dataclasses.replace(ctx, meta=meta)


def test_money_is_labelled_in_the_data_currency(
    sample_model: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = captured_figures(monkeypatch, figures_eda)
    ctx = load_context(sample_model[0])
    labels = {}
    for currency in ("GBP", None):
        figures_eda.activity(with_currency(ctx, currency))
        figures_eda.distributions(with_currency(ctx, currency))
        activity, dist = figures["activity.png"], figures["distributions.png"]
        labels[currency] = {ax.get_ylabel() for ax in activity.axes} | {ax.get_xlabel() for ax in dist.axes}
    assert {"net revenue (GBP)", "net spend (GBP)", "spend per order (GBP)"} <= labels["GBP"]
    assert not any("currency" in label for label in labels["GBP"])
    assert {"net revenue (currency)", "net spend (currency)"} <= labels[None]


def test_activity_legend_sits_above_the_bars(
    sample_model: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = captured_figures(monkeypatch, figures_eda)
    figures_eda.activity(load_context(sample_model[0]))
    top = figures["activity.png"].axes[0]
    legend = top.get_legend().get_window_extent()
    assert legend.y0 >= top.get_window_extent().y1 - 1  # above the plotting area: covers no bar


def test_squashed_z_axes_show_p1_to_p99_and_say_so(
    sample_model: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = captured_figures(monkeypatch, figures_eda)
    ctx = load_context(sample_model[0])
    figures_eda.distributions(ctx)
    spec = ctx.model.spec
    z_axes = [ax for ax in figures["distributions.png"].axes if ax.get_xlabel().startswith("z-score")]
    assert len(z_axes) == sum(t != "none" for t in spec.transforms.values())
    clipped = 0
    for ax, j in zip(
        z_axes, [j for j, n in enumerate(spec.names) if spec.transforms[n] != "none"], strict=True
    ):
        z = ctx.Xs[:, j]
        lo, hi = np.quantile(z, [0.01, 0.99])
        if "p1-p99 shown" in ax.get_xlabel():
            clipped += 1
            outside = int(((z < lo) | (z > hi)).sum())
            assert f"({outside:,} outside)" in ax.get_xlabel()
            assert ax.get_xlim()[0] >= lo - 0.1 * (hi - lo) and ax.get_xlim()[1] <= hi + 0.1 * (hi - lo)
    assert clipped >= 1  # the sample's monetary z-scores have a long tail


def test_colorbar_labels_fit_in_the_figure(
    sample_model: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    figures = captured_figures(monkeypatch, figures_segments)
    figures_segments.profile_heatmap(load_context(sample_model[0]))
    fig = figures["profile.png"]
    renderer = fig.canvas.get_renderer()
    bar = fig.axes[-1]
    label = bar.yaxis.label
    assert "z-score" in label.get_text()
    box, page = label.get_window_extent(renderer), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1

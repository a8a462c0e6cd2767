"""Render bench/run.py's results as Markdown tables, each target marked met or missed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

LAYOUTS = {"customer": "grouped by customer", "time": "in time order"}


def _ok(flag: bool) -> str:
    return "met" if flag else "MISSED"


def render(r: dict[str, Any]) -> str:
    m = r["machine"]
    out = [
        f"Command: `{r['command']}`  ",
        f"Machine: {m['cores']} cores, {m['cpu']}, {m['memory_gib']} GiB, Python {m['python']}, "
        f"BLAS {', '.join(str(b['internal_api']) + ' ' + str(b['version']) for b in m['blas'])}; "
        f"{m['shared']}; load average {m['load_average_at_start'][0]:.1f} at start, "
        f"{m.get('load_average_at_end', [float('nan')])[0]:.1f} at end; {m['date_utc']}",
        "",
    ]
    targets: list[tuple[str, str, str]] = []
    if "inproc" in r:
        out += ["| in-process | ours (`assign_customers`: rules, features, assignment) | sklearn `pipeline.predict` (DataFrame) | ratio |",
                "|---|---:|---:|---:|"]  # fmt: skip
        for row in r["inproc"]:
            out.append(
                f"| {row['case']} | {row['ours_us']:,.1f} us ({row['ours_customers_per_s']:,.0f} customers/s) "
                f"| {row['sklearn_predict_df_us']:,.1f} us | {row['speedup']:.1f}x |"
            )
        one = r["inproc"][0]["speedup"]
        targets.append(("one customer in-process >= 20x predict (DataFrame)", f"{one:.1f}x", _ok(one >= 20)))
        out.append("")
    for key, title, other in (("http", "HTTP (wrk, 1 worker)", "floor"), ("peer", "peer", "MLServer")):
        if key not in r:
            continue
        out += [f"| {title} | c | ours rps | ours p50 / p99 ms | {other} rps | {other} p50 / p99 ms "
                "| rps ratio | p99 ratio | errors |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for row in r[key]:
            out.append(
                f"| {row['case']} | {row['concurrency']} | {row['ours_rps']:,.0f} "
                f"| {row['ours_p50_ms']:.2f} / {row['ours_p99_ms']:.2f} | {row['other_rps']:,.0f} "
                f"| {row['other_p50_ms']:.2f} / {row['other_p99_ms']:.2f} | {row['rps_ratio']:.2f} "
                f"| {row['p99_ratio']:.2f} | {row['ours_errors']} / {row['other_errors']} |"
            )
        out.append("")
    if "serving" in r:
        from serving import render_tables
        from serving import targets as serving_targets

        out += [render_tables(r["serving"]), ""]
        targets += [(t, v, _ok(ok)) for t, v, ok in serving_targets(r["serving"])]
    for row in r.get("http", []):
        if row["case"].startswith("1 ") and row["concurrency"] in (16, 64):
            flag = row["rps_ratio"] >= 0.8 and row["p99_ratio"] <= 1.3 and row["ours_errors"] == 0
            targets.append((f"HTTP one customer c={row['concurrency']}: >= 0.8x floor rps, p99 <= 1.3x",
                            f"{row['rps_ratio']:.2f}x rps, {row['p99_ratio']:.2f}x p99", _ok(flag)))  # fmt: skip
        if row["case"].startswith("1000") and row["concurrency"] == 16:
            targets.append(("HTTP batch of 1,000 c=16: >= 2x floor customers/s", f"{row['rps_ratio']:.2f}x",
                            _ok(row["rps_ratio"] >= 2)))  # fmt: skip
    for row in r.get("peer", []):
        if row["concurrency"] == 16:
            flag = row["rps_ratio"] >= 2 and row["p99_ratio"] < 1
            targets.append(("peer c=16: >= 2x MLServer rps, lower p99",
                            f"{row['rps_ratio']:.2f}x rps, {row['p99_ratio']:.2f}x p99", _ok(flag)))  # fmt: skip
    if "service_rss_mb" in r:
        rss = r["service_rss_mb"]
        targets.append(("service RSS after warm-up < 250 MB",
                        f"{rss['after_warm_up']:.0f} MB ({rss['after_load']:.0f} MB after the load runs)",
                        _ok(rss["after_warm_up"] < 250)))  # fmt: skip
    if "aggregation" in r:
        out += ["| aggregation | customers | ours s (peak MB) | pandas s (peak MB) | DuckDB s (peak MB) "
                "| pandas / ours | ours / DuckDB | memory ours / DuckDB |",
                "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        for row in r["aggregation"]:
            out.append(
                f"| {row['lines']:,} lines, {LAYOUTS[row.get('layout', 'customer')]} | {row['customers']:,} | {row['ours_s']:.2f} ({row['ours_peak_mb']:.0f}) "
                f"| {row['pandas_s']:.2f} ({row['pandas_peak_mb']:.0f}) "
                f"| {row['duckdb_s']:.2f} ({row['duckdb_peak_mb']:.0f}) | {row['pandas_over_ours']:.2f}x "
                f"| {row['ours_over_duckdb']:.2f}x | {row['mem_ours_over_duckdb']:.2f}x |"
            )
        for big in [row for row in r["aggregation"] if row["lines"] >= 10_000_000]:
            where = f"{big['lines']:,} lines, {LAYOUTS[big.get('layout', 'customer')]}"
            targets.append((f"aggregation {where}: >= 5x pandas", f"{big['pandas_over_ours']:.2f}x",
                            _ok(big["pandas_over_ours"] >= 5)))  # fmt: skip
            targets.append(("... and <= 1.5x DuckDB time", f"{big['ours_over_duckdb']:.2f}x",
                            _ok(big["ours_over_duckdb"] <= 1.5)))  # fmt: skip
            targets.append(("... and <= 1.5x DuckDB peak memory", f"{big['mem_ours_over_duckdb']:.2f}x",
                            _ok(big["mem_ours_over_duckdb"] <= 1.5)))  # fmt: skip
        out.append("")
    if "training" in r:
        out += ["| training end to end | wall s | CPU s | peak MB |", "|---|---:|---:|---:|"]
        for row in r["training"]:
            out.append(f"| {row['input']} | {row['wall_s']:.1f} | {row['cpu_s']:.1f} | {row['peak_mb']:,.0f} |")
            if row["input"].startswith("generated"):
                targets.append(("10M lines train within 24 GiB", f"{row['peak_mb'] / 1024:.1f} GiB",
                                _ok(row["peak_mb"] < 24 * 1024)))  # fmt: skip
        out.append("")
    if "scaling" in r:
        pts = ", ".join(f"{p['customers']:,}: {p['wall_s']:.1f} s" for p in r["scaling"]["points"])
        out += [f"Training time vs customers: {pts}; log-log slope {r['scaling']['slope']:.2f}", ""]
        targets.append(("training linear in customers (slope <= 1.15)", f"{r['scaling']['slope']:.2f}",
                        _ok(r["scaling"]["slope"] <= 1.15)))  # fmt: skip
    out += ["| target | measured | |", "|---|---:|---|"]
    out += [f"| {t} | {v} | {ok} |" for t, v, ok in targets]
    return "\n".join(out)


def merge(paths: list[Path]) -> dict[str, Any]:
    """Results of several runs (each part's ratios come from its own run), machine of the first."""
    merged: dict[str, Any] = {}
    commands = []
    for path in paths:
        part = json.loads(path.read_text())
        commands.append(f"{part['command']}` ({part['machine']['date_utc']}, load {part['machine']['load_average_at_start'][0]:.1f})")
        merged = {**part, **merged} if merged else part
    merged["command"] = "`, then `".join(commands).rstrip("`")
    return merged


if __name__ == "__main__":
    files = [Path(p) for p in sys.argv[1:]] or [Path("bench/out/results.json")]
    print(render(merge(files)))

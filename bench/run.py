"""The benchmark suite: one command, one table, one JSON file (see README, "Performance").

    .venv/bin/python bench/run.py [--quick] [--only inproc,http,peer,agg,train,scaling]

Every figure is the median of repeated runs, and each comparison is measured side by
side in the same run so that its ratio holds on a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata as md
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

import loadtest  # noqa: E402

OUT = BENCH / "out"
MODEL = ROOT / "models" / "online-retail"
ONLINE_RETAIL = ROOT.parent / "shared" / "data" / "online_retail" / "online_retail_2010-2011.csv.gz"
CANONICAL = ["--k", "8", "--order-id-col", "order_id", "--amount-col", "amount", "--category-col", "category",
             "--product-id-col", "product_id", "--as-of", "2024-01-02T00:00:00Z"]  # fmt: skip


def machine() -> dict[str, Any]:
    import numpy  # noqa: F401  (loads its BLAS, so that threadpoolctl sees it)
    import sklearn.cluster  # noqa: F401
    from threadpoolctl import threadpool_info

    cpu = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
         if ln.startswith("model name")),
        platform.processor(),
    )  # fmt: skip
    libs = ["numpy", "pandas", "pyarrow", "scikit-learn", "fastapi", "pydantic", "uvicorn", "orjson", "duckdb"]
    versions = {name: md.version(name) for name in libs}
    peer = loadtest.PEER_PYTHON
    if peer.exists():
        code = "import importlib.metadata as m; print(m.version('mlserver'), m.version('mlserver-sklearn'))"
        ml, sk = subprocess.run([str(peer), "-c", code], capture_output=True, text=True).stdout.split()
        versions |= {"mlserver (peer venv)": ml, "mlserver-sklearn (peer venv)": sk}
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return {
        "date_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "load_average_at_start": os.getloadavg(),
        "python": platform.python_version(),
        "blas": [
            {k: i.get(k) for k in ("internal_api", "version", "num_threads", "threading_layer")}
            for i in threadpool_info()
        ],
        "versions": versions,
        "wrk": (wrk.stdout or wrk.stderr).split("\n")[0],
        "shared": "2 cores shared with 6 other developers' work during the run",
    }


def model_version_dir() -> Path:
    return MODEL / (MODEL / "LATEST").read_text().strip()


def run_http(quick: bool) -> dict[str, Any]:
    """The serving comparison of bench/serving.py: floors and ours, each in its own process."""
    import serving

    rows = serving.run(3 if quick else 5, 1 if quick else 2, list(serving.SERVERS))
    return {"rows": rows, "ratios": serving.ratios(rows)}


def _http_row(case: str, c: int, n: int, ours: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    return {
        "case": case,
        "concurrency": c,
        "ours_rps": ours["rps"],
        "ours_customers_per_s": ours["rps"] * n,
        "ours_p50_ms": ours["p50_us"] / 1e3,
        "ours_p99_ms": ours["p99_us"] / 1e3,
        "ours_errors": ours["errors"],
        "other_rps": other["rps"],
        "other_p50_ms": other["p50_us"] / 1e3,
        "other_p99_ms": other["p99_us"] / 1e3,
        "other_errors": other["errors"],
        "rps_ratio": ours["rps"] / max(other["rps"], 1e-9),
        "p99_ratio": ours["p99_us"] / max(other["p99_us"], 1),
    }


def run_peer(quick: bool) -> list[dict[str, Any]]:
    out = OUT / "http"
    out.mkdir(parents=True, exist_ok=True)
    ours_body, peer_body = loadtest.features_bodies(model_version_dir())
    (out / "features.json").write_bytes(ours_body)
    (out / "peer.json").write_bytes(peer_body)
    seconds, repeats = (3, 1) if quick else (6, 3)
    results: dict[int, dict[str, Any]] = {}
    peer_ctx, port = loadtest.peer_service(model_version_dir(), out)
    with peer_ctx:
        for c in (1, 16, 64):
            results[c] = {"peer": loadtest.median_run(
                f"http://127.0.0.1:{port}/v2/models/segments/infer", out / "peer.json", c, seconds, repeats
            )}  # fmt: skip
    ctx = loadtest.our_service(model_version_dir(), out)
    with ctx:
        url = f"http://127.0.0.1:{ctx.port}/v1/assign"  # type: ignore[attr-defined]
        for c in (1, 16, 64):
            results[c]["ours"] = loadtest.median_run(url, out / "features.json", c, seconds, repeats)
    return [_http_row("1 customer, precomputed features", c, 1, r["ours"], r["peer"]) for c, r in results.items()]


def timed_process(cmd: list[str]) -> dict[str, Any]:
    """Run ``cmd``; its wall seconds and peak RSS (wait4 on that one child)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    stdout = proc.stdout.read().decode() if proc.stdout else ""
    stderr = proc.stderr.read().decode() if proc.stderr else ""
    if status != 0:
        raise RuntimeError(f"{cmd} failed: {stderr[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime, "peak_mb": usage.ru_maxrss / 1024,
            "stdout": stdout}  # fmt: skip


def ensure_file(lines: int, customers: int | None = None, layout: str = "customer") -> Path:
    name = f"tx_{lines // 1_000_000}m" if customers is None else f"tx_{customers}c"
    path = OUT / f"{name}{'' if layout == 'customer' else '_' + layout}.parquet"
    if not path.exists():
        cmd = [sys.executable, str(BENCH / "generate.py"), "--lines", str(lines), "--out", str(path)]
        cmd += ["--layout", layout]
        if customers:
            cmd += ["--customers", str(customers)]
        subprocess.run(cmd, check=True)
    return path


def run_agg(quick: bool) -> list[dict[str, Any]]:
    rows = []
    sizes = [(1_000_000, "customer")]
    if not quick:  # the same 10M lines grouped by customer, and in time order as a shop's log
        sizes += [(10_000_000, "customer"), (10_000_000, "time")]
    for lines, layout in sizes:
        path = ensure_file(lines, layout=layout)
        runs: dict[str, list[dict[str, Any]]] = {"ours": [], "pandas": [], "duckdb": []}
        for rep in range(1 if quick else 3):  # interleaved, so that load changes hit all three alike
            for method in runs:
                save = [str(OUT / f"agg_{method}.npy")] if rep == 0 else []
                res = timed_process([sys.executable, str(BENCH / "agg.py"), method, str(path), *save])
                runs[method].append(json.loads(res["stdout"].strip().splitlines()[-1]))
        check_agreement(runs)
        med = {m: _median_by(r, "seconds") for m, r in runs.items()}
        rows.append({
            "lines": lines,
            "layout": layout,
            "customers": med["ours"]["customers"],
            **{f"{m}_s": med[m]["seconds"] for m in runs},
            **{f"{m}_peak_mb": _median([r["peak_mb"] for r in runs[m]]) for m in runs},
            "pandas_over_ours": med["pandas"]["seconds"] / med["ours"]["seconds"],
            "ours_over_duckdb": med["ours"]["seconds"] / med["duckdb"]["seconds"],
            "mem_ours_over_duckdb": _median([r["peak_mb"] for r in runs["ours"]])
            / _median([r["peak_mb"] for r in runs["duckdb"]]),
        })  # fmt: skip
    return rows


def check_agreement(runs: dict[str, list[dict[str, Any]]]) -> None:
    """The three methods' features agree to 1e-9 (relative or absolute), for the same customers in order."""
    import numpy as np

    ours = np.load(OUT / "agg_ours.npy")
    for method in ("pandas", "duckdb"):
        if runs[method][0]["ids_sha256"] != runs["ours"][0]["ids_sha256"]:
            raise RuntimeError(f"aggregation: {method} and ours give different customers (or order)")
        np.testing.assert_allclose(np.load(OUT / f"agg_{method}.npy"), ours, rtol=1e-9, atol=1e-9)
    for method in runs:
        (OUT / f"agg_{method}.npy").unlink()


def fit_cmd(path: Path, out: Path, name: str, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "training", "fit", "--input", str(path), "--out", str(out), "--name", name, *extra]


def run_train(quick: bool) -> list[dict[str, Any]]:
    out = OUT / "models"
    rows = []
    if ONLINE_RETAIL.exists():
        spec = ["--dataset", str(ROOT / "training/datasets/online_retail.toml"), "--as-of", "2011-12-10T00:00:00Z",
                "--seed", "42"]  # fmt: skip
        res = timed_process(fit_cmd(ONLINE_RETAIL, out, "online-retail", spec))
        rows.append({"input": "Online Retail (541,909 lines)", **_strip(res)})
    if not quick:
        res = timed_process(fit_cmd(ensure_file(10_000_000), out, "tx10m", CANONICAL))
        rows.append({"input": "generated, 10M lines, 1M customers", **_strip(res)})
    return rows


def run_scaling(quick: bool, known: dict[int, float]) -> dict[str, Any]:
    """Training time against customers (10 lines each); log-log least-squares slope."""
    out = OUT / "models"
    sizes = (10_000, 100_000) if quick else (10_000, 100_000, 1_000_000)
    points = []
    for n in sizes:
        if n in known:
            points.append({"customers": n, "wall_s": known[n]})
            continue
        path = ensure_file(n * 10, customers=n) if n != 1_000_000 else ensure_file(10_000_000)
        res = timed_process(fit_cmd(path, out, f"scale{n}", CANONICAL))
        points.append({"customers": n, **_strip(res)})
    xs = [math.log(p["customers"]) for p in points]
    ys = [math.log(p["wall_s"]) for p in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)
    return {"points": points, "slope": slope}


def _strip(res: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in res.items() if k != "stdout"}


def _median(values: list[float]) -> float:
    s = sorted(values)
    return s[len(s) // 2]


def _median_by(runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    return sorted(runs, key=lambda r: r[key])[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and repeats (a smoke run)")
    parser.add_argument("--only", default="inproc,http,peer,agg,train,scaling")
    parser.add_argument("--json", type=Path, default=OUT / "results.json")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    OUT.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"command": " ".join(["python", "bench/run.py", *sys.argv[1:]]), "machine": machine()}
    if "inproc" in parts:
        import inproc

        results["inproc"] = inproc.run(model_version_dir(), repeats=3 if args.quick else 7)
    if "http" in parts:
        results["serving"] = run_http(args.quick)
    if "peer" in parts:
        results["peer"] = run_peer(args.quick)
    if "agg" in parts:
        results["aggregation"] = run_agg(args.quick)
    if "train" in parts:
        results["training"] = run_train(args.quick)
    if "scaling" in parts:
        known = {1_000_000: r["wall_s"] for r in results.get("training", []) if r["input"].startswith("generated")}
        results["scaling"] = run_scaling(args.quick, known)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    from report import render

    print(render(results))
    print(f"\nJSON: {args.json}")


if __name__ == "__main__":
    main()

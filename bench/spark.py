"""Train and score a large Parquet data set with the Spark engine; wall time and peak memory.

Runs ``python -m training fit --engine spark`` and ``python -m training assign --engine spark``
as child processes under ``/usr/bin/time -v`` (the driver's peak RSS) and samples, every
``--interval`` seconds, the resident memory of the whole process tree: the driver's Python,
Spark's JVM (driver and executors in ``local[N]``) and its Python workers.

Usage (the data set from ``bench/generate.py --parts``)::

    python bench/generate.py --lines 100000000 --parts 20 --out bench/out/tx_100m
    nice -n 10 python bench/spark.py --input bench/out/tx_100m --master 'local[2]' --driver-memory 4g
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

PAGE = os.sysconf("SC_PAGE_SIZE")
#: bench/generate.py writes the canonical columns (as bench/run.py maps them)
COLUMNS = ["--order-id-col", "order_id", "--amount-col", "amount", "--category-col", "category"]
COLUMNS += ["--product-id-col", "product_id"]


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _rss(pid: int) -> tuple[int, str]:
    """Resident bytes and command name of a process (0 when it is gone)."""
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return 0, ""
    return pages * PAGE, name


class TreeSampler(threading.Thread):
    """Peak RSS of a process tree: in total, of the JVM, and of the Python processes."""

    def __init__(self, root: int, interval: float) -> None:
        super().__init__(daemon=True)
        self.root, self.interval = root, interval
        self.peak = {"total": 0, "java": 0, "python": 0}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            tree, todo, now = _children(), [self.root], {"total": 0, "java": 0, "python": 0}
            while todo:
                pid = todo.pop()
                todo += tree.get(pid, [])
                rss, name = _rss(pid)
                now["total"] += rss
                kind = "java" if name == "java" else "python" if name.startswith("python") else None
                if kind:
                    now[kind] += rss
            for k, v in now.items():
                self.peak[k] = max(self.peak[k], v)
            self.done.wait(self.interval)


def measure(command: list[str], interval: float) -> dict[str, float | int | str]:
    """Run ``command`` under ``/usr/bin/time -v``; wall seconds, CPU seconds and peak memory (MB)."""
    timed = ["/usr/bin/time", "-v", *command]
    started = time.perf_counter()
    proc = subprocess.Popen(timed, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sampler = TreeSampler(proc.pid, interval)
    sampler.start()
    out, err = proc.communicate()
    sampler.done.set()
    sampler.join()
    wall = time.perf_counter() - started
    if proc.returncode:
        sys.stderr.write(err[-4000:])
        raise SystemExit(f"{command[3:5]} failed with exit code {proc.returncode}")
    field = {
        k: re.search(rf"{re.escape(k)}[^:\n]*: (.+)", err)
        for k in ("Maximum resident set size", "User time", "System time")
    }
    values = {k: (m.group(1).strip() if m else "") for k, m in field.items()}
    return {
        "wall_s": round(wall, 1),
        "driver_python_cpu_s": round(float(values["User time"] or 0) + float(values["System time"] or 0), 1),
        "driver_python_peak_mb": round(int(values["Maximum resident set size"] or 0) / 1024),
        "tree_peak_mb": round(sampler.peak["total"] / 2**20),
        "jvm_peak_mb": round(sampler.peak["java"] / 2**20),
        "python_peak_mb": round(sampler.peak["python"] / 2**20),
        "output": out[-3000:],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--input", type=Path, required=True, help="Parquet directory (bench/generate.py --parts)"
    )
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument(
        "--work", type=Path, default=Path("bench/out/spark"), help="models and scores go here"
    )
    parser.add_argument("--k", type=int, default=8, help="segments (fixed: the bench times the engine)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between memory samples")
    parser.add_argument("--skip-score", action="store_true")
    parser.add_argument("--model", type=Path, help="score with this model (no fit)")
    parser.add_argument("--results", type=Path, default=Path("bench/results"))
    args = parser.parse_args()
    shutil.rmtree(args.work / "scores.parquet" if args.model else args.work, ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    spark = ["--engine", "spark", "--master", args.master, "--driver-memory", args.driver_memory, *COLUMNS]
    python = [sys.executable, "-m", "shopper_segments.training"]
    files = sorted(args.input.glob("*.parquet"))
    lines = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    result: dict[str, object] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "input": str(args.input),
        "lines": lines,
        "input_mb": round(sum(f.stat().st_size for f in files) / 2**20),
        "master": args.master,
        "driver_memory": args.driver_memory,
        "cpus": os.cpu_count(),
        "loadavg_at_start": os.getloadavg(),
    }
    fit = [*python, "fit", "--input", str(args.input), *spark, "--k", str(args.k), "--no-report"]
    fit += ["--out", str(args.work / "models"), "--name", "bench", "--no-previous"]
    if not args.model:
        print(f"fit: {lines:,} lines on {args.master}, driver {args.driver_memory}", flush=True)
        result["fit"] = measure(fit, args.interval)
        print(json.dumps(result["fit"], indent=1), flush=True)
    if not args.skip_score:
        model = args.model or args.work / "models" / "bench"
        score = [*python, "assign", "--model", str(model), "--input", str(args.input), *spark]
        score += ["--output", str(args.work / "scores.parquet")]
        print("score", flush=True)
        result["score"] = measure(score, args.interval)
        print(json.dumps(result["score"], indent=1), flush=True)
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d-%H%M")
    path = args.results / f"{stamp}-spark-{lines // 1_000_000}m.json"
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"results: {path}")


if __name__ == "__main__":
    main()

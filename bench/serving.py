"""Serving against honest floors, one command, one table, one JSON file (docs/performance.md).

    .venv/bin/python bench/serving.py [--seconds 5] [--rounds 2] [--no-inproc]

Starts each server in its own process: three floors without any middleware of ours
(bench/floors/: Starlette answering a fixed body; FastAPI validating the same request shape
with pydantic in an ``async def`` and in a ``def`` route) and our service as ``python -m
shopper_segments.app.serve`` starts it (logs, metrics and drift on) with 1 and 2 workers.
wrk (-t1) posts one customer with 10 lines at c=16 and c=64, and a batch of 1,000 customers
at c=16 (runs twice as long). The servers take turns, case by case and round by round, so
that a change of load on a shared machine hits them alike; each figure is the median over
rounds. Ratios are against each floor of the same run. The load average is recorded before
every wrk run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]

import loadtest  # noqa: E402

OUT = BENCH / "out" / "serving"
RESULTS = BENCH / "results"
MODEL = ROOT / "models" / "online-retail"

#: name -> (what it is, module of bench/floors or None for ours, workers)
SERVERS: dict[str, tuple[str, str | None, int]] = {
    "starlette": ("Starlette, fixed answer", "starlette_fixed", 1),
    "fastapi_async": ("FastAPI async def, pydantic validation only", "fastapi_async", 1),
    "fastapi_sync": ("FastAPI def, pydantic validation only", "fastapi_sync", 1),
    "ours_1w": ("ours, POST /v1/assign, 1 worker", None, 1),
    "ours_2w": ("ours, POST /v1/assign, 2 workers", None, 2),
}
FLOORS = ("starlette", "fastapi_async", "fastapi_sync")
#: (case name, customers per request, wrk connections)
CASES: list[tuple[str, int, int]] = [("one", 1, 16), ("one", 1, 64), ("batch", 1000, 16)]


def command(name: str, port: int) -> list[str]:
    """The command line that serves ``name`` on ``port`` (asyncio loop, as ``make serve``)."""
    _, module, workers = SERVERS[name]
    common = ["--host", "127.0.0.1", "--port", str(port), "--loop", "asyncio"]
    if module is None:
        return [sys.executable, "-m", "shopper_segments.app.serve", *common, "--workers", str(workers)]
    floors = str(BENCH / "floors")
    return [sys.executable, "-m", "uvicorn", "--app-dir", floors, f"{module}:app", *common, "--no-access-log"]


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` and its children (the workers).

    Read from /proc; 0.0 where it is not readable (not Linux, or the process is gone).
    """
    tick = os.sysconf("SC_CLK_TCK")
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError, IndexError):
            continue
    return total / tick


@contextlib.contextmanager
def servers(names: list[str], out: Path) -> Iterator[dict[str, tuple[str, int]]]:
    """Every server of ``names`` up at once (idle ones cost nothing); their base URLs and pids.

    All are started before any is waited for, so their startups overlap.
    """
    model_dir = MODEL / (MODEL / "LATEST").read_text().strip()
    env = {**os.environ, "SEGMENTS_MODEL_DIR": str(model_dir), "SEGMENTS_MODEL_ROOT": str(MODEL.parent)}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        urls = {}
        for name in names:
            port = loadtest.free_port()
            urls[name] = f"http://127.0.0.1:{port}"
            with (out / f"{name}.log").open("wb") as log:
                procs.append(
                    subprocess.Popen(
                        command(name, port), env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT
                    )
                )
        for name, proc in zip(names, procs, strict=True):
            loadtest.wait_ready(f"{urls[name]}/readyz", proc)
        yield {name: (urls[name], proc.pid) for name, proc in zip(names, procs, strict=True)}
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run(
    seconds: int,
    rounds: int,
    names: list[str],
    cases: list[tuple[str, int, int]] | None = None,
    warmup: int = 1,
    out: Path = OUT,
) -> list[dict[str, Any]]:
    """wrk figures per case and server: median over ``rounds`` of ``seconds``-long runs."""
    cases = CASES if cases is None else cases
    out.mkdir(parents=True, exist_ok=True)
    bodies = {n: out / f"body_{n}.json" for _, n, _ in cases}
    for n, path in bodies.items():
        path.write_bytes(loadtest.history_body(n))
    rows = []
    with servers(names, out) as running:
        for case, n, c in cases:
            runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
            for name in names:  # warm-up: first requests build caches, both workers start answering
                if warmup:
                    loadtest.wrk(f"{running[name][0]}/v1/assign", bodies[n], c, warmup)
            for _ in range(rounds):
                for name in names:
                    url, pid = running[name]
                    load, cpu = os.getloadavg()[0], tree_cpu_seconds(pid)
                    # a batch takes ~0.1-2 s under c=16: twice as long, for enough answers per run
                    res = loadtest.wrk(f"{url}/v1/assign", bodies[n], c, seconds * (1 if n == 1 else 2))
                    # the server's own CPU per answer: what it costs, whatever else the machine runs
                    cpu_us = (tree_cpu_seconds(pid) - cpu) * 1e6 / max(res["requests"], 1)
                    runs[name].append({**res, "load_1min": load, "cpu_us_per_request": cpu_us})
            for name in names:
                rows.append(summary(case, n, c, name, runs[name]))
    return rows


def summary(case: str, n: int, c: int, name: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(key: str) -> float:
        values = sorted(r[key] for r in runs)
        return float(values[len(values) // 2])

    rps = median("rps")
    return {
        "case": case,
        "customers": n,
        "concurrency": c,
        "server": name,
        "what": SERVERS[name][0],
        "rps": rps,
        "customers_per_s": rps * n,
        "p50_ms": median("p50_us") / 1e3,
        "p99_ms": median("p99_us") / 1e3,
        "cpu_us_per_request": median("cpu_us_per_request"),
        "errors": sum(r["errors"] for r in runs),
        "load_1min": [r["load_1min"] for r in runs],
    }


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each of our rows against each floor of the same case (rps and p99)."""
    out = []
    for row in rows:
        if row["server"] in FLOORS:
            continue
        same = {
            r["server"]: r for r in rows if (r["case"], r["concurrency"]) == (row["case"], row["concurrency"])
        }
        for floor in FLOORS:
            if floor in same:
                f = same[floor]
                out.append(
                    {
                        "case": row["case"],
                        "concurrency": row["concurrency"],
                        "ours": row["server"],
                        "floor": floor,
                        "rps_ratio": row["rps"] / max(f["rps"], 1e-9),
                        "p99_ratio": row["p99_ms"] / max(f["p99_ms"], 1e-9),
                    }
                )
        one = same.get("ours_1w")
        if row["server"] == "ours_2w" and one is not None:
            out.append(
                {
                    "case": row["case"],
                    "concurrency": row["concurrency"],
                    "ours": "ours_2w",
                    "floor": "ours_1w",
                    "rps_ratio": row["rps"] / max(one["rps"], 1e-9),
                    "p99_ratio": row["p99_ms"] / max(one["p99_ms"], 1e-9),
                }
            )
    return out


def _ratio(results: dict[str, Any], case: str, c: int, ours: str, floor: str) -> dict[str, Any] | None:
    key = (case, c, ours, floor)
    return next(
        (r for r in results["ratios"] if (r["case"], r["concurrency"], r["ours"], r["floor"]) == key), None
    )


def targets(results: dict[str, Any]) -> list[tuple[str, str, bool]]:
    """(target, measured, met) for the issue's targets that this run measured."""
    out = []
    for c in (16, 64):
        r = _ratio(results, "one", c, "ours_1w", "fastapi_async")
        if r:
            met = r["rps_ratio"] >= 1.0 and r["p99_ratio"] <= 1.0
            out.append(
                (
                    f"one customer c={c}, 1 worker: >= 1.0x FastAPI async rps, p99 <= its p99",
                    f"{r['rps_ratio']:.2f}x rps, {r['p99_ratio']:.2f}x p99",
                    met,
                )
            )
        s = _ratio(results, "one", c, "ours_1w", "starlette")
        if s:
            out.append(
                (
                    f"stretch: one customer c={c}: >= 0.5x Starlette fixed answer",
                    f"{s['rps_ratio']:.2f}x",
                    s["rps_ratio"] >= 0.5,
                )
            )
    sync, asyn = (_ratio(results, "batch", 16, "ours_1w", f) for f in ("fastapi_sync", "fastapi_async"))
    if sync and asyn:
        out.append(
            (
                "batch of 1,000: >= 2x sync floor and >= 1.5x async floor (customers/s)",
                f"{sync['rps_ratio']:.2f}x sync, {asyn['rps_ratio']:.2f}x async",
                sync["rps_ratio"] >= 2 and asyn["rps_ratio"] >= 1.5,
            )
        )
    for c in (16, 64):
        w = _ratio(results, "one", c, "ours_2w", "ours_1w")
        if w:
            out.append(
                (
                    f"2 workers vs 1, one customer c={c}: >= 1.7x",
                    f"{w['rps_ratio']:.2f}x",
                    w["rps_ratio"] >= 1.7,
                )
            )
    if "inproc" in results:
        one = results["inproc"]["speedup"]
        out.append(("in-process one customer: >= 20x pipeline.predict (DataFrame)", f"{one:.1f}x", one >= 20))
    return out


def render_tables(results: dict[str, Any]) -> str:
    """The figures per case and server, then each of ours against each floor (Markdown)."""
    lines = [
        "| case | c | server | req/s | customers/s | p50 ms | p99 ms | CPU us/req | errors | load (1 min) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results["rows"]:
        case = "1 customer x 10 lines" if r["case"] == "one" else "1,000 customers x 10 lines"
        load = ", ".join(f"{x:.1f}" for x in r["load_1min"])
        lines.append(
            f"| {case} | {r['concurrency']} | {r['what']} | {r['rps']:,.0f} | {r['customers_per_s']:,.0f} "
            f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r.get('cpu_us_per_request', float('nan')):,.0f} "
            f"| {r['errors']} | {load} |"
        )
    lines += ["", "| case | c | ours | against | req/s ratio | p99 ratio |", "|---|---:|---|---|---:|---:|"]
    for r in results["ratios"]:
        lines.append(
            f"| {r['case']} | {r['concurrency']} | {r['ours']} | {r['floor']} "
            f"| {r['rps_ratio']:.2f}x | {r['p99_ratio']:.2f}x |"
        )
    return "\n".join(lines)


def render(results: dict[str, Any]) -> str:
    """The whole report of one run: machine, tables, in-process figure, targets."""
    m = results["machine"]
    lines = [
        f"Command: `{results['command']}`  ",
        f"Machine: {m['cores']} cores, {m['cpu']}, {m['memory_gib']} GiB, Python {m['python']}, {m['wrk']}; "
        f"load average {m['load_average_at_start'][0]:.2f} at start, "
        f"{m['load_average_at_end'][0]:.2f} at end; "
        f"{m['date_utc']}",
        "",
        render_tables(results),
    ]
    if "inproc" in results:
        i = results["inproc"]
        lines += [
            "",
            f"In-process, 1 customer x 10 lines: ours {i['ours_us']:.1f} us, pipeline.predict (one-row "
            f"DataFrame) {i['sklearn_predict_df_us']:.1f} us: {i['speedup']:.1f}x",
        ]
    lines += ["", "| target | measured | |", "|---|---|---|"]
    lines += [f"| {t} | {v} | {'met' if ok else 'MISSED'} |" for t, v, ok in targets(results)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=2, help="runs per case and server (median)")
    parser.add_argument(
        "--servers", default=",".join(SERVERS), help="comma-separated subset of " + ",".join(SERVERS)
    )
    parser.add_argument("--no-inproc", action="store_true", help="skip the in-process comparison")
    parser.add_argument("--json", type=Path, help="where to save (default bench/results/<date>-serving.json)")
    args = parser.parse_args(argv)
    from run import machine

    results: dict[str, Any] = {
        "command": " ".join(["python", "bench/serving.py", *(argv or sys.argv[1:])]),
        "machine": machine(),
    }
    results["machine"]["shared"] = "2 cores shared with other developers' jobs during the run"
    if not args.no_inproc:
        import inproc

        model_dir = MODEL / (MODEL / "LATEST").read_text().strip()
        results["inproc"] = inproc.one_customer(model_dir)
    results["rows"] = run(args.seconds, args.rounds, args.servers.split(","))
    results["ratios"] = ratios(results["rows"])
    results["machine"]["load_average_at_end"] = os.getloadavg()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d-%H%M")
    path = args.json or RESULTS / f"{stamp}-serving.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))
    print(render(results))
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()

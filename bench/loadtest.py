"""HTTP on loopback with wrk: servers in their own processes, request bodies, the MLServer peer."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEER_PYTHON = BENCH / ".venv-peer" / "bin" / "python"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, proc: subprocess.Popen[bytes], seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{url} not ready")


@contextlib.contextmanager
def serve(cmd: list[str], env: dict[str, str], ready_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
        try:
            wait_ready(ready_url, proc)
            yield proc
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wrk(url: str, body_file: Path, connections: int, seconds: int) -> dict[str, Any]:
    out = subprocess.run(
        [
            "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
            "-s", str(BENCH / "post.lua"), url, "--", str(body_file),
        ],  # fmt: skip
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("WRKJSON "))
    data = json.loads(line.removeprefix("WRKJSON "))
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["errors"] = data["non2xx"] + data["socket_errors"]
    return data


def median_run(url: str, body: Path, c: int, seconds: int, repeats: int) -> dict[str, Any]:
    runs = sorted((wrk(url, body, c, seconds) for _ in range(repeats)), key=lambda r: r["rps"])
    mid = runs[len(runs) // 2]
    mid["errors"] = sum(r["errors"] for r in runs)
    mid["p99_us"] = sorted(r["p99_us"] for r in runs)[len(runs) // 2]
    mid["p50_us"] = sorted(r["p50_us"] for r in runs)[len(runs) // 2]
    return mid


def history_body(n_customers: int) -> bytes:
    sys.path.insert(0, str(BENCH))
    from inproc import customer_lines

    customers = []
    for i in range(n_customers):
        lines = customer_lines(i)
        txs = [
            {k: v for k, v in t.items() if v is not None and k not in ("quantity", "unit_price")} for t in lines
        ]
        customers.append({"customer_id": f"c{i}", "transactions": txs})
    return orjson.dumps({"as_of": "2011-12-10T00:00:00Z", "customers": customers}, option=orjson.OPT_UTC_Z)


def features_bodies(model_dir: Path) -> tuple[bytes, bytes]:
    """One customer's precomputed features: for us (original units) and for MLServer (transformed)."""
    import numpy as np

    from shopper_segments.core.artifact import load_model
    from shopper_segments.core.transforms import transform_features

    meta, _, model = load_model(model_dir)
    names = model.spec.names
    x = np.array([[meta["feature_ranges"][n]["median"] for n in names]])
    ours = {"customers": [{"customer_id": "a", "features": dict(zip(names, x[0].tolist(), strict=True))}]}
    xt = transform_features(x, model.spec)[0].tolist()
    v2 = {"inputs": [{"name": "features", "shape": [1, len(names)], "datatype": "FP64", "data": xt}]}
    return orjson.dumps(ours), orjson.dumps(v2)


def our_service(model_dir: Path, out: Path) -> contextlib.AbstractContextManager[subprocess.Popen[bytes]]:
    port = free_port()
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "shopper_segments.app.main:create_app", "--host", "127.0.0.1",
           "--port", str(port), "--workers", "1", "--timeout-keep-alive", "75", "--loop", "asyncio"]  # fmt: skip
    env = {"SEGMENTS_MODEL_DIR": str(model_dir.resolve()), "PYTHONPATH": str(ROOT)}
    ctx = serve(cmd, env, f"http://127.0.0.1:{port}/readyz", out / "uvicorn.log")
    ctx.port = port  # type: ignore[attr-defined]
    return ctx


def peer_service(model_dir: Path, out: Path) -> tuple[contextlib.AbstractContextManager[Any], int]:
    """MLServer with its scikit-learn runtime serving the same pipeline.joblib (one process)."""
    if not PEER_PYTHON.exists():
        raise RuntimeError("bench/.venv-peer is missing: run `make bench-peer`")
    repo = out / "mlserver"
    shutil.rmtree(repo, ignore_errors=True)
    (repo / "segments").mkdir(parents=True)
    shutil.copy(model_dir / "pipeline.joblib", repo / "segments" / "model.joblib")
    port, grpc, metrics = free_port(), free_port(), free_port()
    (repo / "settings.json").write_text(
        json.dumps(
            {
                "http_port": port,
                "grpc_port": grpc,
                "metrics_port": metrics,
                "parallel_workers": 0,
                "host": "127.0.0.1",
            }
        )
    )
    (repo / "segments" / "model-settings.json").write_text(
        json.dumps(
            {
                "name": "segments",
                "implementation": "mlserver_sklearn.SKLearnModel",
                "parameters": {"uri": "./model.joblib", "version": "v1"},
            }
        )
    )
    cmd = [str(PEER_PYTHON.parent / "mlserver"), "start", str(repo)]
    ready = f"http://127.0.0.1:{port}/v2/models/segments/ready"
    return serve(cmd, {}, ready, out / "mlserver.log"), port

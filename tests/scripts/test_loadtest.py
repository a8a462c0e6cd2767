"""scripts/loadtest.py as an operator runs it, briefly: it drives a real server and reports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT


def test_a_short_load_run_reports_its_figures(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    command = [sys.executable, "scripts/loadtest.py", "--duration", "2", "--warmup", "1"]
    command += ["--concurrency", "8", "--batch-every", "2", "--max-rss-growth", "1", "--json", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    assert report["concurrency"] == 8
    run = report["run"]
    assert run["failures"] == 0
    assert run["requests"] == run["single"]["requests"] + run["batch"]["requests"] > 0
    assert 0 < run["all"]["p50_ms"] <= run["all"]["p99_ms"]
    assert report["rss_mib_after_warmup"] > 50
    growth = report["rss_mib_after_run"] / report["rss_mib_after_warmup"] - 1
    assert abs(report["rss_growth"] - growth) < 0.002

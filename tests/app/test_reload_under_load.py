"""Swapping models back and forth on a real uvicorn process under load: no request fails.

Every answer must equal, exactly, what the model version it names computes for the request
(precomputed in-process for both models), so an answer mixing two versions is caught.
"""

from __future__ import annotations

import shutil
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.app.two_models import TwoModels, expected_results, request_body, train_two
from tests.conftest import Server, start_server, stop_server

KEY = "admin-key-for-tests"
CLIENTS = 6


class Load:
    """``CLIENTS`` threads posting the same request in a loop, checking every answer."""

    def __init__(
        self, server: Server, body: dict[str, Any], expected: dict[str, list[dict[str, Any]]]
    ) -> None:
        self.server, self.body, self.expected = server, body, expected
        self.versions: list[str] = []
        self.failures: list[str] = []
        self.stop = threading.Event()
        # Half the clients ask for explanations, which must come from the answering version too.
        self.threads = [threading.Thread(target=self.client, args=(i % 2 == 1,)) for i in range(CLIENTS)]

    def client(self, explain: bool) -> None:
        with httpx.Client(base_url=self.server.url, timeout=60) as client:
            while not self.stop.is_set():
                try:
                    r = client.post(
                        "/v1/assign", json=self.body, params={"explain": "true"} if explain else {}
                    )
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if r.status_code != 200:
                    self.failures.append(f"HTTP {r.status_code}: {r.text[:300]}")
                    continue
                answer = r.json()
                version = answer["model_version"]
                whys = [result.pop("explanation", None) for result in answer["results"]]
                if explain and not all(
                    why and abs(why["squared_distance"] - result["distance"] ** 2) < 1e-9
                    for why, result in zip(whys, answer["results"], strict=True)
                ):
                    self.failures.append(f"explanations of {version} missing or from another model")
                if answer["results"] != self.expected.get(version):
                    self.failures.append(f"answer of {version} differs from that model's own answer")
                self.versions.append(version)

    def wait_for(self, version: str, answers: int = 3, timeout: float = 30) -> None:
        """Until ``answers`` more answers came from ``version`` (so it served under load)."""
        start = len(self.versions)
        deadline = time.monotonic() + timeout
        while self.versions[start:].count(version) < answers:
            assert time.monotonic() < deadline, f"{version} did not answer within {timeout} s"
            assert not self.failures, self.failures[:3]
            time.sleep(0.02)


def swap(server: Server, models: TwoModels, to: str, how: str) -> None:
    """Activate version ``to`` by one of the three ways an operator can."""
    admin = {"Authorization": f"Bearer {KEY}"}
    if how == "endpoint":
        r = httpx.post(f"{server.url}/v1/admin/reload", json={"model_dir": models.rel(to)}, headers=admin)
        assert (r.status_code, r.json()["model_version"]) == (200, to), r.text
    elif how == "endpoint-latest":
        models.point_latest(to)
        r = httpx.post(f"{server.url}/v1/admin/reload", headers=admin)
        assert (r.status_code, r.json()["model_version"]) == (200, to), r.text
    else:
        models.point_latest(to)
        server.proc.send_signal(signal.SIGHUP)


def test_swapping_models_under_load_fails_no_request(tmp_path: Path) -> None:
    models = train_two(tmp_path)
    body = request_body(8)
    expected = expected_results(models, body)
    server = start_server(
        models.root,
        models.name_dir,
        tmp_path / "uvicorn.log",
        SEGMENTS_ADMIN_KEY=KEY,
        UVICORN_TIMEOUT_KEEP_ALIVE="75",
    )
    load = Load(server, body, expected)
    plan = [
        "endpoint",
        "endpoint",
        "endpoint-latest",
        "sighup",
        "sighup",
        "endpoint",
        "sighup",
        "endpoint-latest",
    ]
    try:
        for thread in load.threads:
            thread.start()
        load.wait_for(models.a)
        current = models.a
        for how in plan:
            current = models.b if current == models.a else models.a
            swap(server, models, current, how)
            load.wait_for(current)
        refused = httpx.post(
            f"{server.url}/v1/admin/reload",
            json={"model_dir": "no-such-model"},
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert refused.status_code == 409
        load.wait_for(current)
        broken = models.name_dir / "broken"  # truncated pipeline, named by LATEST, then SIGHUP
        shutil.copytree(models.name_dir / current, broken)
        (broken / "pipeline.joblib").write_bytes((broken / "pipeline.joblib").read_bytes()[:100])
        models.point_latest("broken")
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 30
        while "reload (SIGHUP) of" not in server.log.read_text():
            assert time.monotonic() < deadline, "the SIGHUP reload was not logged"
            time.sleep(0.05)
        load.wait_for(current)
    finally:
        load.stop.set()
        for thread in load.threads:
            thread.join(timeout=60)
        stop_server(server)
    changes = sum(1 for x, y in zip(load.versions, load.versions[1:], strict=False) if x != y)
    print(
        f"reload under load: {len(plan)} swaps ({Counter(plan)}), {len(load.versions) + len(load.failures)} "
        f"requests from {CLIENTS} clients, {len(load.failures)} failed, answers per version "
        f"{dict(Counter(load.versions))}, version changes seen in the answer stream {changes}"
    )
    assert load.failures == []
    assert changes >= len(plan)
    log = server.log.read_text()
    assert log.count("reload (SIGHUP): now serving") == plan.count("sighup")
    assert "reload (admin endpoint) of no-such-model refused" in log
    assert f"refused, {current} keeps serving: " in log and "altered or truncated" in log

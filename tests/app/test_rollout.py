"""A rollout behind nginx: two replicas (two workers each), a new version activated under load.

On loopback: nginx runs deploy/nginx/nginx.conf (upstream, listen port and paths rewritten to
this test's) in front of two ``python -m shopper_segments.app.serve --workers 2`` processes
on one model root. Client threads post /v1/assign through nginx while ``LATEST`` is flipped
to another version: no request may fail, every answer must be exactly what the version it
names assigns, and every worker of every replica must serve the new version within the
watch interval plus a load.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.app.test_workers import scrape, worker_versions
from tests.app.two_models import TwoModels, expected_results, request_body, train_two
from tests.conftest import ROOT, Server, free_port, start_server, stop_server

NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"
REPLICAS, WORKERS, CLIENTS = 2, 2, 4
WATCH_INTERVAL_S = 1.0
LOAD_BOUND_S = 4.0  # one model load on a loaded 2-CPU machine, generously
WARMUP_S, DURATION_S = 2.0, 8.0


def nginx_binary() -> str:
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).exists():
        pytest.skip("nginx is not installed (make nginx installs Debian's package)")
    return found


def render_conf(prefix: Path, port: int, upstreams: list[str]) -> Path:
    """The shipped config, pointed at ``upstreams`` and written under ``prefix`` (no root paths)."""
    text = NGINX_CONF.read_text()
    server_line = re.search(r"^\s*server replica:8000 (.*);$", text, re.M)
    assert server_line, "deploy/nginx/nginx.conf names its upstream `server replica:8000 ...;`"
    servers = "\n".join(f"        server {u} {server_line.group(1)};" for u in upstreams)
    text = text.replace(server_line.group(0), servers)
    assert "listen 8080;" in text
    text = text.replace("listen 8080;", f"listen 127.0.0.1:{port};")
    text = text.replace("/tmp/", f"{prefix}/").replace("/dev/stderr", str(prefix / "error.log"))
    if os.geteuid() == 0:  # nginx's workers would otherwise switch to nobody
        text = f"user {getpass.getuser()};\n{text}"
    conf = prefix / "nginx.conf"
    conf.write_text(text)
    return conf


def nginx_command(prefix: Path, conf: Path) -> list[str]:
    return [nginx_binary(), "-p", f"{prefix}/", "-c", str(conf), "-e", str(prefix / "error.log")]


@dataclass
class Nginx:
    url: str
    proc: subprocess.Popen[bytes]
    prefix: Path


def start_nginx(prefix: Path, upstreams: list[str]) -> Nginx:
    port = free_port()
    conf = render_conf(prefix, port, upstreams)
    check = subprocess.run([*nginx_command(prefix, conf), "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([*nginx_command(prefix, conf), "-g", "daemon off;"])
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 10
    while True:
        assert proc.poll() is None, (prefix / "error.log").read_text()
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return Nginx(url, proc, prefix)
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "nginx did not answer"
        time.sleep(0.05)


def stop_nginx(nginx: Nginx) -> None:
    nginx.proc.terminate()
    try:
        nginx.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        nginx.proc.kill()
        nginx.proc.wait()


@dataclass
class Load:
    """``CLIENTS`` threads posting one request through nginx in a loop, checking every answer."""

    url: str
    body: dict[str, Any]
    expected: dict[str, list[dict[str, Any]]]
    answers: list[tuple[float, str]] = field(default_factory=list)  # (sent at, version named)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def client(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self.stop.is_set():
                sent = time.monotonic()
                try:
                    r = client.post("/v1/assign", json=self.body)
                except httpx.HTTPError as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if r.status_code != 200:
                    self.failures.append(f"HTTP {r.status_code}: {r.text[:300]}")
                    continue
                version = r.json()["model_version"]
                if r.headers.get("x-model-version") != version:
                    self.failures.append(f"X-Model-Version {r.headers.get('x-model-version')} != {version}")
                if r.json()["results"] != self.expected.get(version):
                    self.failures.append(f"answer of {version} differs from that model's own answer")
                self.answers.append((sent, version))


def all_on(replica: Server, version: str) -> bool:
    versions = worker_versions(scrape(replica))
    return len(versions) == WORKERS and set(versions.values()) == {version}


@pytest.fixture
def models(tmp_path: Path) -> TwoModels:
    return train_two(tmp_path)


@pytest.fixture
def replicas(models: TwoModels, tmp_path: Path) -> Iterator[list[Server]]:
    env = {"SEGMENTS_WORKERS": str(WORKERS), "SEGMENTS_WATCH_INTERVAL_S": str(WATCH_INTERVAL_S)}

    def start(i: int) -> Server:
        return start_server(models.root, models.name_dir, tmp_path / f"replica-{i}.log", **env)

    with ThreadPoolExecutor(REPLICAS) as pool:
        servers = list(pool.map(start, range(REPLICAS)))
    try:
        for server in servers:  # every worker up and serving a, not only the first to answer
            deadline = time.monotonic() + 60
            while not all_on(server, models.a):
                assert time.monotonic() < deadline, worker_versions(scrape(server))
                time.sleep(0.05)
        yield servers
    finally:
        for server in servers:
            stop_server(server)


@pytest.mark.rollout
def test_a_rollout_behind_nginx_fails_no_request(
    models: TwoModels, replicas: list[Server], tmp_path: Path
) -> None:
    body = request_body(8)
    expected = expected_results(models, body)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    nginx = start_nginx(prefix, [s.url.removeprefix("http://") for s in replicas])
    load = Load(nginx.url, body, expected)
    threads = [threading.Thread(target=load.client) for _ in range(CLIENTS)]
    started = time.monotonic()
    converged: dict[int, float] = {}
    try:
        for thread in threads:
            thread.start()
        time.sleep(WARMUP_S)
        flipped = time.monotonic()
        models.point_latest(models.b)  # the rollout: every worker's LATEST watch picks it up
        while len(converged) < REPLICAS:
            for i, replica in enumerate(replicas):
                if i not in converged and all_on(replica, models.b):
                    converged[i] = time.monotonic() - flipped
            assert time.monotonic() - flipped < WATCH_INTERVAL_S + LOAD_BOUND_S + 5, converged
            time.sleep(0.02)
        time.sleep(max(0.0, DURATION_S - (time.monotonic() - started)))
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=30)
        stop_nginx(nginx)
    bound = WATCH_INTERVAL_S + LOAD_BOUND_S
    slowest = max(converged.values())
    late = [v for sent, v in load.answers if sent > flipped + slowest and v != models.b]
    per_version = Counter(v for _, v in load.answers)
    print(
        f"\nrollout behind nginx: {REPLICAS} replicas x {WORKERS} workers, {CLIENTS} clients, "
        f"{time.monotonic() - started:.1f} s: {len(load.answers) + len(load.failures)} requests, "
        f"{len(load.failures)} failed, answers per version {dict(per_version)}; every worker on the new "
        f"version {', '.join(f'{converged[i]:.2f} s' for i in sorted(converged))} after the LATEST flip "
        f"(replica 1, 2; bound: interval {WATCH_INTERVAL_S} s + load {LOAD_BOUND_S} s)"
    )
    assert load.failures == [], load.failures[:5]
    assert per_version[models.a] > 0 and per_version[models.b] > 0
    assert late == [], f"{len(late)} answers from the old version after every worker had the new one"
    assert slowest < bound
    errors = (prefix / "error.log").read_text()
    assert "upstream" not in errors, errors  # nginx never had to give up on a replica
    for replica in replicas:  # nginx spread the load over both
        assert replica.log.read_text().count('"path":"/v1/assign","route":"/v1/assign","status":200') > 10


def test_the_nginx_config_is_valid(tmp_path: Path) -> None:
    """`nginx -t` on the shipped config (upstreams pointed at loopback), when nginx is installed."""
    conf = render_conf(tmp_path, free_port(), ["127.0.0.1:1", "127.0.0.1:2"])
    check = subprocess.run([*nginx_command(tmp_path, conf), "-t"], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    text = NGINX_CONF.read_text()
    assert re.search(r"keepalive \d+;", text)
    assert "proxy_next_upstream error;" in text  # connection errors only, idempotent requests only
    assert re.search(r"location = /v1/assign \{\s*proxy_next_upstream error non_idempotent;", text)


def test_the_replicas_profile_runs_replicas_behind_nginx() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    replica, proxy = services["replica"], services["nginx"]
    assert replica["profiles"] == proxy["profiles"] == ["replicas"]
    assert replica["image"] == services["segments"]["image"]
    assert "ports" not in replica  # reached through nginx only
    assert any(v.startswith("./models:/srv/models") and v.endswith(":ro") for v in replica["volumes"])
    assert replica["deploy"]["replicas"]
    assert proxy["depends_on"]["replica"]["condition"] == "service_healthy"
    assert "./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in proxy["volumes"]
    assert any(p.endswith(":8080") for p in proxy["ports"])
    assert "server replica:8000" in NGINX_CONF.read_text()  # the service's name resolves to every replica

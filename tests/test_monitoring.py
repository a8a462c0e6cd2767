"""The optional Prometheus service of docker-compose.yml (profile "monitoring")."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

from shopper_segments.app.config import Settings
from shopper_segments.app.main import create_app
from tests.conftest import ROOT

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_prometheus_only_runs_with_the_monitoring_profile() -> None:
    services = COMPOSE["services"]
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["monitoring"]
    # A pinned Prometheus release, never a moving tag.
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", prometheus["image"])
    assert "segments" in prometheus["depends_on"]
    # `docker compose up` (no profile) starts the service alone.
    assert [name for name, s in services.items() if "profiles" not in s] == ["segments"]


def test_prometheus_scrapes_the_service_metrics_from_the_mounted_config() -> None:
    prometheus = COMPOSE["services"]["prometheus"]
    mounts = [v.split(":") for v in prometheus["volumes"]]
    config_mount = [m for m in mounts if m[1] == "/etc/prometheus/prometheus.yml"]
    assert len(config_mount) == 1
    config_file = ROOT / config_mount[0][0]
    assert config_file.is_file()
    config = yaml.safe_load(config_file.read_text())
    jobs = config["scrape_configs"]
    assert len(jobs) == 1
    assert jobs[0]["metrics_path"] == "/metrics"
    targets = [t for sc in jobs[0]["static_configs"] for t in sc["targets"]]
    # The compose service name and the port it listens on inside the network.
    service_port = COMPOSE["services"]["segments"]["ports"][0].split(":")[-1]
    assert targets == [f"segments:{service_port}"]


def test_readme_shows_both_ways_to_start() -> None:
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"^docker compose up\b", readme, re.M)
    assert re.search(r"^docker compose --profile monitoring up\b", readme, re.M)


def test_the_scraped_path_is_the_service_metrics_endpoint(tmp_path: Path) -> None:
    """What Prometheus scrapes answers in the Prometheus text format (even before a model loads)."""
    config = yaml.safe_load((ROOT / "monitoring" / "prometheus.yml").read_text())
    path = config["scrape_configs"][0]["metrics_path"]
    settings = Settings(model_root=tmp_path, model_dir=tmp_path / "none")
    with TestClient(create_app(settings)) as client:
        response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in response.text

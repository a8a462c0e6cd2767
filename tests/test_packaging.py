"""pyproject.toml and the hashed lock files in requirements/ agree (`make lock` rewrites the locks)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
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


#: Every package the service's runtime install holds (requirements/runtime.lock). A new one is a
#: deliberate choice: the runtime venv stays under 400 MB (docs/operations.md, "Installing").
RUNTIME_PACKAGES = {
    *("annotated-doc", "annotated-types", "anyio", "cffi", "click", "cloudpickle", "cryptography"),
    *("fastapi", "h11", "httptools", "idna", "joblib", "msgspec", "narwhals", "numpy"),
    *("opentelemetry-api",),
    *("orjson", "pandas", "prometheus-client", "pyarrow", "pycparser", "pydantic", "pydantic-core"),
    *("pydantic-settings", "python-dateutil", "python-dotenv", "scikit-learn", "scipy"),
    *("starlette", "threadpoolctl", "typing-extensions", "typing-inspection", "tzdata", "uvicorn"),
}


def test_the_runtime_lock_holds_only_the_allowed_packages() -> None:
    locked = set(_pins(LOCKS["runtime"]))
    assert not locked - RUNTIME_PACKAGES, f"new in the runtime: {sorted(locked - RUNTIME_PACKAGES)}"
    assert {"pip", "setuptools", "wheel"}.isdisjoint(locked)


def _slim_venv():  # scripts/ is not a package
    import importlib.util

    spec = importlib.util.spec_from_file_location("slim_venv", ROOT / "scripts" / "slim_venv.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_slim_venv_removes_tests_headers_and_pyarrow_flight_s3_only(tmp_path: Path) -> None:
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    gone = [
        "numpy/_core/tests/test_umath.py",
        "numpy/_core/include/numpy/ndarrayobject.h",
        "scipy/sparse/tests/data/x.npz",
        "sklearn/cluster/tests/test_k_means.py",
        "pandas/tests/frame/test_api.py",
        "pyarrow/tests/test_csv.py",
        "pyarrow/include/arrow/api.h",
        "pyarrow/lib.pyx",
        "pyarrow/lib.pxd",
        "pyarrow/array.pxi",
        "pyarrow/libarrow_flight.so.2600",
        "pyarrow/libarrow_python_flight.so.2600.1.0",
        "pyarrow/_flight.cpython-311-x86_64-linux-gnu.so",
        "pyarrow/libarrow_s3.so.2600",
        "pyarrow/_s3fs.cpython-311-x86_64-linux-gnu.so",
    ]
    kept = [
        "numpy/_core/_multiarray_umath.cpython-311-x86_64-linux-gnu.so",
        "numpy/testing/__init__.py",
        "pyarrow/libarrow.so.2600",
        "pyarrow/lib.cpython-311-x86_64-linux-gnu.so",
        "pyarrow/flight.py",
        "pyarrow/fs.py",
        "pyarrow/parquet/core.py",
        "pandas/_testing/__init__.py",
        "shopper_segments/models/online-retail/LATEST",
        "other/tests/test_mine.py",  # only the listed distributions are touched
    ]
    for name in gone + kept:
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_bytes(b"x" * 10)
    assert _slim_venv().main([str(tmp_path / "venv")]) == 0
    assert [name for name in gone if (site / name).exists()] == []
    assert [name for name in kept if not (site / name).exists()] == []


def test_slim_venv_keeps_every_library_the_kept_pyarrow_modules_link() -> None:
    """What slim_venv removes from pyarrow, no library it keeps names as NEEDED (the locks pin one
    pyarrow everywhere, so the dev venv's copy is the runtime's)."""
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("readelf (binutils) is absent")
    import pyarrow

    packages = Path(pyarrow.__file__).parent.parent
    removed = {p.name for p in _slim_venv().removable(packages) if p.is_file()}
    assert any(name.startswith("libarrow_flight") for name in removed)
    for lib in Path(pyarrow.__file__).parent.glob("*.so*"):
        if lib.name in removed:
            continue
        dynamic = subprocess.run([readelf, "-d", str(lib)], capture_output=True, text=True, check=True)
        needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", dynamic.stdout))
        assert not needed & removed, f"{lib.name} links {sorted(needed & removed)}"


def test_the_bundled_model_is_package_data() -> None:
    """An installed ``segments serve`` without --model serves the bundled model: every file of
    models/online-retail (linked in as shopper_segments/models) matches the package-data globs,
    and the service's default model directory is that one."""
    from shopper_segments.app.config import Settings

    package = ROOT / "shopper_segments"
    assert (package / "models").resolve() == ROOT / "models"
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    shipped = {p for pattern in patterns["shopper_segments"] for p in package.glob(pattern) if p.is_file()}
    bundled = {p for p in (package / "models" / "online-retail").rglob("*") if p.is_file()}
    assert bundled and bundled == shipped
    default = Settings.model_fields["model_dir"].default
    assert default.resolve() == (ROOT / "models" / "online-retail").resolve()

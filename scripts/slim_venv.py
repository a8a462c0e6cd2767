"""Remove from the service's runtime venv the files it never loads (``make install-run``, Dockerfile).

What goes, and why it is never loaded by the service (app/ and segments_core/):

* the test suites the wheels ship (``numpy/**/tests``, ``scipy/**/tests``, ``sklearn/**/tests``,
  ``pandas/tests``, ``pyarrow/tests``): only their own test runners import them;
* pyarrow's build inputs: C++ headers (``include/``, ``src/``) and Cython sources (``*.pyx``,
  ``*.pxd``, ``*.pxi``), numpy's C headers (``numpy/_core/include``), used to compile extensions;
* pyarrow's Flight RPC and S3 filesystem libraries (``libarrow_flight``, ``libarrow_python_flight``,
  ``_flight``, ``libarrow_s3``, ``_s3fs``) and its C++ test module: no other library links them
  (checked with ``readelf -d``); ``import pyarrow.flight`` then fails, ``pyarrow.fs`` lists S3 as
  not available, the CSV, Parquet and compute modules the service uses are untouched.

Usage: ``python scripts/slim_venv.py VENV [--dry-run]``; prints what it removed (MB).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

#: Directory names removed wherever they occur inside these distributions' packages.
TEST_DIRS = {"numpy": "tests", "scipy": "tests", "sklearn": "tests", "pandas": "tests", "pyarrow": "tests"}
#: Paths inside pyarrow/ and numpy/ (globs) that are build inputs or libraries nothing links.
UNUSED = {
    "pyarrow": (
        "include",
        "src",
        "includes",
        "*.pyx",
        "*.pxd",
        "*.pxi",
        "libarrow_flight.so*",
        "libarrow_python_flight.so*",
        "_flight.*.so",
        "libarrow_s3.so*",
        "_s3fs.*.so",
        "_pyarrow_cpp_tests.*",
    ),
    "numpy": ("_core/include",),
}


def site_packages(venv: Path) -> Path:
    """The site-packages directory of ``venv`` (``lib/pythonX.Y/site-packages``)."""
    found = sorted(venv.glob("lib/python3*/site-packages"))
    if len(found) != 1:
        raise SystemExit(f"error: {venv} holds {len(found)} lib/python3*/site-packages directories, not one")
    return found[0]


def removable(packages: Path) -> list[Path]:
    """The files and directories of ``packages`` (a site-packages directory) that the service never loads.

    Parameters
    ----------
    packages
        A site-packages directory.

    Returns
    -------
    list of Path
        Sorted, outermost paths only (nothing inside an already listed directory).
    """
    found: set[Path] = set()
    for package, name in TEST_DIRS.items():
        found.update(p for p in (packages / package).rglob(name) if p.is_dir())
    for package, patterns in UNUSED.items():
        for pattern in patterns:
            found.update((packages / package).glob(pattern))
    return [p for p in sorted(found) if not any(parent in found for parent in p.parents)]


def _size(path: Path) -> int:
    if path.is_dir() and not path.is_symlink():
        return sum(f.lstat().st_size for f in path.rglob("*") if f.is_file() or f.is_symlink())
    return path.lstat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("venv", type=Path)
    parser.add_argument("--dry-run", action="store_true", help="list, remove nothing")
    args = parser.parse_args(argv)
    paths = removable(site_packages(args.venv))
    total = sum(_size(p) for p in paths)
    for path in paths:
        if args.dry_run:
            print(path)
        elif path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    verb = "would remove" if args.dry_run else "removed"
    print(f"slim_venv: {verb} {len(paths)} paths, {total / 2**20:.1f} MB", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

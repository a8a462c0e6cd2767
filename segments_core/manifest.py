"""``MANIFEST.sha256``: the sha256 of ``metadata.json`` and of every artifact of a model version.

``metadata.json`` records the artifacts' checksums but cannot record its own; the
manifest, written last by ``save_model``, covers it, so a changed metadata file (even
one byte) is refused at load. The format is ``sha256sum``'s (``<hex>  <file>`` per line),
so ``sha256sum -c MANIFEST.sha256`` checks a model directory by hand too.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from segments_core.errors import ArtifactError

MANIFEST = "MANIFEST.sha256"
#: Files every manifest must list (the metadata and the artifacts the service loads).
COVERED = ("metadata.json", "pipeline.joblib", "assignments.parquet")
_LINE = re.compile(r"^([0-9a-f]{64})  ([^/\\]+)$")


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_manifest(model_dir: Path, files: tuple[str, ...] = COVERED) -> Path:
    """Write ``MANIFEST.sha256`` listing the sha256 of ``files`` (in ``model_dir``)."""
    path = model_dir / MANIFEST
    path.write_text("".join(f"{sha256_file(model_dir / f)}  {f}\n" for f in sorted(files)), encoding="utf-8")
    return path


def read_manifest(model_dir: Path) -> dict[str, str]:
    """File name -> sha256 as the manifest lists them.

    Raises
    ------
    ArtifactError
        The manifest is missing, malformed, or does not list every file of :data:`COVERED`.
    """
    path = model_dir / MANIFEST
    if not path.is_file():
        raise ArtifactError(f"{model_dir}: missing {MANIFEST}; refusing to load the model")
    listed: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path}: not text ({exc})") from exc
    for n, line in enumerate(lines, 1):
        match = _LINE.match(line)
        if match is None:
            raise ArtifactError(f"{path}: line {n} is not '<sha256>  <file>'")
        listed[match.group(2)] = match.group(1)
    missing = [f for f in COVERED if f not in listed]
    if missing:
        raise ArtifactError(f"{path}: does not list {', '.join(missing)}")
    return listed


def verify_file(model_dir: Path, name: str, expected: str, against: str) -> None:
    """Refuse ``model_dir/name`` unless its sha256 is ``expected`` (recorded in ``against``)."""
    path = model_dir / name
    if not path.is_file():
        raise ArtifactError(f"{model_dir}: {name} is missing")
    actual = sha256_file(path)
    if actual != expected:
        raise ArtifactError(
            f"{model_dir}: {name} sha256 {actual[:12]}... does not match the {against} "
            f"({expected[:12]}...); the file was altered or truncated"
        )


def verify_manifest(model_dir: Path, names: tuple[str, ...] | None = None) -> dict[str, str]:
    """Check the files the manifest lists (or only ``names``); returns the listing."""
    listed = read_manifest(model_dir)
    for name in names if names is not None else tuple(listed):
        verify_file(model_dir, name, listed[name], MANIFEST)
    return listed

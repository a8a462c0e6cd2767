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

from shopper_segments.core.errors import ArtifactError

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


def confined(model_dir: Path, name: str) -> Path:
    """``model_dir/name``, refused unless ``name`` is a plain file name that stays in ``model_dir``.

    The name must be one path component (not ``.`` or ``..``), and the path, symlinks
    resolved, must lie inside the resolved model directory: a ``pipeline.joblib``
    symlinked to a file elsewhere is refused.

    Raises
    ------
    ArtifactError
        The name is not a plain file name, or the file resolves outside ``model_dir``.
    """
    if name in ("", ".", "..") or any(c in name for c in "/\\\0"):
        raise ArtifactError(f"{model_dir}: {name!r} is not a plain file name; refusing to load the model")
    try:
        base = model_dir.resolve()
        real = (base / name).resolve()
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise ArtifactError(f"{model_dir}: {name} cannot be resolved: {exc}") from exc
    if not real.is_relative_to(base):
        raise ArtifactError(
            f"{model_dir}: {name} resolves to {real}, outside the model directory; refusing to load the model"
        )
    return base / name


def read_manifest(model_dir: Path, data: bytes | None = None) -> dict[str, str]:
    """File name -> sha256 as the manifest lists them (``data``: its bytes, already read).

    Raises
    ------
    ArtifactError
        The manifest is missing, malformed, or does not list every file of :data:`COVERED`.
    """
    path = confined(model_dir, MANIFEST)
    if data is None:
        if not path.is_file():
            raise ArtifactError(f"{model_dir}: missing {MANIFEST}; refusing to load the model")
        data = path.read_bytes()
    listed: dict[str, str] = {}
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ArtifactError(f"{path}: not text ({exc})") from exc
    for n, line in enumerate(lines, 1):
        match = _LINE.match(line)
        if match is None:
            raise ArtifactError(f"{path}: line {n} is not '<sha256>  <file>'")
        listed[confined(model_dir, match.group(2)).name] = match.group(1)
    missing = [f for f in COVERED if f not in listed]
    if missing:
        raise ArtifactError(f"{path}: does not list {', '.join(missing)}")
    return listed


def verify_file(model_dir: Path, name: str, expected: str, against: str) -> None:
    """Refuse ``model_dir/name`` unless its sha256 is ``expected`` (recorded in ``against``)."""
    path = confined(model_dir, name)
    if not path.is_file():
        raise ArtifactError(f"{model_dir}: {name} is missing")
    _check(model_dir, name, sha256_file(path), expected, against)


def read_verified(model_dir: Path, name: str, expected: str, against: str) -> bytes:
    """The bytes of ``model_dir/name``, read once and refused unless their sha256 is ``expected``.

    What is checked is what the caller parses (or unpickles): the file is not read twice.
    """
    path = confined(model_dir, name)
    if not path.is_file():
        raise ArtifactError(f"{model_dir}: {name} is missing")
    data = path.read_bytes()
    _check(model_dir, name, hashlib.sha256(data).hexdigest(), expected, against)
    return data


def _check(model_dir: Path, name: str, actual: str, expected: str, against: str) -> None:
    if actual != expected:
        raise ArtifactError(
            f"{model_dir}: {name} sha256 {actual[:12]}... does not match the {against} "
            f"({expected[:12]}...); the file was altered or truncated"
        )


def verify_manifest(
    model_dir: Path, names: tuple[str, ...] | None = None, data: bytes | None = None
) -> dict[str, str]:
    """Check the files the manifest lists (or only ``names``); returns the listing.

    ``data``, when given, is the manifest's content already read (and its signature checked).
    """
    listed = read_manifest(model_dir, data)
    for name in names if names is not None else tuple(listed):
        verify_file(model_dir, name, listed[name], MANIFEST)
    return listed

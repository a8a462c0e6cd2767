"""What an ``--input`` names: one file, a directory or a glob, and its fingerprint."""

from __future__ import annotations

import glob
import hashlib
from pathlib import Path

from shopper_segments.core.artifact import sha256_file
from shopper_segments.core.errors import DataError

#: The file names an input directory or glob contributes (other files are ignored).
DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")
GLOB_CHARS = frozenset("*?[")


def input_files(path: Path) -> list[Path]:
    """The data files of an ``--input``: one file, a directory (recursively) or a glob.

    A directory contributes its CSV/.csv.gz/Parquet files, skipping hidden names and those
    starting with ``_`` (``_SUCCESS``, ``_committed_*`` of Spark writers), in name order.

    Raises
    ------
    DataError
        When nothing matches, or the files mix CSV and Parquet.
    """
    text = str(path)
    if GLOB_CHARS & set(text):
        found = [Path(p) for p in sorted(glob.glob(text, recursive=True)) if Path(p).is_file()]
    elif path.is_dir():
        found = sorted(
            p
            for p in path.rglob("*")
            if p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(path).parts)
        )
    else:
        return [path]  # a single file (read_header reports a missing one)
    files = [p for p in found if p.name.lower().endswith(DATA_SUFFIXES)]
    if not files:
        raise DataError(f"input {path}: no CSV or Parquet files ({', '.join(DATA_SUFFIXES)}) found")
    kinds = {is_parquet(p) for p in files}
    if len(kinds) > 1:
        raise DataError(f"input {path}: mixes CSV and Parquet files; give one kind")
    return files


def is_parquet(path: Path) -> bool:
    """Whether a data file is Parquet (by its name), not CSV."""
    return path.name.lower().endswith((".parquet", ".pq"))


def input_sha256(path: Path) -> str:
    """sha256 of an input: the file's, or over each file's name and sha256 (directory, glob)."""
    files = input_files(path)
    if len(files) == 1 and files[0] == path:
        return sha256_file(path)
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.name}\0{sha256_file(f)}\n".encode())
    return digest.hexdigest()

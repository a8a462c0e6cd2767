"""The training CLI against bad names, unwritable outputs and signals: one error line, a documented code."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shopper_segments.training.cli import main
from shopper_segments.training.exits import Terminated, run_guarded
from tests.conftest import ONLINE_RETAIL_SPEC, ROOT, SAMPLE

FIT = ["fit", "--input", str(SAMPLE), "--dataset", str(ONLINE_RETAIL_SPEC), "--k", "3", "--n-init", "1"]


def error_lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [line for line in capsys.readouterr().err.splitlines() if not line.startswith("[")]


@pytest.mark.parametrize("name", ["../x", "a/b", "..", ".", ".hidden", "", "sp ace", "/abs"])
def test_a_name_that_is_not_one_plain_path_component_is_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "models"
    assert main([*FIT, "--out", str(out), "--name", name, "--no-report"]) == 2
    (line,) = error_lines(capsys)
    assert line.startswith(f"error: --name {name!r}: a model name is letters, digits"), line
    assert not (tmp_path / "out").exists() and not (tmp_path / "x").exists()


def test_an_out_under_a_regular_file_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    assert main([*FIT, "--out", str(tmp_path / "file" / "models"), "--no-report"]) == 3
    assert error_lines(capsys) == [
        f"error: --out {tmp_path / 'file' / 'models'}: {tmp_path / 'file'} is not a directory"
    ]


def test_an_unwritable_out_is_one_error_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if os.geteuid() == 0:
        pytest.skip("root ignores directory permissions (the regular-file case above covers the code)")
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        assert main([*FIT, "--out", str(locked / "models"), "--no-report"]) == 3
        assert error_lines(capsys) == [f"error: --out {locked / 'models'}: {locked} is not writable"]
    finally:
        locked.chmod(0o700)


@pytest.mark.parametrize(
    ("signum", "code", "word"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_a_signal_while_saving_removes_the_temporary_model_dir(
    tmp_path: Path, signum: int, code: int, word: str
) -> None:
    """The signal lands while the report is written in the ``.tmp-*`` directory (the slow part of saving).

    ``LATEST`` is written through a ``.tmp-*`` file too, so on a loaded machine the signal can
    arrive after the version was renamed into place: then that whole version is there and no
    ``.tmp-*`` file, and the run is tried again, up to three times, for a signal mid-save.
    """
    for attempt in range(3):
        out = tmp_path / f"models{attempt}"
        proc = subprocess.Popen(
            [sys.executable, "-m", "training", *FIT, "--out", str(out), "--name", "s"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 120
        while not list(out.glob("s/.tmp-*")):
            assert proc.poll() is None, f"fit ended before saving was seen: {proc.communicate()}"
            assert time.monotonic() < deadline, "no .tmp-* directory appeared"
            time.sleep(0.005)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
        left = sorted(p.name for p in (out / "s").iterdir())
        assert not [name for name in left if name.startswith(".tmp-")], (left, err)
        if left:  # too late: the version was renamed into place (whole), LATEST written or not
            continue
        assert proc.returncode == code, err
        assert f"error: {word}" in err and "Traceback" not in err, err
        return
    pytest.fail("in three runs the signal never landed before the save committed")


@pytest.mark.parametrize(("stop", "code"), [(KeyboardInterrupt, 130), (Terminated, 143)])
def test_an_object_cut_short_by_the_signal_prints_no_traceback_after_the_error_line(
    stop: type[BaseException], code: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal inside a constructor (pyarrow's ParquetWriter, seen once in CI) leaves an object
    whose finalizer fails on a file the cleanup closed: the run still ends with its one line."""
    monkeypatch.setattr(sys, "unraisablehook", sys.unraisablehook)  # restored after the test

    class HalfBuilt:
        def __del__(self) -> None:
            raise ValueError("Invalid operation on closed file")

    def command() -> None:
        raise stop(HalfBuilt())  # freed with the exception, after the error line

    assert run_guarded(command) == code
    gc.collect()
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and "Exception ignored" not in err, err


def test_latest_cut_short_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A signal while LATEST is written (through a .tmp-* file and a rename): the file is removed."""
    from shopper_segments.core import artifact

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(artifact.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        artifact._write_atomic(tmp_path / "LATEST", "v1\n")
    assert list(tmp_path.iterdir()) == []

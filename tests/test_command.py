"""The ``segments`` console script: version, fast help with defaults, the training commands and serve."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from shopper_segments.training.algorithms import ALGORITHMS
from shopper_segments.training.cli import ALGORITHM_CHOICES
from shopper_segments.training.command import build_parser, main
from tests.conftest import ROOT, SAMPLE, free_port, stop_server, wait_ready

SEGMENTS = Path(sys.executable).parent / "segments"


def segments(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    assert SEGMENTS.exists(), "the console script: pip install -e . (make install)"
    return subprocess.run([str(SEGMENTS), *args], capture_output=True, text=True, cwd=cwd, timeout=60)


def test_version_is_the_installed_distributions(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = segments("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"segments {version('shopper-segments')}"


HELP_COMMANDS = [[], ["serve"], ["fit"], ["assign"], ["report"], ["keygen"]]


def test_help_imports_no_pandas_sklearn_or_uvicorn() -> None:
    """Every command's help, in one fresh interpreter: none imports a heavy library."""
    code = (
        "import contextlib, io, json, sys\n"
        "from shopper_segments.training.command import build_parser\n"
        "out = []\n"
        f"for command in {HELP_COMMANDS!r}:\n"
        "    text = io.StringIO()\n"
        "    try:\n"
        "        with contextlib.redirect_stdout(text):\n"
        "            build_parser().parse_args([*command, '--help'])\n"
        "    except SystemExit as exc:\n"
        "        assert exc.code == 0, (command, exc.code)\n"
        "    out.append(text.getvalue())\n"
        "heavy = {'pandas', 'sklearn', 'numpy', 'uvicorn', 'fastapi', 'matplotlib'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
        "print(json.dumps(out))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    helps = json.loads(result.stdout)
    assert len(helps) == len(HELP_COMMANDS)
    for command, text in zip(HELP_COMMANDS, helps, strict=True):
        assert "usage: segments" in text, command
        assert "`" not in text, command  # no raw RST markup in the titles


def test_help_is_fast(tmp_path: Path) -> None:
    result = segments("--help", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "exit codes:" in result.stdout
    assert "serve" in result.stdout and "keygen" in result.stdout
    code = "import sys, time; from shopper_segments.training.command import main; main(['--help'])"
    timed = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, cwd=ROOT
    )
    imported = {line.split("|")[-1].strip().split(".")[0] for line in timed.stderr.splitlines()[1:]}
    assert not imported & {"pandas", "sklearn", "scipy", "pyarrow", "uvicorn"}


def test_every_option_with_a_value_shows_its_default() -> None:
    parser = build_parser()
    fit = parser._subparsers._group_actions[0].choices["fit"]  # type: ignore[union-attr]
    text = fit.format_help()
    for option, default in (("--k-min", 4), ("--k-max", 8), ("--seed", 42)):
        assert f"{option} " in text
        assert f"(default: {default})" in text
    assert "(default: kmeans)" in text and "(default: models)" in text
    assert "(default: the dataset spec's [categories] top, else 8)" in " ".join(text.split())
    serve = parser._subparsers._group_actions[0].choices["serve"]  # type: ignore[union-attr]
    assert "(default: 8000)" in serve.format_help()


def test_algorithm_choices_are_the_algorithms() -> None:
    assert tuple(ALGORITHM_CHOICES) == tuple(ALGORITHMS)


def test_training_commands_keep_their_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fit", "--input", str(tmp_path / "absent.csv"), "--out", str(tmp_path)]) == 2
    assert [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    with pytest.raises(SystemExit) as exc:
        main(["fit"])  # --input is required: argparse's usage error
    assert exc.value.code == 2
    assert main(["keygen", "--out", str(tmp_path / "keys")]) == 0
    assert sorted(p.name for p in (tmp_path / "keys").iterdir())


def test_serve_with_a_missing_model_directory_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--model", str(tmp_path / "absent"), "--port", "1"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"error: --model {tmp_path / 'absent'}: no such directory"]


def test_training_without_the_train_extra_says_what_to_install(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = sys.modules['tqdm'] = None  # as in the runtime-only install\n"
        "from shopper_segments.training.command import main\n"
        f"sys.exit(main(['fit', '--input', {str(SAMPLE)!r}, '--out', {str(tmp_path)!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        "error: segments fit needs the train extra (pip install 'shopper-segments[train]')" in result.stderr
    )


def test_python_m_training_still_works(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "training", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m training")


def test_serve_model_from_another_cwd(sample_model: tuple[Path, dict], tmp_path: Path) -> None:
    path, meta = sample_model
    model = tmp_path / "models" / "copy"
    shutil.copytree(path, model)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEGMENTS_")}
    port = free_port()
    log = tmp_path / "serve.log"
    handle = log.open("wb")
    proc = subprocess.Popen(
        [str(SEGMENTS), "serve", "--model", str(model), "--host", "127.0.0.1", "--port", str(port)],
        cwd=elsewhere,
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )
    server = wait_ready(proc, f"http://127.0.0.1:{port}", log, handle)
    try:
        ready = httpx.get(f"{server.url}/readyz", timeout=5).json()
        assert ready["model_version"] == meta["version"]
    finally:
        stop_server(server)
    # A worker per CPU by default: the supervisor exits 0 after SIGTERM; one worker re-raises it (-15).
    expected = 0 if len(os.sched_getaffinity(0)) > 1 else -15
    assert proc.returncode == expected, log.read_text()
    assert log.read_text().count("Started server process") == len(os.sched_getaffinity(0))

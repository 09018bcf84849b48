"""Installing the package for real, offline: a wheel and an sdist from ``python -m build``, and
``pip install .`` on a machine without a C compiler (the NumPy fallback of the alias table).

Each install goes into a fresh virtual environment that sees this environment's packages
through a ``.pth`` line (numpy, torch, setuptools, pip; its ``.pth`` files, among them the
editable install of this checkout, are not read there), so nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest

from swift_sampler.draw import BACKEND, draw_indices

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow

# What the installed package draws, its backend, and what it wrote to stderr.
_PROBE = """
import json, sys
import numpy as np
import swift_sampler
from swift_sampler.draw import BACKEND, draw_indices
p = np.random.default_rng(0).random(5000) ** 3
draws = [draw_indices(p, 3000, seed=s, epoch=e).tolist() for s in (0, 7) for e in (0, 2)]
draws.append(draw_indices(p.astype(np.float32), 3000, seed=1).tolist())
print(json.dumps({"file": swift_sampler.__file__, "backend": BACKEND, "draws": draws}))
"""


def _expected_draws() -> list[list[int]]:
    p = np.random.default_rng(0).random(5000) ** 3
    draws = [draw_indices(p, 3000, seed=s, epoch=e).tolist() for s in (0, 7) for e in (0, 2)]
    draws.append(draw_indices(p.astype(np.float32), 3000, seed=1).tolist())
    return draws


def _source_copy(dest: Path) -> Path:
    """The checkout's files (tracked, and new ones git does not ignore), without build outputs."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    for name in filter(None, listed):
        source = ROOT / os.fsdecode(name)
        if source.is_file():
            target = dest / os.fsdecode(name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    return dest


def _fresh_venv(path: Path) -> Path:
    """A venv without pip or setuptools of its own, reading this environment's packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    Path(purelib, "_parent_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def _pip_install(python: Path, target: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    pip = [str(python), "-m", "pip", "install", "-v", "--disable-pip-version-check"]
    return subprocess.run(
        [*pip, "--no-index", "--no-deps", "--no-build-isolation", target],
        capture_output=True,
        text=True,
        env=env,
        cwd=python.parent,
        timeout=300,
    )


def _probe(python: Path) -> tuple[dict, str]:
    run = subprocess.run(
        [str(python), "-c", _PROBE],
        capture_output=True,
        text=True,
        check=True,
        cwd=python.parent,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=120,
    )
    return json.loads(run.stdout), run.stderr


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SWIFT_SAMPLER_REQUIRE_EXTENSION"}
    return {**env, "PIP_NO_INDEX": "1", **extra}


@pytest.mark.skipif(BACKEND != "c", reason="the reference draws come from the C extension")
def test_without_a_c_compiler_the_install_falls_back_to_numpy(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "src")
    python = _fresh_venv(tmp_path / "venv")

    installed = _pip_install(python, str(source), _env(CC="/bin/false"))
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    log = installed.stdout + installed.stderr
    assert 'warning: build_ext: building extension "swift_sampler._draw" failed' in log
    site = tmp_path / "venv" / "lib"
    assert not list(site.rglob("_draw*.so")), "the extension was built with CC=/bin/false?"

    result, stderr = _probe(python)
    assert Path(result["file"]).is_relative_to(tmp_path / "venv")
    assert result["backend"] == "numpy"
    assert result["draws"] == _expected_draws()  # the compiled extension's draws, here
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "NumPy fallback" in lines[0], stderr

    cli = subprocess.run(
        [str(tmp_path / "venv" / "bin" / "swift-sampler"), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0 and "usage: swift-sampler" in cli.stdout

    # A wheel builder asks for the extension: then a failed compile fails the install.
    strict = _pip_install(
        python, str(source), _env(CC="/bin/false", SWIFT_SAMPLER_REQUIRE_EXTENSION="1")
    )
    assert strict.returncode != 0


def test_python_m_build_makes_an_sdist_and_a_wheel_that_install(tmp_path: Path) -> None:
    source = _source_copy(tmp_path / "src")
    dist = tmp_path / "dist"
    # The default builds the sdist, then the wheel from the unpacked sdist: the sdist is whole.
    built = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(source)],
        capture_output=True,
        text=True,
        env=_env(SWIFT_SAMPLER_REQUIRE_EXTENSION="1"),
        timeout=300,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = dist.glob("swift_sampler-0.1.0-cp311-*.whl")
    (sdist,) = dist.glob("swift_sampler-0.1.0.tar.gz")
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("_alias_numpy.py", "py.typed", "_draw.pyi", "draw.py", "cli.py"):
        assert f"swift_sampler/{needed}" in names
    assert any(n.startswith("swift_sampler/_draw.cpython-311") for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert (
        "swift-sampler = swift_sampler.cli:run"
        in zipfile.ZipFile(wheel).read(entry_points).decode()
    )

    python = _fresh_venv(tmp_path / "venv")
    installed = _pip_install(python, str(wheel), _env())
    assert installed.returncode == 0, installed.stderr[-3000:]
    result, stderr = _probe(python)
    assert Path(result["file"]).is_relative_to(tmp_path / "venv")
    assert result["backend"] == "c" and stderr == ""
    assert result["draws"] == _expected_draws()
    assert sdist.stat().st_size > 0

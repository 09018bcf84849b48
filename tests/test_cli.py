from __future__ import annotations

import re
import subprocess
import sys

import pytest

from swift_sampler.cli import EXIT_BAD_INPUT, main


def test_bad_demo_arguments_exit_2_with_one_message(capsys) -> None:
    assert main(["demo", "--epochs", "3", "--warmup", "5"]) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert err.strip() == "swift-sampler: error: --warmup (5) must be smaller than --epochs (3)"
    with pytest.raises(SystemExit) as exit:
        main(["demo", "--noise", "1.5"])
    assert exit.value.code == 2
    assert "expected a number in [0, 1), got 1.5" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_runs_as_a_real_subprocess() -> None:
    # The console script end to end: 3 epochs, one shared warm-up epoch.
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "swift_sampler.cli",
            "--threads",
            "1",
            "demo",
            "--epochs",
            "3",
            "--warmup",
            "1",
            "--noise",
            "0.4",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    rows = {
        m.group(1): (float(m.group(2)), float(m.group(3)), float(m.group(4)))
        for m in re.finditer(
            r"^(uniform|SwiftSampler)\s+([\d.]+)%\s+([\d.]+)%\s+([\d.]+)%$", run.stdout, re.M
        )
    }
    assert set(rows) == {"uniform", "SwiftSampler"}
    # Uniform draws put exactly the noise rate of mass on noisy labels; the sampler far less.
    assert rows["uniform"][2] == pytest.approx(40.0)
    assert rows["SwiftSampler"][2] < 20.0
    assert all(0 <= v <= 100 for row in rows.values() for v in row)

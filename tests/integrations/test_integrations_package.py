"""The integrations package itself is free: importing it pulls neither torch nor a framework."""

from __future__ import annotations

import subprocess
import sys


def test_the_integrations_package_imports_nothing_heavy() -> None:
    code = (
        "import sys, swift_sampler.integrations\n"
        "print(sorted(m for m in ('torch', 'transformers', 'lightning') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

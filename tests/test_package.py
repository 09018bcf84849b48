from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import swift_sampler

_NO_TORCH = """
import sys
from swift_sampler.cli import main
try:
    main(["--help"])
except SystemExit as exit:
    assert exit.code == 0, exit.code
import swift_sampler.data  # dataset names for CLI choices must not pull torch either
assert main(["check", DEMO]) == 0  # checks a config without torch too
from swift_sampler import search  # the library's way in, and its config names
assert search.load_config is search.parse_config.__globals__["load_config"]
print("torch" in sys.modules)
"""


def test_help_and_package_import_do_not_import_torch() -> None:
    demo = Path(__file__).resolve().parents[1] / "configs" / "demo.toml"
    code = f"DEMO = {str(demo)!r}\n{_NO_TORCH}"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    ).stdout
    assert out.strip().splitlines()[-1] == "False"
    assert "usage: swift-sampler" in out


def test_public_names() -> None:
    from swift_sampler import SamplerSpec, SwiftSampler, draw_indices, extract_features

    assert SwiftSampler.__module__ == "swift_sampler.sampler"
    assert SamplerSpec.__module__ == "swift_sampler.family"
    assert callable(extract_features) and callable(draw_indices)
    assert set(swift_sampler.__all__) <= set(dir(swift_sampler))


def test_errors_are_value_errors() -> None:
    from swift_sampler.errors import (
        ConfigError,
        InputDataError,
        SchemaVersionError,
        SpecError,
        SwiftSamplerError,
    )

    for error in (ConfigError, InputDataError, SpecError, SchemaVersionError):
        assert issubclass(error, SwiftSamplerError) and issubclass(error, ValueError)

"""The README's "Your own data" section, run as written: its files and its commands."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from swift_sampler.config import parse_config

ROOT = Path(__file__).resolve().parents[1]


def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _blocks(section: str) -> list[tuple[str, str]]:
    """``(language, body)`` of every fenced code block, in order."""
    return re.findall(r"```(\w+)\n(.*?)```", section, flags=re.DOTALL)


def test_the_section_has_files_and_commands() -> None:
    blocks = _blocks(_section("Your own data"))
    files = [body.splitlines()[0] for lang, body in blocks if lang == "python"]
    assert "# my_data.py" in files and "# search_mine.py" in files
    commands = [line for lang, body in blocks if lang == "bash" for line in body.splitlines()]
    assert any(
        line.startswith("swift-sampler search configs/own-arrays.toml") for line in commands
    )
    assert any(line.startswith("swift-sampler train configs/own-arrays.toml") for line in commands)
    assert any(
        line.startswith("swift-sampler search configs/own-factory.toml") for line in commands
    )


@pytest.mark.slow
def test_the_readme_commands_run_as_written(tmp_path: Path) -> None:
    # A copy of the configs in a fresh directory: the README's relative paths, nothing else.
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    blocks = _blocks(_section("Your own data"))
    for lang, body in blocks:
        name = re.fullmatch(r"# (\w+\.py)", body.splitlines()[0])
        if lang == "python" and name:
            (tmp_path / name.group(1)).write_text(body)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["OMP_NUM_THREADS"] = "1"
    outputs = []
    for lang, body in blocks:
        if lang != "bash":
            continue
        for command in body.splitlines():
            # One torch thread: the suite's processes share two cores.
            command = command.replace("swift-sampler ", "swift-sampler --threads 1 ", 1)
            run = subprocess.run(
                ["bash", "-c", command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert run.returncode == 0, f"{command}\n{run.stderr}"
            outputs.append(run.stdout)

    arrays = json.loads((tmp_path / "runs/own-arrays/result.json").read_text())
    assert len([t for t in arrays["trials"] if t["state"] == "COMPLETE"]) == 4
    final = json.loads((tmp_path / "runs/own-arrays/final.json").read_text())
    assert set(final["arms"]) == {"swift", "uniform"}
    factory = json.loads((tmp_path / "runs/own-factory/result.json").read_text())
    assert factory["best"]["val_score"] > 0.5  # the factory's digits were learned
    # search_mine.py searched the same config from Python: the same trials, the same best.
    library = json.loads((tmp_path / "runs/own-library/result.json").read_text())
    assert library["best"]["theta"] == factory["best"]["theta"]
    last = float(outputs[-1].split()[-1])
    assert 0.5 < last <= 1.0


def test_the_command_lines_search_snippets_fit_the_demo_config() -> None:
    """Every ``[search]`` snippet of "The command line" is a valid [search] section for
    configs/demo.toml, and the cheap recipe tries the uniform sampler and the whole portfolio,
    screened on a third of the demo's tail, as the text says."""
    demo = tomllib.loads((ROOT / "configs" / "demo.toml").read_text())
    snippets = [
        tomllib.loads(body)
        for language, body in _blocks(_section("The command line"))
        if language == "toml" and "[search]" in body
    ]
    assert snippets
    recipes = 0
    for snippet in snippets:
        # The snippet as the whole [search] section of the demo's config: the recipe, and the
        # reference block's empty [search], which is the preset too (the automatic default).
        config = parse_config({**demo, "search": snippet["search"]})
        assert config.search.preset == "swift" and config.search.portfolio == 4
        assert config.search.pruner == "synchronous_halving"
        assert 3 * config.search.min_resource == config.epochs_split[1]
        assert len(config.start_thetas) == config.search.trials - 1
        recipes += snippet["search"].get("preset") == "swift"
    assert recipes == 1

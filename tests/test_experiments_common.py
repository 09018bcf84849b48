"""The experiments' job cache: a rerun recomputes nothing, a failure keeps the finished jobs.

``experiments/_common.py`` is what makes every paper-item command resumable; these tests run
its real process pool (spawned processes) on builtin functions, so no training is involved.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


@pytest.fixture
def common(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """``_common`` with its results (and the spawned processes' results) under ``tmp_path``."""
    monkeypatch.syspath_prepend(str(EXPERIMENTS))
    monkeypatch.setenv("SWIFT_SAMPLER_RESULTS", str(tmp_path))
    sys.modules.pop("_common", None)
    import _common

    monkeypatch.setattr(_common, "RESULTS", tmp_path)
    yield _common
    sys.modules.pop("_common", None)


def test_rerun_loads_every_finished_job_instead_of_running_it(common: Any) -> None:
    jobs = [common.Job("exp", f"job{i}", dict, {"value": i}) for i in range(3)]
    first = common.run_jobs(jobs, processes=2)
    assert {k: v["value"] for k, v in first.items()} == {"job0": 0, "job1": 1, "job2": 2}
    for job in jobs:  # written by the spawned process, under the key and the arguments' hash
        assert job.path.parent == common.RESULTS / "exp" / "runs"
        assert job.path.name == f"{job.key}-{job.digest}.json"
        saved = json.loads(job.path.read_text())
        assert saved["job"] == {"key": job.key, "function": "dict", "kwargs": job.kwargs}
    # Mark the cache: a rerun that recomputed would lose the mark.
    marked = json.loads(jobs[1].path.read_text()) | {"value": "from the cache"}
    jobs[1].path.write_text(json.dumps(marked))
    again = common.run_jobs(jobs, processes=2)
    assert again["job1"]["value"] == "from the cache"
    assert again["job0"] == first["job0"]
    # Other arguments under the same key are another job.
    changed = common.Job("exp", "job1", dict, {"value": 10})
    assert changed.digest != jobs[1].digest
    assert common.run_jobs([changed], processes=1)["job1"]["value"] == 10
    assert jobs[1].cached()["value"] == "from the cache"


def test_a_failed_job_is_named_and_the_finished_ones_stay_cached(common: Any) -> None:
    good = common.Job("exp", "good", dict, {"value": 1})
    bad = common.Job("exp", "bad", int, {"no_such_argument": 1})
    with pytest.raises(RuntimeError, match=r"1 jobs failed: \[.bad: TypeError: .no_such_argument"):
        common.run_jobs([bad, good], processes=2)
    assert good.cached()["value"] == 1
    assert bad.cached() is None
    leftovers = [p.name for p in (common.RESULTS / "exp" / "runs").iterdir()]
    assert leftovers == [good.path.name]  # no half-written or temporary file


def test_replace_section_rewrites_only_its_own_markers(common: Any, tmp_path: Path) -> None:
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n\nhand-written\n")
    common.replace_section(doc, "table1", "## Table 1\n\nfirst")
    common.replace_section(doc, "figure1", "## Figure 1\n\nplot")
    common.replace_section(doc, "table1", "## Table 1\n\nsecond\n")
    assert doc.read_text() == (
        "# Results\n\nhand-written\n\n"
        "<!-- table1 -->\n## Table 1\n\nsecond\n<!-- /table1 -->\n\n"
        "<!-- figure1 -->\n## Figure 1\n\nplot\n<!-- /figure1 -->\n"
    )

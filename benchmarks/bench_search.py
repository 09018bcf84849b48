"""Where a search's time goes: outer-loop overhead and feature passes, from a run's timings.

Run: .venv/bin/python benchmarks/bench_search.py [RUN_DIR]   (default runs/demo, made by
`make demo`; any finished run directory works)

Every trial records its seconds split into fine-tune training, feature passes, evaluation
(incl. the copy of the shared start) and outer loop (the proposal plus the storage writes).
Targets: outer loop <= 5% of the search's wall time; feature passes <= 25% of a trial's time.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path, default=Path("runs/demo"))
    args = parser.parse_args()
    result = json.loads((args.run_dir / "result.json").read_text())
    trials = [t for t in result["trials"] if t["state"] == "COMPLETE"]
    cost = result["cost"]
    search_s = cost["total_s"]
    trial_s = [
        t["seconds"]["finetune"] + t["seconds"]["features"] + t["seconds"]["eval"] for t in trials
    ]
    feature_share = [t["seconds"]["features"] / s for t, s in zip(trials, trial_s, strict=True)]
    outer = [t["seconds"]["outer"] for t in trials]
    print(f"run {args.run_dir}: {len(trials)} trials, outer loop {result['outer']}")
    print(
        f"search wall time (sum of parts) {search_s:.1f} s; shared start "
        f"{cost['shared_start_s']:.1f} s; one uniform epoch {cost['epoch_s']:.2f} s"
    )
    print(
        f"outer loop: {cost['outer_s']:.1f} s = {100 * cost['outer_s'] / search_s:.1f}% of "
        f"the search (median {statistics.median(outer):.3f} s per trial, max {max(outer):.3f})"
    )
    print(
        f"feature passes: {cost['features_s']:.1f} s = "
        f"{100 * cost['features_s'] / sum(trial_s):.1f}% of trial time (median per trial "
        f"{100 * statistics.median(feature_share):.1f}%)"
    )
    print(
        f"median trial {statistics.median(trial_s):.2f} s; search = "
        f"{cost['total_epochs']:.0f} epoch equivalents vs {cost['full_training_epochs']:.0f} "
        "for one full training"
    )


if __name__ == "__main__":
    main()

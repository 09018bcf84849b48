"""Part B ablation: feature history (a moving average of each feature over refreshes).

Run: .venv/bin/python experiments/feature_history.py [--jobs 2] [--history 0.667] [--trials 20]
                                                     [--seeds 1 2 3] [--select-seed 0]
                                                     [--datasets ...] [--settings ...]

The paper's features are one snapshot of the current network. A flipped label's loss stays
high over epochs while a clean hard example's falls, and a single snapshot mixes the two more
than an average over recent epochs does (the noisy-label literature's observation, issue 10's
hypothesis). ``sampler.history = h`` fits the transforms on ``h * average + (1 - h) * f_t`` at
every refresh (the features of epoch E_s seed it). h = 2/3 is an exponential average with the
span of a 5-epoch window (1 - h = 2 / (5 + 1)), fixed before any run and not tuned.

Everything else is the default protocol (``experiments/early_start.py``: E_s = 0.4 of the
schedule, the exact tail, 20 GP trials, cgf, L = 2), whose snapshot searches and trainings are
reused from its cache (run it first). h is chosen per setting on validation alone (the search
with the higher best validation score on the selection seed; ties keep the snapshot), and the
default changes only if validation prefers the average on both datasets. Test Top-1 on the
reported seeds (never the selection seed) is shown for both, at the last epoch and at the
best-validation epoch. Writes results/feature_history/summary.json and the section
``feature_history`` of docs/results.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lipschitz_early

NAME = "feature_history"


def main() -> None:
    args = lipschitz_early.parse_args(
        __doc__, "feature_history.py", "history", round(2 / 3, 3), "in (0, 1)"
    )
    lipschitz_early.ablate(
        args,
        name=NAME,
        key="history",
        symbol="h",
        title="Feature history with the early start (Part B ablation)",
    )


if __name__ == "__main__":
    main()

"""Part B ablation: the loss alone with S = 9 segments, against loss and Er with S = 4.

Run: .venv/bin/python experiments/segments.py [--jobs 2] [--loss-segments 9] [--trials 20]
                                              [--seeds 1 2 3] [--select-seed 0]
                                              [--datasets ...] [--settings ...]

SPEC 7a leaves open "the Lipschitz bound L and the segments S within 10 parameters". With the
two default features (the loss and the renormed entropy Er) and S = 4, each feature's function
has 5 knots a quarter of the unit interval apart. Spending all 10 parameters on the loss gives
one function with 10 knots a ninth apart: a finer cut on the (cgf-transformed) loss, which is
what separates flipped from clean labels under symmetric noise, at the price of Er, which the
paper's Figure 1 reads for the "high loss AND low Er" corner. The slope bound stays L = 2.

Everything else is the default protocol (``experiments/early_start.py``: E_s = 0.4 of the
schedule, the exact tail, 20 GP trials, cgf), whose loss-and-Er searches and trainings are
reused from its cache (run it first). The family is chosen per setting on validation alone (the
search with the higher best validation score on the selection seed; ties keep loss and Er),
and the default changes only if validation prefers the loss alone in most settings of both
datasets. Rule set before the runs (2026-12-01). Test Top-1 on the reported seeds (never the
selection seed) is shown for both, at the last epoch and at the best-validation epoch. Writes
results/segments/summary.json and the section ``segments`` of docs/results.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lipschitz_early

NAME = "segments"


def main() -> None:
    args = lipschitz_early.parse_args(
        __doc__, "segments.py", "loss_segments", 9, "an integer >= 1"
    )
    lipschitz_early.ablate(
        args,
        name=NAME,
        key="loss_segments",
        symbol="family",
        title="The loss alone with S = 9 against loss and Er with S = 4 (Part B ablation)",
    )


if __name__ == "__main__":
    main()

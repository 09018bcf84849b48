"""Part B ablation: combining the features' functions by a noisy-or instead of a product.

Run: .venv/bin/python experiments/combine.py [--jobs 2] [--combine noisy_or] [--trials 20]
                                             [--seeds 1 2 3] [--select-seed 0]
                                             [--datasets ...] [--settings ...]

SPEC 4 [ours: the form] weighs an instance by ``prod_m h_m(u_m)`` and says the product "lets
the sampler zero out a corner such as high loss AND low Er". It cannot: a product is 0 wherever
any factor is 0, so zeroing the corner zeroes a whole band with it, "high loss" (hard clean
instances too, whose Er is high) or "low Er" (easy confident ones too). The calibration of
experiments/oracle_start.py says where this may cost: on MNIST-1D with 40% symmetric noise the
loss alone ranks a flipped label above a clean one with probability 0.97-0.99 over the tail,
yet the found sampler keeps 16.5% of its mass on flipped labels (its own ranking: 0.95), and
the sharper cuts that would drop them (L = 8, drop-r%) lose on test; among the 40% highest
losses at the switch, 7% of the clean instances sit beside 90% of the flipped ones, and Er
tells them apart there with probability 0.77. ``sampler.combine = "noisy_or"`` weighs by
``1 - prod_m (1 - h_m(u_m))``: 0 only where every ``h_m`` is 0, the corner, and 1 wherever
any is 1. Same theta (10 parameters, L = 2, S = 4), same uniform trial 0.

Everything else is the default protocol (``experiments/early_start.py``: E_s = 0.4 of the
schedule, the exact tail, 20 GP trials, cgf), whose product searches and trainings are reused
from its cache (run it first). The combination is chosen per setting on validation alone (the
search with the higher best validation score on the selection seed; ties keep the product),
and the default changes only if validation prefers the noisy-or in most settings of both
datasets. Rule set before the runs (2026-12-01). Test Top-1 on the reported seeds (never the
selection seed) is shown for both, at the last epoch and at the best-validation epoch. Writes
results/combine/summary.json and the section ``combine`` of docs/results.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lipschitz_early

NAME = "combine"


def main() -> None:
    args = lipschitz_early.parse_args(__doc__, "combine.py", "combine", "noisy_or", "noisy_or")
    lipschitz_early.ablate(
        args,
        name=NAME,
        key="combine",
        symbol="combine",
        title="Combining the features: noisy-or against the product (Part B ablation)",
    )


if __name__ == "__main__":
    main()

"""Part B ablation: knot increments without plateaus, with the early shared start.

Run: .venv/bin/python experiments/increments.py [--jobs 2] [--increments scaled] [--trials 20]
                                                [--seeds 1 2 3] [--select-seed 0]
                                                [--datasets ...] [--settings ...]

SPEC 4 turns theta into knots by clipped steps, ``a_{s+1} = clip(a_s + (2 theta_{s+1} - 1)
L / S, 0, 1)``: whole regions of the box give one function (from ``a_s = 0.9`` with L / S =
0.5, every ``theta_{s+1}`` above 0.6 gives ``a_{s+1} = 1``), so the GP sees flat stretches
where no entry it moves changes the sampler, and its length scales must fit both those and the
places where the function does change. ``sampler.increments = "scaled"`` reaches the same
functions (slope at most L, values in [0, 1]) with each step a share of the room left towards 0
or 1, ``a_{s+1} = a_s + d min(L / S, room)``, so inside the box every entry moves a knot (issue
10's "a parametrisation without plateaus"; ``swift_sampler.family.theta_to_knots``).

Everything else is the default protocol (``experiments/early_start.py``: E_s = 0.4 of the
schedule, the exact tail, 20 GP trials, cgf, L = 2), whose clipped searches and trainings are
reused from its cache (run it first). The same search seed gives both parameterisations the
same uniform trial and the same Sobol start-up thetas (which mean other functions in each).
The parameterisation is chosen per setting on validation alone (the search with the higher best
validation score on the selection seed; ties keep clipped), and the default changes only if
validation prefers scaled in most settings of both datasets. Rule set before the runs
(2026-12-01). Test Top-1 on the reported seeds (never the selection seed) is shown for both, at
the last epoch and at the best-validation epoch. Writes results/increments/summary.json and the
section ``increments`` of docs/results.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lipschitz_early

NAME = "increments"


def main() -> None:
    args = lipschitz_early.parse_args(__doc__, "increments.py", "increments", "scaled", "scaled")
    lipschitz_early.ablate(
        args,
        name=NAME,
        key="increments",
        symbol="increments",
        title="Knot increments without plateaus (Part B ablation)",
    )


if __name__ == "__main__":
    main()

"""The REINFORCE outer loop's step size, chosen on synthetic problems (not on the benchmark).

Run: .venv/bin/python experiments/rl_step.py [--instances 30] [--trials 40 100] [--startup 8]

Figure 3 compares outer loops on the demo's search; the agent's own knobs must not be tuned on
that benchmark. They are chosen here instead, on three noisy 10-d problems in the unit box that
share the search's shape but none of its data: a sphere, a multimodal (Rastrigin-like) bowl and
a plateau function (theta rounded to quarters, as clipped increments make regions of theta give
one sampler). Every run has the search's protocol: slot 0 the uniform theta, slots 1..startup
the same Sobol points as GP and TPE, then the policy (started at the best start-up point) for
the rest of the budget; every budget in ``--trials`` is run (the default serves the demo's 40
trials and longer searches alike). A run's result is the noiseless value of the trial with the
best *observed* score (what a search returns). For each problem instance and budget the
configurations are ranked by that value; the chosen one has the lowest mean rank over
instances, problems and budgets.
Random search (same trial 0) is a reference row. Writes results/rl_step/summary.json and its
section of docs/results.md; takes about two minutes.
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, ROOT, replace_section, write_json

NAME = "rl_step"
DIM = 10
NOISE = 0.01
"""Observation noise (sd) of every score: a search scores on a few hundred noisy labels."""
LEARNING_RATES = (0.05, 0.1, 0.2, 0.4, 0.8)
SIGMA_INITS = (0.5, 1.0, 2.0)
BATCH_SIZES = (2, 4)


def _sphere(theta: np.ndarray, centre: np.ndarray) -> float:
    return -float(np.mean((theta - centre) ** 2))


def _rastrigin(theta: np.ndarray, centre: np.ndarray) -> float:
    x = theta - centre
    return -float(np.mean(x**2 + 0.02 * (1.0 - np.cos(2 * np.pi * 4 * x))))


def _plateau(theta: np.ndarray, centre: np.ndarray) -> float:
    return -float(np.mean(np.abs(np.round(4 * theta) / 4 - centre)))


PROBLEMS = {"sphere": _sphere, "rastrigin": _rastrigin, "plateau": _plateau}


def _run(kind: str, config: Any, problem: str, instance: int, trials: int, startup: int) -> float:
    """The noiseless value of the best-observed trial of one search on one instance."""
    from swift_sampler.search.outer import FinishedTrial, OptunaOuterLoop, _ReinforceAdapter

    # The problem's streams are apart from every search stream (those are seeded by
    # (instance, slot) and (instance, 7)).
    rng = np.random.default_rng([instance, 10**6, 1])
    centre = rng.uniform(0.1, 0.9, DIM)
    noise = np.random.default_rng([instance, 10**6, 2])
    f = PROBLEMS[problem]
    if kind == "rl":
        loop: Any = _ReinforceAdapter(DIM, seed=instance, startup_trials=startup, config=config)
    else:
        loop = OptunaOuterLoop("random", DIM, seed=instance, startup_trials=startup)
    history: list[FinishedTrial] = []
    true: list[float] = []
    for slot in range(trials):
        if slot == 0:
            theta = np.tile([1.0, 0.5, 0.5, 0.5, 0.5], DIM // 5)
        else:
            theta = loop.suggest(history, slot)[0]
        value = f(theta, centre)
        true.append(value)
        history.append(FinishedTrial(theta, value + NOISE * float(noise.standard_normal())))
    best = int(np.argmax([t.score for t in history]))
    return true[best]


def main() -> None:
    from swift_sampler.search.rl import ReinforceConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=30)
    parser.add_argument("--trials", type=int, nargs="+", default=[40, 100], help="budgets")
    parser.add_argument("--startup", type=int, default=8)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    command = ("python experiments/rl_step.py " + " ".join(sys.argv[1:])).strip()

    grid = list(itertools.product(LEARNING_RATES, SIGMA_INITS, BATCH_SIZES))
    names = [f"lr={lr:g} sigma0={s:g} batch={b}" for lr, s, b in grid]
    budgets = list(args.trials)
    values = np.empty((len(grid) + 1, len(budgets), len(PROBLEMS), args.instances))
    for b, trials in enumerate(budgets):
        for p, problem in enumerate(PROBLEMS):
            for i in range(args.instances):
                for g, (lr, sigma, batch) in enumerate(grid):
                    config = ReinforceConfig(batch_size=batch, learning_rate=lr, sigma_init=sigma)
                    values[g, b, p, i] = _run("rl", config, problem, i, trials, args.startup)
                values[-1, b, p, i] = _run("random", None, problem, i, trials, args.startup)
            print(f"{trials} trials, {problem} done", flush=True)
    # Rank the RL configurations per instance (1 = best; ties share the mean rank).
    from scipy.stats import rankdata

    ranks = rankdata(-values[:-1], axis=0)  # (configs, budgets, problems, instances)
    mean_rank = ranks.mean(axis=(1, 2, 3))
    chosen = int(np.argmin(mean_rank))
    rows = []
    for g, name in enumerate([*names, "random search"]):
        row: dict[str, Any] = {"config": name}
        if g < len(grid):
            lr, sigma, batch = grid[g]
            row |= {"learning_rate": lr, "sigma_init": sigma, "batch_size": batch}
            row["mean_rank"] = float(mean_rank[g])
        for b, trials in enumerate(budgets):
            row[f"rank_{trials}"] = float(ranks[g, b].mean()) if g < len(grid) else None
            for p, problem in enumerate(PROBLEMS):
                row[f"{problem}_{trials}"] = float(values[g, b, p].mean())
        rows.append(row)
    summary = {
        "instances": args.instances,
        "trials": budgets,
        "startup": args.startup,
        "noise_sd": NOISE,
        "chosen": rows[chosen],
        "rows": rows,
    }
    out = RESULTS / NAME
    write_json(out / "summary.json", summary)
    order = sorted(range(len(grid)), key=lambda g: mean_rank[g])
    date = datetime.date.today().isoformat()
    lines = [
        f"Command: `{command}`. Date: {date}. {args.instances} instances of each problem, "
        f"budgets {budgets} trials (slot 0 uniform, {args.startup} Sobol start-up points, then "
        f"the policy), observation noise sd {NOISE}. Value = noiseless value of the "
        "best-observed trial, mean over instances (0 is the optimum of sphere and rastrigin); "
        "rank = mean rank among the RL configurations (1 = best) over instances and problems "
        "per budget, and over all budgets.",
        "",
        "| configuration | mean rank | "
        + " | ".join(f"rank, {t} trials" for t in budgets)
        + " | "
        + " | ".join(f"{p}, {t}" for t in budgets for p in PROBLEMS)
        + " |",
        "|---" * (2 + len(budgets) * (1 + len(PROBLEMS))) + "|",
    ]
    for g in [*order[:8], len(grid)]:
        r = rows[g]
        rank = f"{r['mean_rank']:.2f}" if "mean_rank" in r else "-"
        per = " | ".join(
            "-" if r[f"rank_{t}"] is None else f"{r[f'rank_{t}']:.1f}" for t in budgets
        )
        cells = per + " | " + " | ".join(f"{r[f'{p}_{t}']:.4f}" for t in budgets for p in PROBLEMS)
        mark = " (chosen)" if g == chosen else ""
        lines.append(f"| {r['config']}{mark} | {rank} | {cells} |")
    lines.append("")
    lines.append(
        "The default `ReinforceConfig` takes the chosen configuration "
        f"({rows[chosen]['config']}); the eight best of the {len(grid)} and random search "
        "are shown."
    )
    text = "\n".join(lines)
    (out / "rl_step.md").write_text(text + "\n")
    if not args.no_docs:
        replace_section(
            ROOT / "docs" / "results.md",
            "rl_step",
            "## The RL outer loop's step size (chosen off the benchmark)\n\n" + text,
        )
    print(text)


if __name__ == "__main__":
    main()

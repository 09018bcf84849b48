"""The search's start portfolio (issue 11): samplers found on other data, tried first.

A full-fidelity search costs 16 to 19 trainings; the swift search (synchronous halving) costs
2 to 3 but chooses on early evidence that does not see what a sampler does late in the tail
(docs/benchmarks.md). This experiment builds the alternative: a short list of thetas, found by
full searches on *other* data, that a short search tries first at full fidelity. It is a
portfolio in the sense of warm-started hyper-parameter search (Feurer et al., "Efficient and
Robust Automated Machine Learning", 2015; auto-sklearn 2.0's greedy portfolio, 2022).

Nothing here reads the benchmark's data or settings (demo: MNIST-5k, 40% symmetric, CNN;
MNIST-1D conv1d, 40% symmetric, data seed 0; MNIST-1D conv1d, 40% pair, data seed 1). The four
"portfolio settings" differ from each of them in the noise rate and the data seed at least
(MNIST-1D with conv1d is a neighbour of two of them; MNIST-5k is never used):

- ``digits-pair30``: sklearn digits, an MLP, 30% pair noise, data seed 4, 30 epochs;
- ``m1d-sym20``: MNIST-1D, conv1d, 20% symmetric noise, data seed 5, 60 epochs;
- ``m1d-pair20``: MNIST-1D, conv1d, 20% pair noise, data seed 7, 60 epochs;
- ``m1d-sym30``: MNIST-1D, conv1d, 30% symmetric noise, data seed 9, 60 epochs.

(Two first tries were dropped before any portfolio was built, on their full searches alone:
digits with 40% symmetric noise, where no candidate beat uniform on validation (a flat
landscape teaches nothing), and MNIST-1D with an MLP, which reaches only 0.38-0.43 validation
accuracy. Their searches are in ``results/portfolio/runs/`` under the old keys.)

Every setting uses the library's default protocol (demo.toml's: cgf, L = 2, S = 4, the shared
start at 40% of the schedule, the exact tail, GP, 20 trials, search seed 0).

1. ``search``: a full-fidelity search on each setting.
2. ``pool``: the 3 best thetas of each search (12).
3. ``cross``: every pooled theta scored at full fidelity on every setting (one search per
   setting whose trials are the uniform sampler then the pool, ``search.start_thetas``), with
   search seed 1: a fresh shared start and fresh draws, so that a theta's score on the setting
   it was picked on is not the maximum it was picked as.
4. ``greedy``: the portfolio, K thetas picked greedily (auto-sklearn 2.0's rule) to maximise
   the mean over settings of the best validation score of {uniform} + picked, each setting's
   scores normalised to [0, 1] between uniform and the best pooled theta there.

    .venv/bin/python experiments/portfolio.py             # ~20 min with 2 free cores

Writes results/portfolio/summary.json; the portfolio it prints is the one
``swift_sampler.portfolio`` ships.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tomllib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, ROOT, Job, replace_section, run_jobs, write_json

EXPERIMENT = "portfolio"
SETTINGS: dict[str, dict[str, Any]] = {
    "digits-pair30": {
        "data": {"name": "digits", "noise_rate": 0.3, "noise_type": "pair", "seed": 4},
        "model": {"name": "mlp"},
        "epochs": 30,
    },
    "m1d-sym20": {
        "data": {"name": "mnist1d", "noise_rate": 0.2, "noise_type": "symmetric", "seed": 5},
        "model": {"name": "conv1d"},
        "epochs": 60,
    },
    "m1d-pair20": {
        "data": {"name": "mnist1d", "noise_rate": 0.2, "noise_type": "pair", "seed": 7},
        "model": {"name": "conv1d"},
        "epochs": 60,
    },
    "m1d-sym30": {
        "data": {"name": "mnist1d", "noise_rate": 0.3, "noise_type": "symmetric", "seed": 9},
        "model": {"name": "conv1d"},
        "epochs": 60,
    },
}
CROSS_SEED = 1
"""The cross scores use another shared start and other draws than the searches that chose the
pool (seed 0): a theta's score on its own setting is then not the maximum it was picked as."""
POOL_PER_SETTING = 3
PORTFOLIO_SIZE = 4


def raw_config(setting: str, s: dict[str, Any]) -> dict[str, Any]:
    """demo.toml's protocol on a portfolio setting ``s`` (never the benchmark's data)."""
    raw = tomllib.loads((ROOT / "configs" / "demo.toml").read_text())
    raw["data"] = dict(s["data"])
    raw["model"] = dict(s["model"])
    raw["train"]["epochs"] = s["epochs"]
    raw["search"]["study_name"] = f"portfolio-{setting}"
    return raw


def _search(
    setting: str,
    definition: dict[str, Any],
    start_thetas: list[list[float]] | None,
    tag: str,
    seed: int = 0,
) -> dict[str, Any]:
    from swift_sampler.config import parse_config
    from swift_sampler.search.driver import run_search

    raw = raw_config(setting, definition)
    raw["search"]["patience"] = 0
    raw["search"]["seed"] = seed
    raw["final"]["seeds"] = [seed + 1]  # unused here (no final training); never the search seed
    if start_thetas is not None:
        raw["search"]["start_thetas"] = start_thetas
        raw["search"]["trials"] = 1 + len(start_thetas)
        raw["search"]["study_name"] += f"-{tag}"
    config = parse_config(raw, source=f"portfolio {setting} {tag}")
    run_dir = RESULTS / EXPERIMENT / "search" / f"{setting}-{tag}"
    result = run_search(config, run_dir, resume=(run_dir / "config.toml").exists())
    trials = [
        {"slot": t.slot, "theta": list(t.theta), "score": t.score, "state": t.state}
        for t in result.trials
    ]
    return {"setting": setting, "tag": tag, "trials": trials, "cost": result.cost}


def greedy(scores: dict[str, list[float]], uniform: dict[str, float], k: int) -> list[int]:
    """Indices of ``k`` pooled thetas picked greedily: each step adds the theta that most
    raises the mean over settings of max(0, best picked) in normalised units (0 = uniform,
    1 = the best pooled theta of that setting); ties go to the lower index."""
    settings = sorted(scores)
    n = len(scores[settings[0]])
    norm = {}
    for s in settings:
        top = max(scores[s])
        span = max(top - uniform[s], 1e-9)
        norm[s] = [(v - uniform[s]) / span for v in scores[s]]
    picked: list[int] = []
    for _ in range(k):

        def value(extra: int) -> float:
            chosen = [*picked, extra]
            return sum(max(0.0, *(norm[s][i] for i in chosen)) for s in settings) / len(settings)

        candidates = [i for i in range(n) if i not in picked]
        picked.append(max(candidates, key=lambda i: (value(i), -i)))
    return picked


def markdown(summary: dict[str, Any], picked: list[int]) -> str:
    """docs/results.md's section: the cross scores and the picks."""
    settings = list(summary["settings"])
    lines = [
        "## The start portfolio (issue 11): samplers found on other data",
        "",
        "Command: `python experiments/portfolio.py`. Date: 2026-11-30. A full-fidelity search "
        "(the default protocol: cgf, L = 2, S = 4, E_s = 40% of the schedule, the exact tail, "
        "20 GP trials, search seed 0) on each of four settings that share no dataset-network-"
        "noise combination with the benchmarks (MNIST-5k is never used); the 3 best thetas of "
        "each pooled; every pooled theta scored at full fidelity on every setting with search "
        f"seed {CROSS_SEED} (another shared start and other draws than the searches that "
        "picked them); then a greedy portfolio (each pick adds the most to the mean over "
        "settings of the best normalised validation score, 0 = uniform, 1 = the best pooled "
        "theta there; once the mean is 1, the next pick adds nothing and is the first pooled "
        "theta left). Validation Top-1 (noisy labels), seed "
        f"{CROSS_SEED}:",
        "",
        "| pooled theta (setting, slot of its search) | "
        + " | ".join(settings)
        + " | mean normalised | pick |",
        "|---" * (len(settings) + 3) + "|",
        "| uniform | "
        + " | ".join(f"{summary['uniform_val'][s]:.3f}" for s in settings)
        + " | 0.00 | |",
    ]
    for i, entry in enumerate(summary["pool"]):
        scores = [summary["cross_val"][s][i] for s in settings]
        norm = [
            (v - summary["uniform_val"][s])
            / max(max(summary["cross_val"][s]) - summary["uniform_val"][s], 1e-9)
            for v, s in zip(scores, settings, strict=True)
        ]
        pick = str(picked.index(i) + 1) if i in picked else ""
        lines.append(
            f"| {entry['origin']} | "
            + " | ".join(f"{v:.3f}" for v in scores)
            + f" | {sum(norm) / len(norm):.2f} | {pick} |"
        )
    cost = summary["cost_trainings"]
    lines += [
        "",
        "Settings: "
        + "; ".join(
            f"`{name}` {d['data']['name']} {d['model']['name']} "
            f"{d['data']['noise_type']} {d['data']['noise_rate']:.0%} (data seed "
            f"{d['data']['seed']}, {d['epochs']} epochs)"
            for name, d in summary["settings"].items()
        )
        + f". Cost of building it: {sum(cost.values()):.0f} trainings in all (the four "
        "searches and the four cross-scorings, each counted in trainings of its own setting). "
        "The picks, in order, are `swift_sampler.portfolio.THETAS`: `search.portfolio = k` "
        "tries the first k. The first two both come from `m1d-sym20`: MNIST-1D with conv1d and "
        "symmetric noise, a neighbour of the MNIST-1D benchmark config (40%, data seed 0); the "
        "demo's MNIST-5k and CNN are in no setting. What they do in the benchmark: "
        'docs/benchmarks.md, "The start portfolio".',
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()

    first = run_jobs(
        [
            Job(
                EXPERIMENT,
                f"search-{s}",
                _search,
                {"setting": s, "definition": d, "start_thetas": None, "tag": "full"},
            )
            for s, d in SETTINGS.items()
        ],
        processes=args.jobs,
    )
    pool: list[list[float]] = []
    origin: list[str] = []
    for s in SETTINGS:
        done = [t for t in first[f"search-{s}"]["trials"] if t["slot"] != 0]
        done.sort(key=lambda t: (-t["score"], t["slot"]))
        for t in done[:POOL_PER_SETTING]:
            pool.append(t["theta"])
            origin.append(f"{s} slot {t['slot']}")
    cross = run_jobs(
        [
            Job(
                EXPERIMENT,
                f"cross-{s}",
                _search,
                {
                    "setting": s,
                    "definition": d,
                    "start_thetas": pool,
                    "tag": f"cross-s{CROSS_SEED}",
                    "seed": CROSS_SEED,
                },
            )
            for s, d in SETTINGS.items()
        ],
        processes=args.jobs,
    )
    scores: dict[str, list[float]] = {}
    uniform: dict[str, float] = {}
    for s in SETTINGS:
        by_slot = {t["slot"]: t["score"] for t in cross[f"cross-{s}"]["trials"]}
        uniform[s] = by_slot[0]
        scores[s] = [by_slot[i + 1] for i in range(len(pool))]
    picked = greedy(scores, uniform, PORTFOLIO_SIZE)
    summary = {
        "settings": copy.deepcopy(SETTINGS),
        "pool": [{"theta": th, "origin": o} for th, o in zip(pool, origin, strict=True)],
        "uniform_val": uniform,
        "cross_val": scores,
        "portfolio": [{"theta": pool[i], "origin": origin[i]} for i in picked],
        "full_search_best_val": {
            s: max(t["score"] for t in first[f"search-{s}"]["trials"]) for s in SETTINGS
        },
        "cost_trainings": {
            k: v["cost"]["total_epochs"] / v["cost"]["full_training_epochs"]
            for k, v in {**first, **cross}.items()
        },
    }
    write_json(RESULTS / EXPERIMENT / "summary.json", summary)
    if RESULTS == ROOT / "results":
        replace_section(ROOT / "docs" / "results.md", "portfolio", markdown(summary, picked))
    print(json.dumps(summary["portfolio"], indent=1))
    for s in SETTINGS:
        row = " ".join(f"{v:.3f}" for v in scores[s])
        print(f"{s:16s} uniform {uniform[s]:.3f} | {row}")


if __name__ == "__main__":
    main()

"""Part B calibration: do the rarely drawn flipped labels matter? A floor cut on the found sampler.

Run: .venv/bin/python experiments/floor_cut.py [--jobs 2] [--cut 0.5]

experiments/oracle_start.py and instance_gap.py found the whole of SS's gap to the oracle in the
flipped labels its sampler keeps, and instance_gap.py found a few percent of its probability on
them costing several points: a label drawn rarely is still learnt. The family cannot drop them
sharply (its Lipschitz bound), and a sharper bound did not win on validation (L = 8). This
calibration asks whether zeroing what the sampler already draws rarely helps: the default
protocol's found sampler (experiments/early_start.py's full search, search seed 0, Table 1's
eight settings), retrained with every instance whose probability is under ``cut`` times the
mean (under ``cut`` times uniform's) set to 0 at each refresh, and nothing else changed; beside
it the same sampler retrained as it is, on this machine. No label is read: the cut is a
sampler any user could apply.

Set before the runs (2026-12-02): the cut is 0.5, not tuned. Selection and report are apart:
each arm's seed-0 final training (the search's own seed) gives the validation Top-1 at the last
epoch that decides, per setting, whether the cut would be kept; seeds 1, 2, 3 give the test
Top-1 that is reported, last epoch / at the best-validation epoch, for both arms. The reading
set before: a cut that validation keeps in a majority of the settings of both datasets is
worth building into the family (a next step, with its own search); otherwise it is not. This
script changes no default. Writes results/floor_cut/summary.json and prints the table that
docs/results.md quotes.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import early_start
import table1
from _common import RESULTS, Job, mean_std, run_jobs, write_json

NAME = "floor_cut"
SELECT = 0
SEEDS = [1, 2, 3]
FRACTION = 0.4


def cut_retrain_job(
    dataset: str, noise_type: str, noise: float, seed: int, spec: dict[str, Any], cut: float
) -> dict[str, Any]:
    """early_start's final training of the found sampler ``spec`` with seed ``seed``; with
    ``cut > 0`` every refresh sets the probabilities under ``cut`` times their mean to 0.
    Records, from E_s on, the share of instances zeroed and the sampler's mass on the flipped
    labels (read from the noise mask only to record it)."""
    import numpy as np

    from swift_sampler.family import SamplerSpec
    from swift_sampler.search.final import train_arm
    from swift_sampler.search.setup import build_experiment

    config = early_start.make_config(dataset, noise_type, noise, FRACTION, 20, 0)
    experiment = build_experiment(config)
    zeroed: list[float] = []

    def observe(epoch: int, sampler: Any, features: Any) -> None:
        if cut > 0:
            p = sampler.probabilities
            low = p < cut * p.mean()
            sampler.set_weights(np.where(low, 0.0, p))
            zeroed.append(float(low.mean()))

    shared = config.search.shared_epochs
    run = train_arm(
        experiment.trainer,
        SamplerSpec.from_dict(spec),
        seed=seed,
        shared_epochs=shared,
        noise_mask=experiment.noise_mask,
        on_sampler=observe,
    ).summary()
    run["noisy_share"] = run["noisy_share"][shared:]
    return run | {"zeroed": zeroed}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--cut", type=float, default=0.5, help="share of the mean probability")
    args = parser.parse_args()
    if not 0 < args.cut < 1:
        parser.error(f"--cut must be in (0, 1), got {args.cut}")
    pairs = [(d, s) for d in ("mnist5k", "mnist1d") for s in table1.SETTINGS]
    specs = {}
    for d, s in pairs:
        cell = early_start.cell_kwargs(d, s, FRACTION, SELECT) | {"trials": 20}
        found = Job(early_start.NAME, f"search-{d}-{s}", early_start.search_job, cell).cached()
        if found is None:
            raise SystemExit(f"floor_cut.py: error: no cached search of {d}:{s}; run early_start")
        specs[d, s] = found["spec"]

    def job(d: str, s: str, seed: int, cut: float) -> Job:
        noise_type, noise = table1.NOISE_SETTINGS[s]
        kw = {"dataset": d, "noise_type": noise_type, "noise": noise, "seed": seed}
        key = f"{d}-{s}-s{seed}" + (f"-cut{cut:g}" if cut else "")
        return Job(NAME, key, cut_retrain_job, kw | {"spec": specs[d, s], "cut": cut})

    cuts = (0.0, args.cut)
    jobs = [job(d, s, n, c) for d, s in pairs for c in cuts for n in [SELECT, *SEEDS]]
    done = run_jobs(jobs, processes=args.jobs)

    rows = []
    for d, s in pairs:
        arms = {}
        for c in cuts:
            runs = [done[job(d, s, n, c).key] for n in SEEDS]
            select = done[job(d, s, SELECT, c).key]
            arms["cut" if c else "as found"] = early_start.arm(runs) | {
                "select_val_last": 100 * select["val_top1"][-1],
                "noisy_share_last": 100 * mean_std(r["noisy_share"][-1] for r in runs)[0],
                "zeroed_tail": 100 * mean_std(z for r in runs for z in r["zeroed"])[0]
                if c
                else 0.0,
            }
        keep = arms["cut"]["select_val_last"] > arms["as found"]["select_val_last"]
        rows.append({"dataset": d, "setting": s, "cut_share": args.cut, "kept": keep, **arms})
    tag = "" if args.cut == 0.5 else f"-c{args.cut:g}"
    write_json(RESULTS / NAME / f"summary{tag}.json", rows)
    print(markdown(rows, args.cut))


def markdown(rows: list[dict[str, Any]], cut: float) -> str:
    lines = [
        f"Command: `python experiments/floor_cut.py --cut {cut:g}`. Date: "
        f"{datetime.date.today()}. The default protocol's found sampler (early_start's full "
        "search, search seed 0) retrained as found and with probabilities under "
        f"{cut:g} x the mean set to 0 at each refresh. 'seed-0 val': the selection seed's "
        "validation Top-1 at the last epoch (decides 'kept'); test Top-1 (%) on seeds "
        f"{SEEDS}, mean, last epoch / at the best-validation epoch; flipped mass at the last "
        "epoch (%); zeroed: share of the instances under the cut over the tail (%).",
        "",
        "| dataset | setting | seed-0 val as found / cut | kept | test as found | test cut | "
        "flipped mass as found / cut | zeroed |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        a, c = r["as found"], r["cut"]
        lines.append(
            f"| {r['dataset']} | {r['setting']} | {a['select_val_last']:.1f} / "
            f"{c['select_val_last']:.1f} | {'yes' if r['kept'] else 'no'} | "
            f"{a['last_mean']:.1f} / {a['at_best_val_mean']:.1f} | "
            f"{c['last_mean']:.1f} / {c['at_best_val_mean']:.1f} | "
            f"{a['noisy_share_last']:.1f} / {c['noisy_share_last']:.1f} | "
            f"{c['zeroed_tail']:.0f} |"
        )
    kept = {d: sum(r["kept"] for r in rows if r["dataset"] == d) for d in ("mnist5k", "mnist1d")}
    lines += [
        "",
        "Validation keeps the cut in "
        + ", ".join(f"{k} of 4 {d} settings" for d, k in kept.items())
        + (
            ": a majority on both datasets."
            if all(k >= 3 for k in kept.values())
            else ": not a majority on both datasets."
        ),
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()

"""The swift preset on every Table 1 setting, beside the full search of the default protocol.

Run: .venv/bin/python experiments/swift_table1.py [--jobs 2] [--seeds 1 2 3] [--select-seed 0]

``search.preset = "swift"`` (the uniform sampler and the built-in start portfolio, screened on
a third of the fine-tune by synchronous halving, the best two finishing it: about 2.5 trainings)
against experiments/early_start.py's full search (the default protocol: E_s = 0.4 of the
schedule, the exact tail, 20 GP trials, cgf), on both datasets at 0%, 20% and 40% symmetric and
40% pair noise. Same data, networks, recipe, shared start and search seed; the found samplers
train with the reported seeds (never the search seed), from E_s on. The benchmark configs of
benchmarks/bench_search_cost.py are two of these eight settings (MNIST-5k and MNIST-1D at 40%
symmetric noise, search seed 0); the other six are outside it. The portfolio's provenance:
its thetas come from full searches on digits and on MNIST-1D with conv1d at 20-30% noise
(other data seeds), so the MNIST-1D rows are transfer from neighbouring settings.

Every search and training is a cached job (early_start's L = 2 jobs are reused, never rerun);
writes results/swift_table1/summary.json and the section ``swift_table1`` of docs/results.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import early_start
import table1
from _common import RESULTS, ROOT, Job, replace_section, run_jobs, write_json

NAME = "swift_table1"


def make_config(
    dataset: str, noise_type: str, noise: float, fraction: float, select_seed: int
) -> Any:
    """early_start's config with ``preset = "swift"`` as its whole [search] section (the same
    E_s, tail, seed and study name)."""
    from swift_sampler.config import parse_config

    full = early_start.make_config(dataset, noise_type, noise, fraction, 20, select_seed)
    data = full.to_dict()
    s = full.search
    data["search"] = {
        "preset": "swift",
        "seed": s.seed,
        "shared_epochs": s.shared_epochs,
        "finetune_epochs": s.finetune_epochs,
        "finetune_schedule": s.finetune_schedule,
        "study_name": f"{s.study_name}-swift",
    }
    return parse_config(data, source=f"{dataset} {noise_type} {noise} swift")


def search_job(
    dataset: str, noise_type: str, noise: float, fraction: float, select_seed: int
) -> dict[str, Any]:
    """Runs (or resumes) one swift search."""
    from swift_sampler.search.driver import run_search

    config = make_config(dataset, noise_type, noise, fraction, select_seed)
    seed = "" if select_seed == 0 else f"-seed{select_seed}"  # seed 0's name predates it
    run_dir = RESULTS / NAME / "search" / f"{dataset}-{noise_type}{noise}{seed}"
    result = run_search(config, run_dir, resume=(run_dir / "config.toml").exists())
    return {
        "spec": result.spec.to_dict(),
        "best_val": result.best_score,
        "best_slot": result.best_slot,
        "shared_epochs": config.search.shared_epochs,
        "min_resource": config.search.min_resource,
        "cost": result.cost,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--fraction", type=float, default=0.4, help="E_s / epochs")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="reported")
    parser.add_argument("--select-seed", type=int, default=0)
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    if args.select_seed in args.seeds:
        parser.error(f"--select-seed {args.select_seed} is one of --seeds: report other seeds")
    command = ("python experiments/swift_table1.py " + " ".join(sys.argv[1:])).strip()
    pairs = [(d, s) for d in ("mnist5k", "mnist1d") for s in table1.SETTINGS]
    pairs.sort(key=lambda p: (p[1] != "sym40", p))

    def base(dataset: str, setting: str) -> dict[str, Any]:
        return early_start.cell_kwargs(dataset, setting, args.fraction, args.select_seed)

    full_searches, full_trains = early_start.cached_runs(
        pairs, lambda *p: base(*p) | {"trials": 20}, args.seeds
    )
    searches = {p: Job(NAME, f"search-{p[0]}-{p[1]}", search_job, base(*p)) for p in pairs}
    done = run_jobs(list(searches.values()), processes=args.jobs)
    # The same final training as early_start's (its config has the same E_s and recipe).
    trains = {
        (p, s): Job(
            NAME,
            f"train-{p[0]}-{p[1]}-s{s}",
            early_start.train_job,
            base(*p) | {"trials": 20, "seed": s, "spec": done[searches[p].key]["spec"]},
        )
        for p in pairs
        for s in args.seeds
    }
    done.update(run_jobs(list(trains.values()), processes=args.jobs))

    table1_path = RESULTS / "table1" / "summary.json"
    table1_rows = json.loads(table1_path.read_text()) if table1_path.exists() else []
    rows = []
    for p in pairs:
        noise_type, noise = table1.NOISE_SETTINGS[p[1]]
        full, swift = full_searches[p], done[searches[p].key]
        arms = {
            "full": early_start.arm([full_trains[p, s] for s in args.seeds]),
            "swift": early_start.arm([done[trains[p, s].key] for s in args.seeds]),
        }
        same_info = early_start.same_information(table1_rows, p[0], noise_type, noise)
        uniform = next((r for r in same_info if r["method"] == "uniform"), None)

        def trainings(cost: dict[str, float]) -> float:
            return cost["total_epochs"] / cost["full_training_epochs"]

        rows.append(
            {
                "dataset": p[0],
                "setting": p[1],
                "noise_type": noise_type,
                "noise": noise,
                "seeds": list(args.seeds),
                "select_seed": args.select_seed,
                "best_val_full": full["best_val"],
                "best_val_swift": swift["best_val"],
                "best_slot_swift": swift["best_slot"],
                "trainings_full": trainings(full["cost"]),
                "trainings_swift": trainings(swift["cost"]),
                "full": arms["full"],
                "swift": arms["swift"],
                "uniform_last": None if uniform is None else uniform["last_mean"],
                "uniform_at_best_val": None if uniform is None else uniform["at_best_val_mean"],
                **early_start.best_same_information(same_info),
            }
        )
    write_json(RESULTS / NAME / "summary.json", {"seeds": args.seeds, "rows": rows})

    def cell(arm: dict[str, float]) -> str:
        return (
            f"{arm['last_mean']:.1f} ± {arm['last_std']:.1f} / "
            f"{arm['at_best_val_mean']:.1f} ± {arm['at_best_val_std']:.1f}"
        )

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f}"

    date = datetime.date.today().isoformat()
    lines = [
        f"Command: `{command}`. Date: {date}. The full search of the default protocol "
        f'(experiments/early_start.py: 20 GP trials) and `preset = "swift"` on the same '
        f"shared start (search seed {args.select_seed}); test Top-1 (%) on seeds {args.seeds}, "
        "mean ± std, last epoch / at the best-validation epoch. 'best same-info' is the best of "
        "Table 1's methods with SS's information (uniform, uniform + early stopping, REED, the "
        "practical variants) in each column, named; 'uniform' is Table 1's uniform row.",
        "",
        "| dataset | setting | search val full / swift | search (trainings) full / swift | "
        "SS(cgf) full search | SS(cgf) swift preset | uniform | best same-info |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['setting']} | {100 * r['best_val_full']:.1f} / "
            f"{100 * r['best_val_swift']:.1f} | {r['trainings_full']:.1f} / "
            f"{r['trainings_swift']:.1f} | {cell(r['full'])} | {cell(r['swift'])} | "
            f"{num(r['uniform_last'])} / {num(r['uniform_at_best_val'])} | "
            f"{early_start.same_information_cell(r)} |"
        )
    text = "\n".join(lines) + "\n"
    (RESULTS / NAME / "swift_table1.md").write_text(text)
    print(text)
    if not args.no_docs:
        replace_section(
            ROOT / "docs" / "results.md",
            NAME,
            "## The swift preset on every Table 1 setting (issue 11)\n\n" + text,
        )


if __name__ == "__main__":
    main()

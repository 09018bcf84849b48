"""When should final training switch to the found sampler? (An ablation of SPEC section 7.)

Run: .venv/bin/python experiments/apply_epoch.py [--jobs 2] [--seeds 1 2 3] [--select-seed 0]
                                                 [--settings sym40 pair40 sym20 sym0]
                                                 [--epochs 0 5 10 15]

SPEC section 7 trains uniformly for the first E_s epochs (15 of 20 in Table 1's late protocol,
``table1.py --protocol late``; this ablation led to experiments/early_start.py) and switches to the
found sampler after that, the regime the search scored. Table 1 shows what that costs under label
noise: SS(cgf) ends where uniform training's best epoch was, while MentorNet-PD and Co-teaching,
which filter from their early epochs on, end higher. This command takes Table 1's late-protocol
SS(cgf) sampler of each MNIST-5k setting (the same cached search: only its 10 numbers are used,
features come from the network being trained, refreshed every epoch) and switches to it after ``k``
uniform epochs for every ``k`` in ``--epochs``; ``k = 15`` is Table 1's own SS(cgf) arm (the same
cached runs). Nothing is searched again.

``k`` is chosen per setting on validation only, on ``--select-seed``: the highest last-epoch
validation Top-1 (validation labels carry the same noise as training; ties go to the later ``k``,
the regime the search scored). Reported on the other seeds (``--seeds``): test Top-1 at the last
epoch and at the best-validation epoch, mean and std, beside Table 1's uniform arm. Every run is
one cached job; a rerun recomputes nothing. About 25-40 s per 20-epoch run on one thread; the
default grid has 36 new runs, about 12 minutes with --jobs 2.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import table1
from _common import (
    RESULTS,
    ROOT,
    Job,
    atomic_path,
    mean_std,
    replace_section,
    run_jobs,
    train_with_sampler,
    write_json,
    write_text_atomic,
)

NAME = "apply_epoch"
DATASET = "mnist5k"


def apply_job(
    dataset: str,
    noise_type: str,
    noise: float,
    trials: int,
    seed: int,
    spec: dict[str, Any],
    apply_epoch: int,
) -> dict[str, Any]:
    """Trains from scratch: uniform for ``apply_epoch`` epochs, then the sampler ``spec``."""
    config = table1.make_config(dataset, noise_type, noise, "cgf", trials)
    return train_with_sampler(config, spec, seed=seed, uniform_epochs=apply_epoch)


Run = tuple[str, int | None, int]
"""(setting, k, seed) of one training; k None is the uniform arm."""


def _runs(args: argparse.Namespace, specs: dict[str, Any], switch: int) -> dict[Run, Job]:
    """Every training by (setting, k, seed): Table 1's own uniform and SS(cgf) runs (cached
    there; its SS arm switches at epoch ``switch``) and the new switch epochs."""
    runs: dict[Run, Job] = {}
    for setting, spec in specs.items():
        for seed in [args.select_seed, *args.seeds]:
            runs[setting, None, seed] = table1.train(
                DATASET, setting, "uniform", seed, args.trials, None
            )
            for k in args.epochs:
                if k == switch:
                    job = table1.train_ss(DATASET, setting, "ss_cgf", seed, args.trials, spec)
                else:
                    kw = table1._setting_kwargs(DATASET, setting, args.trials)
                    kw |= {"seed": seed, "spec": spec, "apply_epoch": k}
                    key = f"train-{DATASET}-{setting}-ss_cgf-k{k}-s{seed}"
                    job = Job(NAME, key, apply_job, kw)
                runs[setting, k, seed] = job
    return runs


def summarise(
    args: argparse.Namespace, done: dict[str, Any], runs: dict[Run, Job], switch: int
) -> dict[str, Any]:
    rows = []
    chosen = {}
    for setting in args.settings:
        noise_type, noise = table1.SETTINGS[setting]
        arms: list[int | None] = [None, *args.epochs]
        setting_rows = []
        for k in arms:
            results = [done[runs[setting, k, s].key] for s in args.seeds]
            last = mean_std(100 * r["last"] for r in results)
            at_val = mean_std(100 * r["test_at_best_val"] for r in results)
            val_last = mean_std(100 * r["val_top1"][-1] for r in results)
            select_val = 100 * done[runs[setting, k, args.select_seed].key]["val_top1"][-1]
            setting_rows.append(
                {
                    "setting": setting,
                    "noise_type": noise_type,
                    "noise": noise,
                    "arm": "uniform" if k is None else f"SS(cgf) from epoch {k}",
                    "apply_epoch": k,
                    "seeds": list(args.seeds),
                    "last_mean": last[0],
                    "last_std": last[1],
                    "at_best_val_mean": at_val[0],
                    "at_best_val_std": at_val[1],
                    "val_last_mean": val_last[0],
                    "select_seed": args.select_seed,
                    "select_val_last": select_val,
                    "noisy_share_last": sum(r["noisy_share"][-1] for r in results) / len(results),
                    "test_curve": [
                        100 * sum(r["test_top1"][e] for r in results) / len(results)
                        for e in range(len(results[0]["test_top1"]))
                    ],
                }
            )
        ss = [r for r in setting_rows if r["apply_epoch"] is not None]
        pick = max(ss, key=lambda r: (round(r["select_val_last"], 6), r["apply_epoch"]))
        chosen[setting] = pick["apply_epoch"]
        for r in setting_rows:
            r["chosen_on_val"] = r is pick
        rows.extend(setting_rows)
    return {
        "dataset": DATASET,
        "table1_apply_epoch": switch,
        "chosen": chosen,
        "selection": "per setting: highest last-epoch validation Top-1 of the selection seed; "
        "ties to the later epoch; reported seeds are the others",
        "rows": rows,
    }


def markdown(summary: dict[str, Any], args: argparse.Namespace, command: str) -> str:
    date = datetime.date.today().isoformat()
    lines = [
        f"Command: `{command}`. Date: {date}. {DATASET}, the small CNN, 20 epochs; Table 1's "
        "late-protocol SS(cgf) sampler of each setting (searched with E_s = "
        f"{summary['table1_apply_epoch']}), "
        f"switched on after k uniform epochs; reported seeds {args.seeds}; test Top-1 (%), mean "
        f"± std, at the last epoch and at the best-validation epoch. k = "
        f"{summary['table1_apply_epoch']} and uniform are Table 1's own runs. k is chosen per "
        f"setting on validation of seed {args.select_seed} (highest last-epoch validation "
        "Top-1, noisy labels), not a reported seed: marked ✓. 'noisy mass' is the share of the "
        "sampling probability on the injected noisy instances at the last epoch.",
        "",
        "| setting | arm | last epoch | at best val | val last (noisy), selection seed | "
        "noisy mass |",
        "|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        mark = " ✓" if r["chosen_on_val"] else ""
        share = "-" if r["apply_epoch"] is None else f"{100 * r['noisy_share_last']:.1f}%"
        lines.append(
            f"| {r['setting']} | {r['arm']}{mark} | {r['last_mean']:.1f} ± {r['last_std']:.1f} | "
            f"{r['at_best_val_mean']:.1f} ± {r['at_best_val_std']:.1f} | "
            f"{r['select_val_last']:.1f} | {share} |"
        )
    return "\n".join(lines) + "\n"


def figure(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    settings = list(dict.fromkeys(r["setting"] for r in summary["rows"]))
    fig, axes = plt.subplots(1, len(settings), figsize=(4.2 * len(settings), 3.6), squeeze=False)
    for ax, setting in zip(axes[0], settings, strict=True):
        rows = [r for r in summary["rows"] if r["setting"] == setting]
        for r in rows:
            epochs = range(1, len(r["test_curve"]) + 1)
            style = "--" if r["apply_epoch"] is None else "-"
            ax.plot(epochs, r["test_curve"], style, label=r["arm"].replace("SS(cgf) ", ""))
        ax.set_title(f"{summary['dataset']} {setting}")
        ax.set_xlabel("epoch")
        ax.set_ylabel("test Top-1 (%), mean over seeds")
        ax.set_ylim(bottom=max(0.0, min(min(r["test_curve"][-5:]) for r in rows) - 5))
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes (1 thread each)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="reported")
    parser.add_argument("--select-seed", type=int, default=0, help="the seed k is chosen on")
    parser.add_argument(
        "--settings",
        nargs="+",
        default=["sym40", "pair40", "sym20", "sym0"],
        choices=list(table1.SETTINGS),
    )
    parser.add_argument("--epochs", type=int, nargs="+", default=[0, 5, 10, 15])
    parser.add_argument("--trials", type=int, default=40, help="Table 1's search budget")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/results.md")
    args = parser.parse_args()
    total = table1.DATASETS[DATASET]["epochs"]
    bad = [k for k in args.epochs if not 0 <= k < total]
    if bad:
        parser.error(f"--epochs must lie in [0, {total - 1}] ({total} epochs), got {bad}")
    args.epochs = sorted(set(args.epochs))
    if args.select_seed in args.seeds:
        parser.error(f"--select-seed {args.select_seed} is one of --seeds: report other seeds")
    command = ("python experiments/apply_epoch.py " + " ".join(sys.argv[1:])).strip()

    searches = {
        setting: table1.search(DATASET, setting, "ss_cgf", args.trials)
        for setting in args.settings
    }
    done = run_jobs(list(searches.values()), processes=args.jobs)
    specs = {setting: done[job.key]["spec"] for setting, job in searches.items()}
    switch = table1.make_config(DATASET, "symmetric", 0.4, "cgf", args.trials).search.shared_epochs
    runs = _runs(args, specs, switch)
    done.update(run_jobs(list(runs.values()), processes=args.jobs))

    summary = summarise(args, done, runs, switch)
    out = RESULTS / NAME
    write_json(out / "summary.json", summary)
    text = markdown(summary, args, command)
    write_text_atomic(out / "apply_epoch.md", text)
    figure(summary, out / "apply_epoch.png")
    print(text)
    if not args.no_docs:
        replace_section(
            ROOT / "docs" / "results.md",
            NAME,
            "## When to switch to the sampler (ablation of SPEC 7)\n\n"
            + text
            + "\nFigure: `results/apply_epoch/apply_epoch.png` (test Top-1 per epoch).\n",
        )


if __name__ == "__main__":
    main()

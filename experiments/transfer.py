"""Table 2 at small scale: does a sampler searched on one network help another?

Run: .venv/bin/python experiments/transfer.py [--jobs 2] [--seeds 1 2 3] [--width 32]

MNIST-5k, 40% symmetric noise, the demo's 20-epoch recipe. Source network: the small CNN
(width 16); its SS(cgf) sampler is Table 1's late-protocol search for this setting (the same
cached job; ``experiments/table1.py --protocol late``).
Target network: the same CNN twice as wide (``--width``, 4x the convolution parameters). The
target is trained from scratch with seeds 1, 2, 3 under (a) uniform sampling, (b) the sampler
transferred from the source network (only its 10 numbers move; its features come from the
target network as it trains), (c) a sampler searched on the target network itself (same
budget; both searches select on seed 0, which is never reported). Test Top-1 at the last epoch
and at the best-validation epoch, mean and std over seeds; the cost of (c)'s search is what
transfer saves.
"""

from __future__ import annotations

import argparse
import dataclasses
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

NAME = "transfer"
SETTING = "sym40"


def _config(dataset: str, noise_type: str, noise: float, trials: int, width: int) -> Any:
    config = table1.make_config(dataset, noise_type, noise, "cgf", trials)
    return dataclasses.replace(
        config,
        model=dataclasses.replace(config.model, width=width),
        search=dataclasses.replace(
            config.search, study_name=f"{config.search.study_name}-width{width}"
        ),
    )


def target_search_job(
    dataset: str, noise_type: str, noise: float, trials: int, width: int
) -> dict[str, Any]:
    """The search on the target network itself."""
    from swift_sampler.search.driver import run_search

    config = _config(dataset, noise_type, noise, trials, width)
    run_dir = RESULTS / NAME / "search" / f"{dataset}-{noise_type}{noise}-cgf-width{width}"
    result = run_search(config, run_dir, resume=(run_dir / "config.toml").exists())
    return {"spec": result.spec.to_dict(), "best_val": result.best_score, "cost": result.cost}


def target_train_job(
    dataset: str,
    noise_type: str,
    noise: float,
    trials: int,
    width: int,
    seed: int,
    spec: dict[str, Any] | None,
) -> dict[str, Any]:
    """The target network from scratch with ``spec`` (None: uniform)."""
    config = _config(dataset, noise_type, noise, trials, width)
    return train_with_sampler(config, spec, seed=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--dataset", default="mnist5k", choices=list(table1.DATASETS))
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    if 0 in args.seeds:
        parser.error("seed 0 is the seed both searches select on: report other --seeds")
    noise_type, noise = table1.SETTINGS[SETTING]
    base = {"dataset": args.dataset, "noise_type": noise_type, "noise": noise}
    source = table1.search(args.dataset, SETTING, "ss_cgf", args.trials)
    target = Job(
        NAME,
        f"search-{args.dataset}-{SETTING}-width{args.width}",
        target_search_job,
        {**base, "trials": args.trials, "width": args.width},
    )
    train_kw = {**base, "trials": args.trials, "width": args.width}
    uniform = [
        Job(NAME, f"train-uniform-width{args.width}-s{s}", target_train_job,
            {**train_kw, "seed": s, "spec": None})
        for s in args.seeds
    ]  # fmt: skip
    done = run_jobs([source, target, *uniform], processes=args.jobs)
    arms = {
        "transferred": done[source.key]["spec"],
        "searched on target": done[target.key]["spec"],
    }
    jobs = [
        Job(NAME, f"train-{arm.split()[0]}-width{args.width}-s{s}", target_train_job,
            {**train_kw, "seed": s, "spec": spec})
        for arm, spec in arms.items()
        for s in args.seeds
    ]  # fmt: skip
    done.update(run_jobs(jobs, processes=args.jobs))

    rows = []
    labels = {"uniform": None, **arms}
    for arm in labels:
        runs = [done[f"train-{arm.split()[0]}-width{args.width}-s{s}"] for s in args.seeds]
        last = mean_std(100 * r["last"] for r in runs)
        at_val = mean_std(100 * r["test_at_best_val"] for r in runs)
        cost = 0.0
        if arm == "searched on target":
            cost = done[target.key]["cost"]["total_s"]
        elif arm == "transferred":
            cost = done[source.key]["cost"]["total_s"]
        rows.append(
            {
                "arm": arm,
                "seeds": list(args.seeds),
                "last_mean": last[0],
                "last_std": last[1],
                "at_best_val_mean": at_val[0],
                "at_best_val_std": at_val[1],
                "search_s": cost,
                "train_s": sum(r["seconds"] for r in runs) / len(runs),
            }
        )
    out = RESULTS / NAME
    write_json(out / "summary.json", {"width": args.width, "rows": rows})
    command = ("python experiments/transfer.py " + " ".join(sys.argv[1:])).strip()
    lines = [
        f"Command: `{command}`. Date: {datetime.date.today().isoformat()}. {args.dataset}, "
        f"{noise:.0%} {noise_type} noise; source: CNN width 16 (Table 1's late-protocol SS(cgf) "
        "search); "
        f"target: CNN width {args.width}; seeds {args.seeds}; test Top-1 (%), mean ± std.",
        "",
        "| target trained with | last epoch | at best val | search (s) on | one training (s) |",
        "|---|---|---|---|---|",
    ]
    where = {"uniform": "-", "transferred": "source (CNN-16)", "searched on target": "target"}
    for r in rows:
        lines.append(
            f"| {r['arm']} | {r['last_mean']:.1f} ± {r['last_std']:.1f} | "
            f"{r['at_best_val_mean']:.1f} ± {r['at_best_val_std']:.1f} | {r['search_s']:.0f} "
            f"({where[r['arm']]}) | {r['train_s']:.0f} |"
        )
    text = "\n".join(lines)
    write_text_atomic(out / "transfer.md", text + "\n")
    _figure(done, args, labels, out / "transfer.png")
    print(text)
    if not args.no_docs:
        replace_section(ROOT / "docs" / "results.md", "transfer", "## Transfer\n\n" + text)


def _figure(done: dict, args: argparse.Namespace, labels: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 4))
    for arm in labels:
        curves = np.array(
            [
                done[f"train-{arm.split()[0]}-width{args.width}-s{s}"]["test_top1"]
                for s in args.seeds
            ]
        )
        epochs = np.arange(1, curves.shape[1] + 1)
        ax.plot(epochs, 100 * curves.mean(0), label=arm)
        ax.fill_between(epochs, 100 * curves.min(0), 100 * curves.max(0), alpha=0.2)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test Top-1 (%)")
    ax.set_title(f"CNN width {args.width}: transferred vs searched sampler")
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


if __name__ == "__main__":
    main()

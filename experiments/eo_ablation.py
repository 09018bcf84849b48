"""Table 9 at small scale: how the fine-tune length E_o of the inner loop changes the search.

Run: .venv/bin/python experiments/eo_ablation.py [--jobs 2] [--eo 1 2 4 8] [--trials 40]
                                                 [--top 5] [--seeds 1 2 3]

MNIST-5k, 40% symmetric noise on train and val (test clean), the small CNN, the 20-epoch
schedule; data and search seed 0, GP-BO, cgf, ``--trials`` trials per search. The shared start
is fixed at E_s = 12 uniform epochs for every E_o, and each candidate fine-tunes E_o epochs with
the ``compressed`` schedule: the whole remaining schedule (epochs 12 to 20, down to the final
learning rate) squeezed into E_o epochs. So every E_o scores its candidates at the same point of
the schedule (the end of the annealing, where the flipped labels get memorised) and only the
fidelity of the fine-tune changes; E_o = 8 is exactly the real tail (compressed = tail there).
The final training is also the same for every E_o (uniform for 12 epochs, then the sampler for
8, features refreshed every epoch), so a difference between rows comes from which sampler the
search picks. (The ``tail`` schedule with E_s = 12 would instead score E_o = 1 after epoch 13,
mid-schedule at a high learning rate; and E_s = 20 - E_o would change the final training with
E_o.)

Which candidates are trained from scratch (``--seeds``, never the search seed 0, so no final run
replays a search trial; test Top-1 at the last epoch, mean over seeds): the common set, trial 0
(uniform) and the 8 Sobol start-up points, which are the same thetas in every E_o's search (same
search seed), so all E_o rank the same samplers (paired); and each search's ``--top`` best-scoring
trials (ties: the earlier trial). Reported per E_o: the Spearman correlation between search score
and final test accuracy on the common set and on all of that search's trained candidates (common
set + its top), with p-values; the final test accuracy of the search's best sampler (last epoch and
best-validation epoch, mean ± std over seeds); the search cost (seconds, one thread, and
uniform-epoch equivalents). Every search and every training is a cached job (a training is keyed by
its theta, so a sampler two searches share is trained once); a rerun recomputes nothing.

Estimated time of the default command on this 2-core machine with --jobs 2: searches about 700
core-seconds (40 trials x E_o epochs x ~1.1 s, plus the shared starts), trainings about 29
samplers x 3 seeds x ~20 s = 1,700 core-seconds: 20 minutes, up to 30 on a busy machine.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import RESULTS, ROOT, Job, mean_std, replace_section, run_jobs, write_json

NAME = "eo_ablation"
DATASETS: dict[str, dict[str, Any]] = {
    "mnist5k": {"model": "cnn", "epochs": 20, "shared": 12},
    "digits": {"model": "mlp", "epochs": 8, "shared": 5},  # smoke runs only (E_o <= 3)
}
EO = (1, 2, 4, 8)


def make_config(dataset: str, finetune_epochs: int = 1, trials: int = 1) -> Any:
    """The demo's recipe with the fixed E_s of ``dataset`` and a compressed E_o-epoch fine-tune.

    The final training only reads the data, model, train and sampler sections and E_s, which
    do not depend on ``finetune_epochs`` or ``trials``.
    """
    import tomllib

    from swift_sampler.config import parse_config

    raw = tomllib.loads((ROOT / "configs" / "demo.toml").read_text())
    spec = DATASETS[dataset]
    raw["data"]["name"] = dataset
    raw["model"] = {"name": spec["model"]}
    raw["train"]["epochs"] = spec["epochs"]
    raw["sampler"]["transform"] = "cgf"
    raw["search"].update(
        {
            "trials": trials,
            "startup_trials": min(raw["search"]["startup_trials"], trials - 1),
            "outer": "gp",
            "seed": 0,
            "shared_epochs": spec["shared"],
            "finetune_epochs": finetune_epochs,
            "finetune_schedule": "compressed",
            "study_name": f"eo-{dataset}-eo{finetune_epochs}",
        }
    )
    return parse_config(raw, source=f"eo_ablation {dataset} E_o {finetune_epochs}")


def search_job(dataset: str, finetune_epochs: int, trials: int) -> dict[str, Any]:
    """Runs (or resumes) one search; returns every trial's theta and score in slot order."""
    from swift_sampler.search.driver import run_search

    config = make_config(dataset, finetune_epochs, trials)
    run_dir = RESULTS / NAME / "search" / f"{dataset}-eo{finetune_epochs}-t{trials}"
    result = run_search(config, run_dir, resume=(run_dir / "config.toml").exists())
    by_slot = sorted(result.trials, key=lambda t: t.slot)
    if [t.slot for t in by_slot] != list(range(trials)):
        raise RuntimeError(f"{run_dir}: expected slots 0..{trials - 1}, got {by_slot}")
    return {
        "scores": [t.score for t in by_slot],
        "thetas": [list(t.theta) for t in by_slot],
        "best_val": result.best_score,
        "best_slot": result.best_slot,
        "startup_trials": config.search.startup_trials,
        "cost": result.cost,
    }


def train_job(dataset: str, theta: list[float], seed: int) -> dict[str, Any]:
    """Trains from scratch with the sampler ``theta`` from epoch E_s on; per-epoch curves."""
    from swift_sampler.search.final import train_arm
    from swift_sampler.search.setup import build_experiment, template_spec

    config = make_config(dataset)
    experiment = build_experiment(config)
    run = train_arm(
        experiment.trainer,
        template_spec(config).with_theta(theta),
        seed=seed,
        shared_epochs=config.search.shared_epochs,
        noise_mask=experiment.noise_mask,
    )
    return run.summary()


def _theta_key(theta: list[float]) -> str:
    return hashlib.sha256(json.dumps(theta).encode()).hexdigest()[:10]


def _train_key(dataset: str, theta: list[float], seed: int) -> str:
    return f"train-{dataset}-{_theta_key(theta)}-s{seed}"


def chosen_slots(search: dict[str, Any], top: int) -> tuple[list[int], list[int]]:
    """The common set (trial 0 and the start-up points) and the ``top`` best other slots."""
    common = list(range(search["startup_trials"] + 1))
    ranked = sorted(range(len(search["scores"])), key=lambda k: (-search["scores"][k], k))
    return common, [k for k in ranked if k not in common][:top] if top else []


def _spearman(x: list[float], y: list[float]) -> dict[str, Any]:
    from scipy.stats import spearmanr

    if len(x) < 3 or len(set(x)) == 1 or len(set(y)) == 1:
        return {"rho": None, "p": None, "n": len(x)}  # undefined
    result = spearmanr(x, y)
    return {"rho": float(result.statistic), "p": float(result.pvalue), "n": len(x)}


def summarise(
    args: argparse.Namespace, searches: dict[int, dict[str, Any]], done: dict[str, Any]
) -> dict[str, Any]:
    def final(theta: list[float], key: str) -> tuple[float, float]:
        return mean_std(100 * done[_train_key(args.dataset, theta, s)][key] for s in args.seeds)

    rows = []
    for eo in args.eo:
        search = searches[eo]
        common, best = chosen_slots(search, args.top)
        slots = common + best
        points = []
        for k in slots:
            theta = search["thetas"][k]
            last, last_std = final(theta, "last")
            points.append(
                {
                    "slot": k,
                    "set": "common" if k in common else "top",
                    "score": search["scores"][k],
                    "test_last_mean": last,
                    "test_last_std": last_std,
                }
            )
        in_common = [p for p in points if p["set"] == "common"]
        best_theta = search["thetas"][search["best_slot"]]
        last_mean, last_std = final(best_theta, "last")
        at_val_mean, at_val_std = final(best_theta, "test_at_best_val")
        cost = search["cost"]
        rows.append(
            {
                "finetune_epochs": eo,
                "best_slot": search["best_slot"],
                "best_val": search["best_val"],
                "best_theta": best_theta,
                "test_last_mean": last_mean,
                "test_last_std": last_std,
                "test_at_best_val_mean": at_val_mean,
                "test_at_best_val_std": at_val_std,
                "spearman_common": _spearman(
                    [p["score"] for p in in_common], [p["test_last_mean"] for p in in_common]
                ),
                "spearman_all": _spearman(
                    [p["score"] for p in points], [p["test_last_mean"] for p in points]
                ),
                "search_s": cost["total_s"],
                "search_epochs": cost["total_epochs"],
                "shared_start_s": cost["shared_start_s"],
                "points": points,
            }
        )
    uniform = final(searches[args.eo[0]]["thetas"][0], "last")
    return {
        "dataset": args.dataset,
        "shared_epochs": DATASETS[args.dataset]["shared"],
        "epochs": DATASETS[args.dataset]["epochs"],
        "trials": args.trials,
        "top": args.top,
        "seeds": list(args.seeds),
        "uniform_last_mean": uniform[0],
        "uniform_last_std": uniform[1],
        "rows": rows,
    }


def _rho(s: dict[str, Any]) -> str:
    if s["rho"] is None:
        return f"undefined (n = {s['n']})"
    return f"{s['rho']:+.2f} (p = {s['p']:.2g}, n = {s['n']})"


def markdown(summary: dict[str, Any], command: str) -> str:
    date = datetime.date.today().isoformat()
    es, epochs = summary["shared_epochs"], summary["epochs"]
    lines = [
        f"Command: `{command}`. Date: {date}. Dataset {summary['dataset']}, 40% symmetric noise "
        f"(train and val; test clean), data and search seed 0, GP-BO, cgf, {summary['trials']} "
        f"trials per search; E_s = {es} for every E_o, each candidate fine-tuned E_o epochs over "
        f"the compressed remaining schedule (epochs {es}-{epochs}; E_o = {epochs - es} is the "
        f"exact tail) and scored by noisy-validation Top-1. Final training: seeds "
        f"{summary['seeds']}, uniform for {es} epochs then the sampler; test Top-1 (%) mean ± std "
        "over seeds. Spearman: search score vs mean last-epoch test Top-1, on the common set "
        "(trial 0 = uniform and the Sobol start-up points: the same samplers for every E_o) and "
        f"on all trained candidates of the search (common set + its {summary['top']} best "
        "others). Search cost: one thread; epochs = uniform-epoch equivalents. The uniform "
        f"sampler (trial 0) ends at {summary['uniform_last_mean']:.1f} ± "
        f"{summary['uniform_last_std']:.1f} at the last epoch.",
        "",
        "| E_o | Spearman, common set | Spearman, all trained | best val (trial) | best "
        "sampler: test last | test at best val | search s | search epochs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        lines.append(
            f"| {r['finetune_epochs']} | {_rho(r['spearman_common'])} | "
            f"{_rho(r['spearman_all'])} | {100 * r['best_val']:.1f} ({r['best_slot']}) | "
            f"{r['test_last_mean']:.1f} ± {r['test_last_std']:.1f} | "
            f"{r['test_at_best_val_mean']:.1f} ± {r['test_at_best_val_std']:.1f} | "
            f"{r['search_s']:.0f} | "
            f"{r['search_epochs']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def figure(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary["rows"]
    fig, axes = plt.subplots(1, len(rows) + 1, figsize=(3.6 * (len(rows) + 1), 3.6))
    for ax, r in zip(axes[:-1], rows, strict=True):
        for group, marker in (("common", "o"), ("top", "^")):
            pts = [p for p in r["points"] if p["set"] == group]
            ax.errorbar(
                [100 * p["score"] for p in pts],
                [p["test_last_mean"] for p in pts],
                yerr=[p["test_last_std"] for p in pts],
                fmt=marker,
                markersize=4,
                capsize=2,
                label="common set" if group == "common" else "search's top",
            )
        ax.plot(100 * r["best_val"], r["test_last_mean"], "k*", markersize=10, label="best")
        ax.set_title(f"E_o = {r['finetune_epochs']}, ρ = {_rho(r['spearman_all']).split()[0]}")
        ax.set_xlabel("search score: val Top-1 (noisy, %)")
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("final test Top-1, last epoch (%)")
    axes[0].legend(fontsize=7, loc="lower right")
    ax = axes[-1]
    eos = [r["finetune_epochs"] for r in rows]
    ax.errorbar(
        eos,
        [r["test_last_mean"] for r in rows],
        yerr=[r["test_last_std"] for r in rows],
        fmt="o-",
        capsize=3,
        label="test Top-1, last epoch",
    )
    ax.axhline(summary["uniform_last_mean"], color="grey", linestyle="--", label="uniform")
    ax.set_xscale("log", base=2)
    ax.set_xticks(eos, [str(e) for e in eos])
    ax.set_xlabel("E_o")
    ax.set_ylabel("test Top-1 (%)")
    twin = ax.twinx()
    twin.plot(eos, [r["search_s"] for r in rows], "s:", color="tab:red", label="search s")
    twin.set_ylabel("search seconds (one thread)", color="tab:red")
    handles, names = ax.get_legend_handles_labels()
    more, more_names = twin.get_legend_handles_labels()
    ax.legend(handles + more, names + more_names, fontsize=7, loc="best")
    ax.set_title("best sampler (mean ± std over seeds)")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes (1 thread each)")
    parser.add_argument("--eo", type=int, nargs="+", default=list(EO), help="E_o values")
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--top", type=int, default=5, help="best trials per search to train")
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[1, 2, 3], help="final training (not 0)"
    )
    parser.add_argument("--dataset", default="mnist5k", choices=list(DATASETS))
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/results.md")
    args = parser.parse_args()
    spec = DATASETS[args.dataset]
    room = spec["epochs"] - spec["shared"]
    if any(not 1 <= eo <= room for eo in args.eo):
        parser.error(f"--eo values must be in [1, {room}] (E_s = {spec['shared']}), got {args.eo}")
    if 0 in args.seeds:
        parser.error("seed 0 is the search seed: report other --seeds")
    if args.trials < 2 or args.top < 0:
        parser.error(f"need --trials >= 2 and --top >= 0, got {args.trials} and {args.top}")
    command = ("python experiments/eo_ablation.py " + " ".join(sys.argv[1:])).strip()
    for eo in args.eo:  # a bad config fails here, before any job starts
        make_config(args.dataset, eo, args.trials)

    # Phase 1: one search per E_o.
    jobs = []
    for eo in args.eo:
        kw = {"dataset": args.dataset, "finetune_epochs": eo, "trials": args.trials}
        jobs.append(Job(NAME, f"search-{args.dataset}-eo{eo}", search_job, kw))
    done = run_jobs(jobs, processes=args.jobs)
    searches = {eo: done[f"search-{args.dataset}-eo{eo}"] for eo in args.eo}
    commons = {eo: [s["thetas"][k] for k in chosen_slots(s, 0)[0]] for eo, s in searches.items()}
    if any(c != commons[args.eo[0]] for c in commons.values()):
        raise RuntimeError("the start-up thetas differ between the E_o searches")

    # Phase 2: train the chosen samplers from scratch (each theta once, whichever search).
    train: dict[str, Job] = {}
    for search in searches.values():
        common, top = chosen_slots(search, args.top)
        for k in common + top:
            for seed in args.seeds:
                theta = search["thetas"][k]
                key = _train_key(args.dataset, theta, seed)
                kw = {"dataset": args.dataset, "theta": theta, "seed": seed}
                train[key] = Job(NAME, key, train_job, kw)
    done.update(run_jobs(list(train.values()), processes=args.jobs))

    out = RESULTS / NAME
    summary = summarise(args, searches, done)
    write_json(out / "summary.json", summary)
    text = markdown(summary, command)
    (out / "eo_ablation.md").write_text(text)
    figure(summary, out / "eo_ablation.png")
    if not args.no_docs:
        replace_section(
            ROOT / "docs" / "results.md",
            "eo_ablation",
            "## Table 9: the fine-tune length E_o\n\n" + text,
        )
    print(text)


if __name__ == "__main__":
    main()

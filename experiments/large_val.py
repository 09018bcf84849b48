"""Part B hypothesis: a larger, less coarse testbed (MNIST-1D generated three times as large).

Run: .venv/bin/python experiments/large_val.py [--jobs 2] [--settings sym40] [--seeds 1 2 3]
                                               [--select-seed 0] [--trials 20]

Every choice of Table 1 and of the default protocol is made on 500 noisy validation labels,
where a 1-point difference is 5 labels: the searches' and the rate grids' preferences may be
noise (the feature-history ablation found validation preferring a variant that lost on test
in three MNIST-1D settings). Here MNIST-1D is generated with 15,000 signals instead of 5,000
(``data.samples``; mnist1d's own seed and arguments otherwise): its own 12,000 / 3,000 train /
test split, 2,000 of the 12,000 for validation (four times as many), 10,000 to train on
(about three times as many). Everything else is Table 1's (conv1d, 60 epochs, the recipe) and
the default protocol's for SS(cgf) (E_s = 0.4, the exact tail, 20 GP trials).

Methods: every method with SS's information (uniform, uniform with early stopping, REED hard
and soft, and the practical variants of MentorNet-PD, Co-teaching and drop-r% with their rate
chosen on validation from Table 1's grid, all on the selection seed) and the oracle (noise mask,
privileged), as Table 1 trains them (its jobs, under results/table1/runs/ with the dataset
name ``mnist1d-15k``); SS(cgf) as experiments/early_start.py trains it (its jobs). Test Top-1
on the reported seeds, at the last epoch and at the best-validation epoch, beside the same
rows at 5,000 signals (results/table1/summary.json; SS from results/early_start/). Writes
results/large_val/summary.json and the section ``large_val`` of docs/results.md.
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
import swift_table1
import table1
from _common import RESULTS, ROOT, Job, mean_std, replace_section, run_jobs, write_json

NAME = "large_val"
DATASET = "mnist1d-15k"
SMALL = "mnist1d"
UNTUNED = ("uniform", "reed_hard", "reed_soft", "oracle")
"""Table 1's baselines without a knob chosen here (oracle: privileged, the reference)."""
ORDER = (*(m for m in table1.SAME_INFORMATION if m != "ss_cdf"), "oracle")
"""Table 1's methods with SS's information (SS(cdf) left out), then the oracle."""


def parse_args(doc: str, script: str, add: Any) -> tuple[argparse.Namespace, str]:
    """The options of a comparison built on ``same_information_rows`` (``--jobs``, ``--seeds``,
    ``--select-seed``, ``--trials``, ``--fraction``, ``--no-docs``) and those ``add(parser)``
    adds; returns the arguments and the command as the docs write it."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    add(parser)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="reported")
    parser.add_argument("--select-seed", type=int, default=0)
    parser.add_argument("--trials", type=int, default=20, help="SS(cgf)'s GP trials")
    parser.add_argument("--fraction", type=float, default=0.4, help="SS(cgf)'s E_s / epochs")
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    if args.select_seed in args.seeds:
        parser.error(f"--select-seed {args.select_seed} is one of --seeds: report other seeds")
    return args, (f"python experiments/{script} " + " ".join(sys.argv[1:])).strip()


def main() -> None:
    args, command = parse_args(
        __doc__,
        "large_val.py",
        lambda parser: parser.add_argument(
            "--settings", nargs="+", default=["sym40"], choices=list(table1.SETTINGS)
        ),
    )
    select, seeds = args.select_seed, list(args.seeds)
    rows = same_information_rows(
        DATASET,
        args.settings,
        select=select,
        seeds=seeds,
        fraction=args.fraction,
        trials=args.trials,
        jobs=args.jobs,
    )
    small_rows = _read(RESULTS / "table1" / "summary.json", [])
    small_ss = _read(RESULTS / "early_start" / "summary.json", {"rows": []})["rows"]
    for row in rows:
        row["small"] = _small(
            small_rows,
            small_ss,
            row["setting"],
            row["noise_type"],
            row["noise"],
            row["method"],
        )
    write_json(RESULTS / NAME / "summary.json", {"seeds": seeds, "rows": rows})

    def pair(mean: float | None, std: float | None = None) -> str:
        if mean is None:
            return "-"
        return f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}"

    date = datetime.date.today().isoformat()
    lines = [
        f"Command: `{command}`. Date: {date}. MNIST-1D generated with 15,000 signals "
        "(10,000 train, 2,000 validation, 3,000 test; `data.samples = 15000`) against the "
        "5,000 of Table 1 (3,500 / 500 / 1,000). Conv1d, 60 epochs, Table 1's recipe; every "
        f"choice on seed {select} (validation only); test Top-1 (%) on seeds {seeds}, mean ± "
        "std, last epoch / at the best-validation epoch. SS(cgf) is the default protocol (E_s "
        f"= {args.fraction:g} of the schedule, the exact tail, {args.trials} GP trials); at "
        "5,000 its row is experiments/early_start.py's. 'chosen': the rate picked on "
        "validation at 15,000 / at 5,000.",
        "",
        "| setting | method | 15,000 signals: last / at best val | 5,000 (Table 1): last / at "
        "best val | chosen |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        small = r["small"] or {}
        chosen_cell = "-"
        if r.get("chosen") is not None:
            chosen_cell = f"{r['chosen']:g} / {_rate(small.get('chosen'))}"
        lines.append(
            f"| {r['setting']} | {table1.LABELS[r['method']]} | "
            f"{pair(r['last_mean'], r['last_std'])} / "
            f"{pair(r['at_best_val_mean'], r['at_best_val_std'])} | "
            f"{pair(small.get('last_mean'))} / {pair(small.get('at_best_val_mean'))} | "
            f"{chosen_cell} |"
        )
    text = "\n".join(lines) + "\n"
    (RESULTS / NAME / f"{NAME}.md").write_text(text)
    print(text)
    if not args.no_docs:
        replace_section(
            ROOT / "docs" / "results.md",
            NAME,
            "## A larger, less coarse MNIST-1D (Part B hypothesis)\n\n" + text,
        )


def same_information_rows(
    dataset: str,
    settings: list[str],
    *,
    select: int,
    seeds: list[int],
    fraction: float,
    trials: int,
    jobs: int,
    drop_start: bool = False,
    lipschitz: float = 2.0,
    preset: str | None = None,
) -> list[dict[str, Any]]:
    """Every method with SS's information and the oracle on ``dataset`` (a key of
    ``table1.DATASETS``) in each setting: Table 1's jobs for the baselines (their knobs chosen
    on ``select``), early_start's for SS(cgf) (E_s = ``fraction``, ``trials`` GP trials), test
    Top-1 on ``seeds``; one summary row per method, in ``ORDER``. ``drop_start``: drop-r% also
    chooses to start at E_s on validation (Table 1's early protocol); without it, rates only.
    ``lipschitz``: SS's bound L (where not 2, early_start's jobs with that bound, cached under
    results/early_start/ as the default's are). ``preset = "swift"``: SS(cgf)'s sampler is
    found by the swift preset instead of the full search (experiments/swift_table1.py's jobs;
    ``trials`` and ``lipschitz`` then name nothing and must stay at their defaults).
    """
    if preset not in (None, "swift"):
        raise ValueError(f"preset: expected None or 'swift', got {preset!r}")
    if preset and (trials != 20 or lipschitz != 2.0):
        raise ValueError("preset = 'swift' sets its own trials and keeps L = 2")
    # Table 1's jobs take its trial count only as part of their cache key (its SS searches).
    t1_trials = table1.BASELINE_TRIALS

    def ss_kwargs(setting: str) -> dict[str, Any]:
        return early_start.cell_kwargs(dataset, setting, fraction, select) | {
            "trials": trials,
            # L only where not the default, so the default's cache keys stay those of before.
            **({} if lipschitz == 2.0 else {"lipschitz": lipschitz}),
        }

    def practical_in(setting: str) -> list[str]:
        return table1._practical_in(table1.NOISE_SETTINGS[setting][1])

    def grid(name: str) -> list[tuple[float, float | None]]:
        return table1.practical_grid(name, fraction if drop_start else None)

    first: list[Job] = []
    searches = {}
    for setting in settings:
        searches[setting] = (
            Job(
                swift_table1.NAME,
                f"search-{dataset}-{setting}",
                swift_table1.search_job,
                early_start.cell_kwargs(dataset, setting, fraction, select),
            )
            if preset
            else Job(
                early_start.NAME,
                f"search-{dataset}-{setting}",
                early_start.search_job,
                ss_kwargs(setting),
            )
        )
        first.append(searches[setting])
        first += [
            table1.train(dataset, setting, m, s, t1_trials, None) for m in UNTUNED for s in seeds
        ]
        first += [
            table1.practical(dataset, setting, name, select, t1_trials, r, st)
            for name in practical_in(setting)
            for r, st in grid(name)
        ]
    done = run_jobs(first, processes=jobs)

    chosen: dict[tuple[str, str, str], Any] = {}
    second: list[Job] = []
    ss_trains: dict[tuple[str, int], Job] = {}
    for setting in settings:
        for name in practical_in(setting):
            runs = {
                (r, st): done[table1._practical_key(dataset, setting, name, select, r, st)]
                for r, st in grid(name)
            }
            best = table1._choose_practical(runs)
            # A bare rate where only rates were tried (the cache keys and files of before).
            chosen[(dataset, setting, name)] = best if drop_start else best[0]
            second += [
                table1.practical(dataset, setting, name, s, t1_trials, *best) for s in seeds
            ]
        spec = done[searches[setting].key]["spec"]
        for s in seeds:
            # The preset's trainings are swift_table1's (the same recipe, another sampler).
            ss_trains[setting, s] = Job(
                swift_table1.NAME if preset else early_start.NAME,
                f"train-{dataset}-{setting}-s{s}",
                early_start.train_job,
                ss_kwargs(setting) | {"seed": s, "spec": spec},
            )
    done.update(run_jobs([*second, *ss_trains.values()], processes=jobs))

    rows = []
    for setting in settings:
        noise_type, noise = table1.NOISE_SETTINGS[setting]
        for method in ORDER:
            if method in table1.PRACTICAL and method not in practical_in(setting):
                continue
            if method == "ss_cgf":
                runs = [done[ss_trains[setting, s].key] for s in seeds]
                search = done[searches[setting].key]
                extra = {
                    "best_val": search["best_val"],
                    "search_trainings": search["cost"]["total_epochs"]
                    / search["cost"]["full_training_epochs"],
                }
            else:
                runs = table1._runs(dataset, setting, method, seeds, done, chosen)
                extra = {"chosen": chosen.get((dataset, setting, method))}
            at_val = [100 * r["test_at_best_val"] for r in runs]
            last = at_val if method == "uniform_es" else [100 * r["last"] for r in runs]
            rows.append(
                {
                    "dataset": dataset,
                    "setting": setting,
                    "noise_type": noise_type,
                    "noise": noise,
                    "method": method,
                    "privileged": table1.PRIVILEGED.get(method, "none"),
                    "seeds": seeds,
                    "select_seed": select,
                    "last_mean": mean_std(last)[0],
                    "last_std": mean_std(last)[1],
                    "at_best_val_mean": mean_std(at_val)[0],
                    "at_best_val_std": mean_std(at_val)[1],
                    **extra,
                }
            )
    return rows


def _read(path: Path, default: Any) -> Any:
    return json.loads(path.read_text()) if path.exists() else default


def _small(
    table1_rows: list[dict[str, Any]],
    early: list[dict[str, Any]],
    setting: str,
    noise_type: str,
    noise: float,
    method: str,
) -> dict[str, Any] | None:
    """The same method's row at 5,000 signals: Table 1's, or early_start's for SS(cgf)."""
    if method == "ss_cgf":
        row = next(
            (r for r in early if r["dataset"] == SMALL and r["setting"] == setting),
            None,
        )
        return None if row is None else {k: row[k] for k in ("last_mean", "at_best_val_mean")}
    row = next(
        (
            r
            for r in table1_rows
            if (r["dataset"], r["noise_type"], r["noise"], r["method"])
            == (SMALL, noise_type, noise, method)
        ),
        None,
    )
    if row is None:
        return None
    return {k: row.get(k) for k in ("last_mean", "at_best_val_mean", "chosen")}


def _rate(chosen: Any) -> str:
    """Table 1's choice of a practical variant: its rate (``[rate, start]`` there: drop-r% may
    also start dropping at SS's E_s), "-" when none."""
    if chosen is None:
        return "-"
    rate, start = chosen if isinstance(chosen, list | tuple) else (chosen, None)
    return f"{rate:g}" + ("" if start is None else f" from {start:g}")


if __name__ == "__main__":
    main()

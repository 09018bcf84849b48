"""Part B ablation: when the sampler starts acting (an earlier shared start, a longer fine-tune).

Run: .venv/bin/python experiments/early_start.py [--jobs 2] [--fraction 0.4] [--trials 20]
                                                 [--seeds 1 2 3] [--select-seed 0]
                                                 [--datasets mnist5k mnist1d] [--settings ...]

Table 1's first protocol (now ``experiments/table1.py --protocol late``; this experiment made
the early one the default) shares the first 3/4 of the schedule uniformly (E_s = 15 of 20 epochs on
MNIST-5k, 45 of 60 on MNIST-1D) and scores each candidate by the exact remaining tail: the
sampler acts only after much of the memorisation of flipped labels, on the features of a network
that has already fit part of the noise. Here the shared start is ``--fraction`` of the schedule
(E_s = 8 of 20, 24 of 60 by default) and each candidate is scored by the exact remaining tail
(12, 36 epochs), so the search sees the sampler act through the whole annealing. Everything else
is Table 1's: data, noise, splits, networks, recipe, GP-BO, cgf, scored on the noisy validation
split; ``--trials`` trials (the longer fine-tunes make each trial dearer).

Which protocol a user gets is decided on validation alone: both protocols' searches end their
candidates at the last epoch of the schedule on the selection seed, so their best validation
scores measure the same thing (the validation Top-1 of a fully trained network under the found
sampler); the protocol with the higher one in more settings wins. Test Top-1 on the reported
seeds (never the selection seed) is then shown beside the late protocol's SS(cgf) and the best
of Table 1's methods with SS's information, at the last epoch and at the best-validation epoch.
Every search and training is a cached job keyed by its arguments.

``--fraction 0.2`` (2026-12-01) asks whether acting earlier still helps: a shared start of a
fifth of the schedule (4 of 20 epochs, 12 of 60), the same 20 trials. Set before its runs:
it replaces the default 0.4 only if its search's best validation score is higher than the
0.4 search's in a majority of the settings of both datasets (a tie counts against the
change); both searches end every candidate at the schedule's last epoch on the selection
seed, so the scores measure the same thing. Its files are ``summary-f0.2.json`` and
``early_start-f0.2.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import table1
from _common import RESULTS, ROOT, Job, mean_std, replace_section, run_jobs, write_json

NAME = "early_start"


def make_config(
    dataset: str,
    noise_type: str,
    noise: float,
    fraction: float,
    trials: int,
    select_seed: int,
    lipschitz: float = 2.0,
    history: float = 0.0,
    startup: int | None = None,
    increments: str = "clipped",
    loss_segments: int | None = None,
    draw: str = "iid",
    combine: str = "product",
    refresh: str = "every_epoch",
) -> Any:
    """Table 1's config with E_s = ``fraction`` of the schedule and the exact remaining tail.

    The Part B ablations vary one of the other arguments each (experiments/lipschitz_early.py,
    feature_history.py, gp_startup.py, increments.py, segments.py): ``sampler.lipschitz``,
    ``sampler.history``, ``search.startup_trials`` (None: Table 1's), ``sampler.increments``,
    ``loss_segments`` (None: the features loss and Er with S = 4; n: the loss alone with
    S = n, so n = 9 keeps M (S + 1) = 10 parameters), ``sampler.draw`` (experiments/stratified.py)
    ``sampler.combine`` (experiments/combine.py) and ``sampler.refresh``
    (experiments/refresh.py).
    """
    config = table1.make_config(dataset, noise_type, noise, "cgf", trials)
    epochs = config.train.epochs
    shared = max(1, round(fraction * epochs))
    sharp = _suffix(lipschitz, history, startup, increments, loss_segments, draw, combine, refresh)
    sampler = dataclasses.replace(
        config.sampler,
        lipschitz=lipschitz,
        history=history,
        increments=increments,
        draw=draw,
        combine=combine,
        refresh=refresh,
    )
    if loss_segments is not None:
        sampler = dataclasses.replace(sampler, features=("loss",), segments=loss_segments)
    return dataclasses.replace(
        config,
        sampler=sampler,
        search=dataclasses.replace(
            config.search,
            seed=select_seed,
            startup_trials=config.search.startup_trials if startup is None else startup,
            shared_epochs=shared,
            finetune_epochs=epochs - shared,
            finetune_schedule="tail",
            study_name=f"{config.search.study_name}-es{shared}{sharp}",
        ),
        final=dataclasses.replace(config.final, seeds=(select_seed + 1,)),
    )


def search_job(
    dataset: str,
    noise_type: str,
    noise: float,
    fraction: float,
    trials: int,
    select_seed: int,
    lipschitz: float = 2.0,
    experiment: str = NAME,
    history: float = 0.0,
    startup: int | None = None,
    increments: str = "clipped",
    loss_segments: int | None = None,
    draw: str = "iid",
    combine: str = "product",
    refresh: str = "every_epoch",
) -> dict[str, Any]:
    """Runs (or resumes) one search (under results/``experiment``/search/); returns the found
    sampler, its score and the cost."""
    from swift_sampler.search.driver import run_search

    variant = {
        "lipschitz": lipschitz,
        "history": history,
        "startup": startup,
        "increments": increments,
        "loss_segments": loss_segments,
        "draw": draw,
        "combine": combine,
        "refresh": refresh,
    }
    config = make_config(dataset, noise_type, noise, fraction, trials, select_seed, **variant)
    s = config.search
    run_dir = search_dir(config, dataset, noise_type, noise, trials, experiment, startup)
    result = run_search(config, run_dir, resume=(run_dir / "config.toml").exists())
    return {
        "spec": result.spec.to_dict(),
        "best_val": result.best_score,
        "best_slot": result.best_slot,
        "shared_epochs": s.shared_epochs,
        "cost": result.cost,
    }


def search_dir(
    config: Any,
    dataset: str,
    noise_type: str,
    noise: float,
    trials: int,
    experiment: str = NAME,
    startup: int | None = None,
) -> Path:
    """The run directory of :func:`search_job`'s search of ``config``."""
    sampler = config.sampler
    loss_segments = sampler.segments if tuple(sampler.features) == ("loss",) else None
    sharp = _suffix(
        sampler.lipschitz,
        sampler.history,
        startup,
        sampler.increments,
        loss_segments,
        sampler.draw,
        sampler.combine,
        sampler.refresh,
    )
    name = f"{dataset}-{noise_type}{noise}-es{config.search.shared_epochs}-t{trials}{sharp}"
    # Another search seed gets its own directory (seed 0's names predate the suffix).
    seed = config.search.seed
    return RESULTS / experiment / "search" / (name + ("" if seed == 0 else f"-seed{seed}"))


def train_job(
    dataset: str,
    noise_type: str,
    noise: float,
    fraction: float,
    trials: int,
    select_seed: int,
    seed: int,
    spec: dict[str, Any],
    lipschitz: float = 2.0,
    history: float = 0.0,
    startup: int | None = None,
    increments: str = "clipped",
    loss_segments: int | None = None,
    draw: str = "iid",
    combine: str = "product",
    refresh: str = "every_epoch",
) -> dict[str, Any]:
    """Final training with the found sampler from E_s on (the regime its search scored;
    ``startup`` only names the search, a training does not read it; ``spec`` carries its own
    family)."""
    from _common import train_with_sampler

    if seed == select_seed:
        raise RuntimeError(f"seed {seed} is the selection seed: it would replay a trial")
    config = make_config(
        dataset,
        noise_type,
        noise,
        fraction,
        trials,
        select_seed,
        lipschitz=lipschitz,
        history=history,
        increments=increments,
        loss_segments=loss_segments,
        draw=draw,
        combine=combine,
        refresh=refresh,
    )
    return train_with_sampler(config, spec, seed=seed)


def _suffix(
    lipschitz: float,
    history: float,
    startup: int | None = None,
    increments: str = "clipped",
    loss_segments: int | None = None,
    draw: str = "iid",
    combine: str = "product",
    refresh: str = "every_epoch",
) -> str:
    """The study's and run directory's mark of a non-default family or start-up count ('' for
    the default)."""
    return (
        ("" if lipschitz == 2.0 else f"-L{lipschitz:g}")
        + ("" if history == 0.0 else f"-h{history:g}")
        + ("" if startup is None else f"-su{startup}")
        + ("" if increments == "clipped" else f"-{increments}")
        + ("" if loss_segments is None else f"-loss{loss_segments}")
        + ("" if draw == "iid" else f"-{draw}")
        + ("" if combine == "product" else f"-{combine}")
        + ("" if refresh == "every_epoch" else f"-refresh-{refresh}")
    )


def protocol_parser(
    doc: str, datasets: list[str], settings: Iterable[str] = tuple(table1.SETTINGS)
) -> argparse.ArgumentParser:
    """The default protocol's options (``--fraction``, ``--trials``, ``--seeds``,
    ``--select-seed``, ``--datasets`` among ``datasets``, ``--settings`` among ``settings``),
    with ``--jobs`` and ``--no-docs``: this experiment's and those of the ablations that reuse
    its runs."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--fraction", type=float, default=0.4, help="E_s / epochs")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="reported")
    parser.add_argument("--select-seed", type=int, default=0)
    parser.add_argument("--datasets", nargs="+", default=["mnist5k", "mnist1d"], choices=datasets)
    parser.add_argument(
        "--settings", nargs="+", default=list(table1.SETTINGS), choices=list(settings)
    )
    parser.add_argument("--no-docs", action="store_true")
    return parser


def check_protocol(parser: argparse.ArgumentParser, args: Any) -> None:
    """Refuses reported seeds that include the selection seed."""
    if args.select_seed in args.seeds:
        parser.error(f"--select-seed {args.select_seed} is one of --seeds: report other seeds")


def setting_pairs(args: Any) -> list[tuple[str, str]]:
    """``(dataset, setting)`` of every cell asked for, the headline setting first."""
    pairs = [(d, s) for d in args.datasets for s in args.settings]
    pairs.sort(key=lambda p: (p[1] != "sym40", p))
    return pairs


def cell_kwargs(dataset: str, setting: str, fraction: float, select_seed: int) -> dict[str, Any]:
    """The keyword arguments of :func:`search_job` for one cell, without ``trials`` (the swift
    preset's search takes none; :func:`train_job` adds a seed and a spec)."""
    noise_type, noise = table1.NOISE_SETTINGS[setting]
    return {
        "dataset": dataset,
        "noise_type": noise_type,
        "noise": noise,
        "fraction": fraction,
        "select_seed": select_seed,
    }


def protocol_kwargs(args: Any, dataset: str, setting: str) -> dict[str, Any]:
    """The keyword arguments of :func:`search_job` (and of :func:`train_job`, with a seed and
    a spec) for one cell under ``args``' protocol."""
    return cell_kwargs(dataset, setting, args.fraction, args.select_seed) | {"trials": args.trials}


def _rows(path: Path) -> list[dict[str, Any]]:
    """A table's summary rows, or none when it has not been made."""
    return json.loads(path.read_text()) if path.exists() else []


def same_information(
    table1_rows: list[dict[str, Any]], dataset: str, noise_type: str, noise: float
) -> list[dict[str, Any]]:
    """Table 1's rows of one setting for the methods with SS's information (SS itself left
    out)."""
    return [
        r
        for r in table1_rows
        if (r["dataset"], r["noise_type"], r["noise"]) == (dataset, noise_type, noise)
        and r["method"] in table1.SAME_INFORMATION
        and r["method"] not in ("ss_cgf", "ss_cdf")
    ]


def best_same_information(same_info: list[dict[str, Any]]) -> dict[str, Any]:
    """The best of ``same_information``'s rows in each column and the method it is (the two
    columns can name different methods): ``best_same_info_{last,at_best_val}[_method]``."""
    best: dict[str, Any] = {}
    for col, tag in (("last_mean", "last"), ("at_best_val_mean", "at_best_val")):
        top = max(same_info, key=lambda r, c=col: r[c], default=None)  # type: ignore[misc]
        best[f"best_same_info_{tag}"] = None if top is None else top[col]
        best[f"best_same_info_{tag}_method"] = None if top is None else top["method"]
    return best


def same_information_cell(row: dict[str, Any]) -> str:
    """``best_same_information``'s values in a row as a table cell, each with its method."""
    if row["best_same_info_last"] is None:
        return "-"
    return (
        f"{row['best_same_info_last']:.1f} ({row['best_same_info_last_method']}) / "
        f"{row['best_same_info_at_best_val']:.1f} ({row['best_same_info_at_best_val_method']})"
    )


def arm(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Test Top-1 (%) of final trainings: mean and std at the last and best-validation epoch."""
    last = mean_std(100 * r["last"] for r in runs)
    at_val = mean_std(100 * r["test_at_best_val"] for r in runs)
    return {
        "last_mean": last[0],
        "last_std": last[1],
        "at_best_val_mean": at_val[0],
        "at_best_val_std": at_val[1],
    }


def cached_runs(
    pairs: list[tuple[str, str]], kwargs: Any, seeds: list[int]
) -> tuple[dict[Any, dict[str, Any]], dict[Any, dict[str, Any]]]:
    """This experiment's finished searches and final trainings (``kwargs(dataset, setting)``
    are their search kwargs), read from its cache and never rerun: ``({pair: search},
    {(pair, seed): training})``. Exits with what to run when one is missing."""
    searches = {
        p: Job(NAME, f"search-{p[0]}-{p[1]}", search_job, kwargs(*p)).cached() for p in pairs
    }
    missing = [p for p, found in searches.items() if found is None]
    if missing:
        raise SystemExit(
            f"early_start's searches are missing for {missing}: run experiments/early_start.py "
            "with the same --fraction, --trials and --select-seed first"
        )
    trains = {
        (p, s): Job(
            NAME,
            f"train-{p[0]}-{p[1]}-s{s}",
            train_job,
            kwargs(*p) | {"seed": s, "spec": searches[p]["spec"]},  # type: ignore[index]
        ).cached()
        for p in pairs
        for s in seeds
    }
    if any(found is None for found in trains.values()):
        raise SystemExit("early_start's final trainings are missing: run it first")
    return searches, trains  # type: ignore[return-value]


def main() -> None:
    parser = protocol_parser(__doc__ or "", list(table1.DATASETS))
    parser.add_argument("--table1-trials", type=int, default=40, help="Table 1's budget")
    args = parser.parse_args()
    check_protocol(parser, args)
    if not 0 < args.fraction < 1:
        parser.error(f"--fraction must be in (0, 1), got {args.fraction}")
    command = ("python experiments/early_start.py " + " ".join(sys.argv[1:])).strip()
    pairs = setting_pairs(args)

    def kwargs(dataset: str, setting: str) -> dict[str, Any]:
        return protocol_kwargs(args, dataset, setting)

    searches = {p: Job(NAME, f"search-{p[0]}-{p[1]}", search_job, kwargs(*p)) for p in pairs}
    done = run_jobs(list(searches.values()), processes=args.jobs)
    trains = {
        (p, s): Job(
            NAME,
            f"train-{p[0]}-{p[1]}-s{s}",
            train_job,
            kwargs(*p) | {"seed": s, "spec": done[searches[p].key]["spec"]},
        )
        for p in pairs
        for s in args.seeds
    }
    done.update(run_jobs(list(trains.values()), processes=args.jobs))

    # The methods with SS's information: Table 1 (the default protocol's); 'late': SS(cgf) of
    # Table 1 under the late protocol (experiments/table1.py --protocol late).
    table1_rows = _rows(table1.output_dir("early") / "summary.json")
    late_rows = _rows(table1.output_dir("late") / "summary.json")
    table1_search = {
        p: table1.search(p[0], p[1], "ss_cgf", args.table1_trials).cached() for p in pairs
    }
    rows = []
    for p in pairs:
        runs = [done[trains[p, s].key] for s in args.seeds]
        last = mean_std(100 * r["last"] for r in runs)
        at_val = mean_std(100 * r["test_at_best_val"] for r in runs)
        noise_type, noise = table1.NOISE_SETTINGS[p[1]]
        late = next(
            (
                r
                for r in late_rows
                if (r["dataset"], r["noise_type"], r["noise"], r["method"])
                == (p[0], noise_type, noise, "ss_cgf")
            ),
            None,
        )
        same_info = same_information(table1_rows, p[0], noise_type, noise)
        search = done[searches[p].key]
        rows.append(
            {
                "dataset": p[0],
                "setting": p[1],
                "noise_type": noise_type,
                "noise": noise,
                "shared_epochs": search["shared_epochs"],
                "seeds": list(args.seeds),
                "select_seed": args.select_seed,
                "best_val": search["best_val"],
                "late_best_val": None
                if table1_search[p] is None
                else table1_search[p]["best_val"],
                "last_mean": last[0],
                "last_std": last[1],
                "at_best_val_mean": at_val[0],
                "at_best_val_std": at_val[1],
                "late_last_mean": None if late is None else late["last_mean"],
                "late_at_best_val_mean": None if late is None else late["at_best_val_mean"],
                "best_same_info_last": max((r["last_mean"] for r in same_info), default=None),
                "best_same_info_at_best_val": max(
                    (r["at_best_val_mean"] for r in same_info), default=None
                ),
                "search_s": search["cost"]["total_s"],
                "search_trainings": search["cost"]["total_epochs"]
                / search["cost"]["full_training_epochs"],
            }
        )
    compared = [r for r in rows if r["late_best_val"] is not None]
    wins = sum(r["best_val"] > r["late_best_val"] for r in compared)
    summary = {
        "fraction": args.fraction,
        "trials": args.trials,
        "rows": rows,
        "validation_wins": wins,
        "validation_compared": len(compared),
    }
    out = RESULTS / NAME
    # The default fraction's files keep their names; another fraction's get its own.
    tag = "" if args.fraction == 0.4 else f"-f{args.fraction:g}"
    write_json(out / f"summary{tag}.json", summary)

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f}"

    date = datetime.date.today().isoformat()
    lines = [
        f"Command: `{command}`. Date: {date}. E_s = {args.fraction:g} of the schedule, each "
        f"candidate scored after the exact remaining tail, {args.trials} GP trials, cgf, search "
        f"and selection on seed {args.select_seed}; test Top-1 (%) on seeds {args.seeds}, mean "
        "± std, at the last epoch / at the best-validation epoch. 'late' is Table 1's SS(cgf) "
        "under the late protocol (E_s = 3/4, 40 trials; `experiments/table1.py --protocol "
        "late`); 'best same-info' is the best of Table 1's methods with SS's "
        "information (uniform, uniform + early stopping, REED, the practical variants). Search "
        "val: the search's best validation Top-1 on the selection seed, early / late protocol "
        "(the same quantity: both end at the schedule's last epoch).",
        "",
        "| dataset | setting | E_s | search val early / late | SS(cgf) early: last / at best "
        "val | late: last / at best val | best same-info: last / at best val | search "
        "(trainings) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        late_val = "-" if r["late_best_val"] is None else f"{100 * r['late_best_val']:.1f}"
        lines.append(
            f"| {r['dataset']} | {r['setting']} | {r['shared_epochs']} | "
            f"{100 * r['best_val']:.1f} / {late_val} | "
            f"{r['last_mean']:.1f} ± {r['last_std']:.1f} / "
            f"{r['at_best_val_mean']:.1f} ± {r['at_best_val_std']:.1f} | "
            f"{num(r['late_last_mean'])} / {num(r['late_at_best_val_mean'])} | "
            f"{num(r['best_same_info_last'])} / {num(r['best_same_info_at_best_val'])} | "
            f"{r['search_trainings']:.1f} |"
        )
    lines += [
        "",
        f"On validation the early protocol scores higher in {wins} of {len(compared)} settings.",
    ]
    text = "\n".join(lines) + "\n"
    (out / f"early_start{tag}.md").write_text(text)
    print(text)
    if not args.no_docs:
        replace_section(
            ROOT / "docs" / "results.md",
            NAME + tag,
            (
                "## When the sampler starts acting: an earlier shared start (Part B ablation)"
                if not tag
                else f"## When the sampler starts acting: E_s = {args.fraction:g} of the schedule"
            )
            + "\n\n"
            + text,
        )


if __name__ == "__main__":
    main()

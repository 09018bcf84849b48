"""Part B ablation: the Lipschitz bound with the early shared start (the default protocol).

Run: .venv/bin/python experiments/lipschitz_early.py [--jobs 2] [--lipschitz 8] [--trials 20]
                                                     [--seeds 1 2 3] [--select-seed 0]
                                                     [--datasets ...] [--settings ...]

With L = 2 and S = 4 a factor cannot fall from 1 to 0 in less than half the unit interval; a
sharper cut (L = 8: an eighth) may separate flipped from clean labels the way Co-teaching's
small-loss selection does. Alone, with Table 1's late switch, it did not help on the demo; this
measures it with the early start that is now the default (``experiments/early_start.py``:
E_s = 0.4 of the schedule, the exact tail, 20 GP trials, cgf). Everything but
``sampler.lipschitz`` is that experiment's config, and its L = 2 searches are reused from its
cache (run it first).

L is chosen per setting on validation alone: the search with the higher best validation score
on the selection seed wins (ties keep L = 2). The default changes only if validation prefers
the sharper bound on both datasets. Test Top-1 on the reported seeds (never the selection
seed) is shown for both bounds, at the last epoch and at the best-validation epoch, beside the
best method of Table 1 with SS's information. Writes results/lipschitz_early/summary.json and
the section ``lipschitz_early`` of docs/results.md.
"""

from __future__ import annotations

import datetime
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import early_start
import table1
from _common import RESULTS, ROOT, Job, replace_section, run_jobs, write_json

NAME = "lipschitz_early"
DEFAULTS: dict[str, Any] = {
    "lipschitz": 2.0,
    "history": 0.0,
    "startup": 8,
    "increments": "clipped",
    "loss_segments": None,
    "draw": "iid",
    "combine": "product",
    "refresh": "every_epoch",
}
"""The default protocol's value of each ablated key (``startup``: demo.toml's start-up
trials, which Table 1 and early_start keep; ``loss_segments``: None is the features loss and
Er with S = 4, see ``early_start.make_config``)."""


TEXT_KEYS = ("increments", "draw", "combine", "refresh")
"""Ablated keys whose values are words, not numbers."""


def _number(value: Any) -> str:
    """A value as the command line and file names write it (8, not 8.0)."""
    return value if isinstance(value, str) else f"{value:g}"


def _text(key: str, value: Any) -> str:
    """A value of an ablated key as the tables write it."""
    if key == "loss_segments":
        return "loss, Er; S = 4" if value is None else f"loss; S = {value}"
    return _number(value)


def search_job(
    dataset: str,
    noise_type: str,
    noise: float,
    fraction: float,
    trials: int,
    select_seed: int,
    lipschitz: float = 2.0,
    history: float = 0.0,
    experiment: str = NAME,
    startup: int | None = None,
    increments: str = "clipped",
    loss_segments: int | None = None,
    draw: str = "iid",
    combine: str = "product",
    refresh: str = "every_epoch",
) -> dict[str, Any]:
    """early_start's search with ``sampler.lipschitz``, ``sampler.history``,
    ``sampler.increments``, ``sampler.draw``, ``sampler.combine``, ``sampler.refresh``,
    ``search.startup_trials`` and ``loss_segments``, under
    results/``experiment``/ (this experiment's by default)."""
    return early_start.search_job(
        dataset,
        noise_type,
        noise,
        fraction,
        trials,
        select_seed,
        lipschitz,
        experiment=experiment,
        history=history,
        startup=startup,
        increments=increments,
        loss_segments=loss_segments,
        draw=draw,
        combine=combine,
        refresh=refresh,
    )


def parse_args(doc: str, script: str, key: str, default: Any, rule: str) -> Any:
    """The ablation's command line: ``--<key>`` (the family value tried against the default
    protocol's) and the protocol's options."""
    parser = early_start.protocol_parser(doc, ["mnist5k", "mnist1d"])
    kind = {"startup": int, "loss_segments": int}.get(key, str if key in TEXT_KEYS else float)
    parser.add_argument(f"--{key.replace('_', '-')}", type=kind, default=default, dest="value")
    args = parser.parse_args()
    early_start.check_protocol(parser, args)
    problem = {
        "lipschitz": lambda v: v <= 0 or v == 2.0,
        "history": lambda v: not 0 < v < 1,
        "startup": lambda v: not 0 <= v <= args.trials - 1 or v == DEFAULTS["startup"],
        "increments": lambda v: v != "scaled",
        "loss_segments": lambda v: v < 1,
        "draw": lambda v: v != "stratified",
        "combine": lambda v: v != "noisy_or",
        "refresh": lambda v: v != "once",
    }[key](args.value)
    if problem:
        flag = key.replace("_", "-")
        parser.error(f"--{flag} must be {rule}, got {_number(args.value)}")
    args.command = (f"python experiments/{script} " + " ".join(sys.argv[1:])).strip()
    return args


def last_share(runs: list[dict[str, Any]]) -> float | None:
    """Mean over the runs of the sampler's probability on the flipped labels at the last
    epoch; None where a run recorded none (no injected noise)."""
    shares = [run["noisy_share"][-1] for run in runs if run.get("noisy_share")]
    return sum(shares) / len(shares) if shares and len(shares) == len(runs) else None


def ablate(
    args: Any, *, name: str, key: str, symbol: str, title: str, per_value: bool = False
) -> None:
    """Runs the default protocol with ``<key> = args.value`` (``sampler.lipschitz``,
    ``sampler.history``, ``sampler.increments``, ``sampler.draw``, ``sampler.combine``,
    ``sampler.refresh``, ``search.startup_trials`` or
    ``loss_segments``: see ``early_start.make_config``) beside
    early_start's own runs (read from its cache), chooses per setting on validation, writes
    results/``name``/summary.json and the section ``name`` of docs/results.md
    (``summary-<value>.json`` and a section per value with ``per_value``)."""
    pairs = early_start.setting_pairs(args)
    default = DEFAULTS[key]
    if key == "startup":  # table1.make_config keeps at most all the trials
        default = min(default, args.trials)
    # One value per run of ablations whose files and section carry the value (gp_startup).
    tag = f"-{key[:2]}{_number(args.value)}" if per_value else ""

    def base(dataset: str, setting: str) -> dict[str, Any]:
        return early_start.protocol_kwargs(args, dataset, setting)

    # The default: early_start's own jobs (same kwargs, same cache files); never rerun here.
    old_searches, old_trains = early_start.cached_runs(pairs, base, args.seeds)

    variant = {key: args.value}
    extra = {} if name == NAME else {"experiment": name}  # lipschitz_early's keys unchanged
    searches = {
        p: Job(name, f"search-{p[0]}-{p[1]}", search_job, base(*p) | variant | extra)
        for p in pairs
    }
    done = run_jobs(list(searches.values()), processes=args.jobs)
    trains = {
        (p, s): Job(
            name,
            f"train-{p[0]}-{p[1]}-s{s}",
            early_start.train_job,
            base(*p) | variant | {"seed": s, "spec": done[searches[p].key]["spec"]},
        )
        for p in pairs
        for s in args.seeds
    }
    done.update(run_jobs(list(trains.values()), processes=args.jobs))

    table1_path = RESULTS / "table1" / "summary.json"
    table1_rows = json.loads(table1_path.read_text()) if table1_path.exists() else []
    rows = []
    for p in pairs:
        noise_type, noise = table1.SETTINGS[p[1]]
        old, new = old_searches[p], done[searches[p].key]
        arms = {
            "default": early_start.arm([old_trains[p, s] for s in args.seeds]),
            "variant": early_start.arm([done[trains[p, s].key] for s in args.seeds]),
        }
        chosen = args.value if new["best_val"] > old["best_val"] else default
        same_info = early_start.same_information(table1_rows, p[0], noise_type, noise)
        rows.append(
            {
                "dataset": p[0],
                "setting": p[1],
                "noise_type": noise_type,
                "noise": noise,
                "seeds": list(args.seeds),
                "select_seed": args.select_seed,
                "best_val_default": old["best_val"],
                "best_val_variant": new["best_val"],
                f"chosen_{key}": chosen,
                "default": arms["default"],
                "variant": arms["variant"],
                "chosen": arms["variant" if chosen != default else "default"],
                **early_start.best_same_information(same_info),
                "search_trainings_variant": new["cost"]["total_epochs"]
                / new["cost"]["full_training_epochs"],
                # The sampler's probability on the flipped labels at the last epoch (mean over
                # the seeds; the noise mask is read only for this measure).
                "flipped_share_last_default": last_share([old_trains[p, s] for s in args.seeds]),
                "flipped_share_last_variant": last_share(
                    [done[trains[p, s].key] for s in args.seeds]
                ),
            }
        )
    by_dataset = {
        d: [r[f"chosen_{key}"] != default for r in rows if r["dataset"] == d]
        for d in args.datasets
    }
    # The default moves only if validation prefers the variant on both datasets (in most of
    # each dataset's settings).
    prefers = {d: sum(v) > len(v) / 2 for d, v in by_dataset.items()}
    summary = {
        key: args.value,
        "default": default,
        "fraction": args.fraction,
        "trials": args.trials,
        "rows": rows,
        "validation_prefers_variant": prefers,
        "default_changes": all(prefers.values()),
    }
    write_json(RESULTS / name / f"summary{tag}.json", summary)

    def cell(arm: dict[str, float]) -> str:
        return (
            f"{arm['last_mean']:.1f} ± {arm['last_std']:.1f} / "
            f"{arm['at_best_val_mean']:.1f} ± {arm['at_best_val_std']:.1f}"
        )

    v, d0 = f"{symbol} = {_text(key, args.value)}", f"{symbol} = {_text(key, default)}"
    date = datetime.date.today().isoformat()
    lines = [
        f"Command: `{args.command}`. Date: {date}. The default protocol (E_s = "
        f"{args.fraction:g} of the schedule, the exact tail, {args.trials} GP trials, cgf) with "
        f"{d0} (early_start's searches) and {v}; search and selection on seed "
        f"{args.select_seed} (validation only); test Top-1 (%) on seeds {args.seeds}, mean ± "
        "std, last epoch / at the best-validation epoch. 'best same-info': the best of Table "
        "1's methods with SS's information in each column, named.",
        "",
        f"| dataset | setting | search val {d0} / {v} | chosen {symbol} | SS(cgf) {d0} | "
        f"SS(cgf) {v} | best same-info | search {v} (trainings) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} | {r['setting']} | {100 * r['best_val_default']:.1f} / "
            f"{100 * r['best_val_variant']:.1f} | {_text(key, r[f'chosen_{key}'])} | "
            f"{cell(r['default'])} | {cell(r['variant'])} | "
            f"{early_start.same_information_cell(r)} | {r['search_trainings_variant']:.1f} |"
        )
    lines += [
        "",
        f"Validation prefers {v} in "
        + ", ".join(f"{sum(x)} of {len(x)} {d} settings" for d, x in by_dataset.items())
        + (": the default changes." if summary["default_changes"] else ": the default stays."),
    ]
    text = "\n".join(lines) + "\n"
    (RESULTS / name / f"{name}{tag}.md").write_text(text)
    print(text)
    if not args.no_docs:
        replace_section(ROOT / "docs" / "results.md", name + tag, f"## {title}\n\n" + text)


def main() -> None:
    args = parse_args(__doc__, "lipschitz_early.py", "lipschitz", 8.0, "> 0 and not 2")
    ablate(
        args,
        name=NAME,
        key="lipschitz",
        symbol="L",
        title="The Lipschitz bound with the early start (Part B ablation)",
    )


if __name__ == "__main__":
    main()

"""The paper's Wiki-GPT experiment (Table 11) at small scale: a character-level GPT on
Shakespeare with contaminated training sequences.

Run: .venv/bin/python experiments/lm.py [--jobs 2] [--seeds 1 2 3] [--select-seed 0]
                                        [--trials 10] [--settings c0 c20 c40] [--smoke]

Data and model are configs/lm.toml's: Shakespeare's 42 works split by work into train /
validation / test, 2,000 training sequences of 64 characters of which 0%, 20% or 40% are
replaced by junk (random characters, shuffled real lines, Python's stdlib documentation, in
equal shares; validation and test clean), a 2-layer GPT (0.42M parameters), AdamW on an
8-epoch cosine schedule. Methods, all with the same model, data, schedule and seeds:

* uniform sampling;
* SS(cdf) and SS(cgf): the Swift Sampler searched on the validation perplexity (GP-BO,
  ``--trials`` candidates from the shared start at 40% of the schedule, seed 0);
* drop-r%: from E_s on, never draw the r% highest-loss sequences, r chosen on validation from
  ``DROP_GRID``;
* InfoBatch (Qin et al. 2024): prune below-mean-loss sequences at random with ratio r, rescale
  the kept ones, full data in the last 12.5% of the schedule; r chosen on validation from
  ``INFOBATCH_GRID``;
* transfer: SS(cgf) searched on the 2-layer model trains a 4-layer one (only the 10 numbers
  move), beside uniform sampling on the 4-layer model.

Every choice (the searches, both grids, by the last-epoch validation perplexity) is made on
``--select-seed``; the reported seeds are disjoint from it. Reported: validation and test
perplexity at the last epoch and at the epoch of best validation perplexity (never a minimum
over the test curve), mean and sample std over seeds; the share of sampling mass on the
contaminated sequences; each search's cost in trainings of the schedule. Every job is cached
under results/lm/runs/ (``--smoke``: results/lm-smoke/, tiny sizes, 2 trials, seed 1 unless
given, docs untouched); a rerun
recomputes nothing and an interrupted search resumes trial by trial.
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import tomllib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    RESULTS,
    ROOT,
    Job,
    atomic_path,
    mean_std,
    replace_section,
    run_jobs,
    write_json,
    write_text_atomic,
)

SETTINGS = {"c0": 0.0, "c20": 0.2, "c40": 0.4}
RUN_ORDER = ("c40", "c20", "c0")
"""The setting the targets weigh most runs first."""
DROP_GRID = [0.1, 0.2, 0.3, 0.4, 0.5]
INFOBATCH_GRID = [0.3, 0.5, 0.7]
SS_METHODS = {"ss_cdf": "cdf", "ss_cgf": "cgf"}
METHODS = ("uniform", "drop_r_val", "infobatch_val", "ss_cdf", "ss_cgf")
TRANSFER = ("uniform_4l", "ss_cgf_4l")
LABELS = {
    "uniform": "Uniform",
    "drop_r_val": "drop-r% (r on val)",
    "infobatch_val": "InfoBatch (r on val)",
    "ss_cdf": "SS (cdf)",
    "ss_cgf": "SS (cgf)",
    "uniform_4l": "4-layer: Uniform",
    "ss_cgf_4l": "4-layer: SS (cgf) searched on 2 layers",
}
SIZES: dict[str, dict[str, dict[str, Any]]] = {
    "full": {},  # configs/lm.toml as it is
    "smoke": {
        "data": {"seq_len": 32, "train_sequences": 160, "eval_sequences": 40},
        "model": {"d_model": 32, "heads": 2},
        "train": {"epochs": 4, "batch_size": 16, "lr": 0.01},
        "search": {"startup_trials": 1},
    },
}
TARGET_LAYERS = 4


def make_config(
    contamination: float, transform: str, trials: int, size: str, layers: int = 2
) -> Any:
    """configs/lm.toml at ``contamination`` with ``transform``, ``trials`` and ``layers``."""
    from swift_sampler.config import parse_config

    raw = tomllib.loads((ROOT / "configs" / "lm.toml").read_text())
    for section, values in SIZES[size].items():
        raw[section].update(values)
    raw["data"]["contamination"] = contamination
    raw["model"]["layers"] = layers
    raw["sampler"]["transform"] = transform
    raw["search"]["trials"] = trials
    raw["search"]["startup_trials"] = min(raw["search"]["startup_trials"], trials)
    raw["search"]["study_name"] = f"lm-{size}-c{contamination:g}-{transform}-{layers}l"
    return parse_config(raw, source=f"lm {size} contamination {contamination}")


def search_job(contamination: float, transform: str, trials: int, size: str) -> dict[str, Any]:
    """Runs (or resumes) one search on the 2-layer model; the sampler, its cost, Figure 2b's
    arrays at the shared start."""
    import numpy as np

    from swift_sampler.search.driver import run_search

    config = make_config(contamination, transform, trials, size)
    run_dir = RESULTS / _name(size) / "search" / f"c{contamination:g}-{transform}"
    result = run_search(config, run_dir, resume=(run_dir / "config.toml").exists())
    arrays: dict[str, list[float]] = {}
    figure = run_dir / "figure1.npz"
    if figure.exists():
        with np.load(figure) as saved:
            arrays = {k: [round(float(v), 7) for v in saved[k]] for k in saved.files}
    return {
        "spec": result.spec.to_dict(),
        "best_val": result.best_score,
        "best_slot": result.best_slot,
        "cost": result.cost,
        "arrays": arrays,
    }


def train_job(
    contamination: float,
    method: str,
    seed: int,
    trials: int,
    size: str,
    layers: int = 2,
    spec: dict[str, Any] | None = None,
    rate: float | None = None,
    oracle_start: int | None = None,
) -> dict[str, Any]:
    """One training from scratch; per-epoch validation and test scores (minus perplexity).

    ``method``: ``"uniform"``, ``"ss_cdf"`` or ``"ss_cgf"`` (with ``spec``), ``"drop_r"`` or
    ``"infobatch"`` (with ``rate``), or the privileged reference policies of
    experiments/lm_oracle.py, ``"oracle"`` (clean sequences only, from the first epoch, or from
    epoch ``oracle_start``) and ``"oracle_es"`` (from E_s on)."""
    from swift_sampler.baselines import DropHighLossTrainer, InfoBatchTrainer, OracleTrainer
    from swift_sampler.family import SamplerSpec
    from swift_sampler.search.final import train_arm
    from swift_sampler.search.setup import build_experiment

    config = make_config(contamination, "cgf", trials, size, layers)
    experiment = build_experiment(config)
    shared = config.search.shared_epochs
    trainer: Any = experiment.trainer
    if method == "drop_r":
        assert rate is not None
        trainer = DropHighLossTrainer(trainer, fraction=rate, start_epoch=shared)
    elif method == "infobatch":
        assert rate is not None
        trainer = InfoBatchTrainer(trainer, prune_ratio=rate)
    elif method in ("oracle", "oracle_es"):  # reads the contamination mask (privileged)
        trainer = OracleTrainer(
            trainer,
            noise_mask=experiment.noise_mask,
            start_epoch=(oracle_start or 0) if method == "oracle" else shared,
        )
    sampler = None if spec is None else SamplerSpec.from_dict(spec)
    run = train_arm(
        trainer, sampler, seed=seed, shared_epochs=shared, noise_mask=experiment.noise_mask
    )
    out = run.summary()
    if method == "infobatch":
        out["kept_shares"] = trainer.kept_shares
    return out


# Jobs ------------------------------------------------------------------------------------------


def _name(size: str) -> str:
    return "lm" if size == "full" else f"lm-{size}"


def search(setting: str, method: str, trials: int, size: str) -> Job:
    kw = {"contamination": SETTINGS[setting], "transform": SS_METHODS[method], "trials": trials}
    return Job(_name(size), f"search-{setting}-{method}", search_job, kw | {"size": size})


def train(
    setting: str,
    method: str,
    seed: int,
    trials: int,
    size: str,
    *,
    rate: float | None = None,
    spec: dict[str, Any] | None = None,
    layers: int = 2,
    oracle_start: int | None = None,
) -> Job:
    kw: dict[str, Any] = {
        "contamination": SETTINGS[setting],
        "method": method,
        "seed": seed,
        "trials": trials,
        "size": size,
        "layers": layers,
    }
    if rate is not None:
        kw["rate"] = rate
    if spec is not None:
        kw["spec"] = spec
    key = _key(setting, method, seed, rate, layers)
    if oracle_start is not None:
        kw["oracle_start"] = oracle_start
        key = key.replace(f"-{method}", f"-{method}{oracle_start}")
    return Job(_name(size), key, train_job, kw)


def _key(setting: str, method: str, seed: int, rate: float | None, layers: int = 2) -> str:
    suffix = "" if rate is None else f"-r{rate:g}"
    deep = "" if layers == 2 else f"-{layers}l"
    return f"train-{setting}-{method}{suffix}{deep}-s{seed}"


def _choose(runs: dict[float, dict[str, Any]]) -> float:
    """The grid value with the lowest last-epoch validation perplexity; ties: the smaller."""
    return max(runs, key=lambda r: (runs[r]["val_top1"][-1], -r))


def run(args: argparse.Namespace, on_setting: Any = None) -> dict[str, Any]:
    size, trials, select = args.size, args.trials, args.select_seed
    done: dict[str, dict[str, Any]] = {}
    chosen: dict[tuple[str, str], float] = {}
    finished: list[str] = []
    summary: dict[str, Any] = {}
    for setting in sorted(args.settings, key=RUN_ORDER.index):
        make_config(SETTINGS[setting], "cgf", trials, size)  # a bad config fails before any job
        # Phase 1: the searches, both grids on the selection seed, uniform on the reported.
        first = [search(setting, m, trials, size) for m in SS_METHODS]
        first += [train(setting, "drop_r", select, trials, size, rate=r) for r in DROP_GRID]
        first += [
            train(setting, "infobatch", select, trials, size, rate=r) for r in INFOBATCH_GRID
        ]
        first += [train(setting, "uniform", s, trials, size) for s in args.seeds]
        first += [
            train(setting, "uniform", s, trials, size, layers=TARGET_LAYERS) for s in args.seeds
        ]
        done.update(run_jobs(first, processes=args.jobs))
        # Phase 2: the chosen rates and the found samplers on the reported seeds.
        second = []
        for method, grid in (("drop_r", DROP_GRID), ("infobatch", INFOBATCH_GRID)):
            best = _choose({r: done[_key(setting, method, select, r)] for r in grid})
            chosen[(setting, method)] = best
            second += [train(setting, method, s, trials, size, rate=best) for s in args.seeds]
        for method in SS_METHODS:
            spec = done[f"search-{setting}-{method}"]["spec"]
            second += [train(setting, method, s, trials, size, spec=spec) for s in args.seeds]
        spec = done[f"search-{setting}-ss_cgf"]["spec"]
        second += [
            train(setting, "ss_cgf", s, trials, size, spec=spec, layers=TARGET_LAYERS)
            for s in args.seeds
        ]
        done.update(run_jobs(second, processes=args.jobs))
        finished.append(setting)
        summary = summarise(args, finished, done, chosen)
        if on_setting is not None:
            on_setting(summary)
    return summary


# Summary ---------------------------------------------------------------------------------------


def _reported(
    setting: str, method: str, seeds: list[int], done: dict[str, Any], chosen: dict
) -> list[dict[str, Any]]:
    if method in ("drop_r_val", "infobatch_val"):
        base = method.removesuffix("_val")
        rate = chosen[(setting, base)]
        return [done[_key(setting, base, s, rate)] for s in seeds]
    if method in TRANSFER:
        return [
            done[_key(setting, method.removesuffix("_4l"), s, None, TARGET_LAYERS)] for s in seeds
        ]
    return [done[_key(setting, method, s, None)] for s in seeds]


def summarise(
    args: argparse.Namespace, settings: list[str], done: dict[str, Any], chosen: dict
) -> dict[str, Any]:
    rows = []
    seeds = list(args.seeds)
    for setting in sorted(settings, key=list(SETTINGS).index):
        for method in METHODS + TRANSFER:
            runs = _reported(setting, method, seeds, done, chosen)
            best = [r["best_val_epoch"] for r in runs]
            columns = {
                "val_last": [-r["val_top1"][-1] for r in runs],
                "val_at_best": [-r["val_top1"][b] for r, b in zip(runs, best, strict=True)],
                "test_last": [-r["last"] for r in runs],
                "test_at_best_val": [-r["test_at_best_val"] for r in runs],
            }
            row: dict[str, Any] = {
                "setting": setting,
                "contamination": SETTINGS[setting],
                "method": method,
                "seeds": seeds,
                "select_seed": args.select_seed,
                "best_val_epochs": best,
                "seconds": mean_std(r["seconds"] for r in runs)[0],
                # Sampling mass on the contaminated sequences at the last epoch (the junk's
                # share of the data for the methods that do not sample by probability).
                "contaminated_mass_last": mean_std(r["noisy_share"][-1] for r in runs)[0],
                "contaminated_mass": [
                    mean_std(r["noisy_share"][e] for r in runs)[0]
                    for e in range(len(runs[0]["noisy_share"]))
                ],
            }
            for key, values in columns.items():
                row[f"{key}_mean"], row[f"{key}_std"] = mean_std(values)
            if method in SS_METHODS or method == "ss_cgf_4l":
                found = done[f"search-{setting}-{method.removesuffix('_4l')}"]
                cost = found["cost"]
                row["search_trainings"] = cost["total_epochs"] / cost["full_training_epochs"]
                row["search_s"] = cost["total_s"]
                row["search_best_val_ppl"] = -found["best_val"]
            if method in ("drop_r_val", "infobatch_val"):
                base = method.removesuffix("_val")
                row["chosen"] = chosen[(setting, base)]
                row["selection_trainings"] = len(DROP_GRID if base == "drop_r" else INFOBATCH_GRID)
            rows.append(row)
    return {
        "rows": rows,
        "trials": args.trials,
        "seeds": seeds,
        "select_seed": args.select_seed,
        "size": args.size,
    }


def _row(rows: list[dict[str, Any]], setting: str, method: str) -> dict[str, Any] | None:
    return next((r for r in rows if (r["setting"], r["method"]) == (setting, method)), None)


COLUMNS = (("test_last_mean", "last"), ("test_at_best_val_mean", "at best val"))


def targets(summary: dict[str, Any]) -> list[str]:
    """The issue's targets, met or missed, with the numbers (test perplexity, both columns)."""
    rows, out = summary["rows"], []
    for setting in ("c20", "c40"):
        ss, uniform = _row(rows, setting, "ss_cgf"), _row(rows, setting, "uniform")
        if ss is None or uniform is None:
            continue
        baselines = [_row(rows, setting, m) for m in ("drop_r_val", "infobatch_val")]
        for column, label in COLUMNS:
            gain = 1 - ss[column] / uniform[column]
            out.append(
                f"{setting} ({ss['contamination']:.0%}), {label}: SS(cgf) test perplexity at "
                f"least 5% below uniform: {ss[column]:.3f} vs {uniform[column]:.3f} "
                f"({100 * gain:+.1f}%) -> {'met' if gain >= 0.05 else 'MISSED'}"
            )
            best = min((b for b in baselines if b is not None), key=lambda b: b[column])
            ok = round(ss[column], 3) <= round(best[column], 3)
            out.append(
                f"{setting}, {label}: SS(cgf) no higher than the best loss-based baseline "
                f"({LABELS[best['method']]} {best[column]:.3f}): {ss[column]:.3f} -> "
                f"{'met' if ok else 'MISSED'}"
            )
    ss, uniform = _row(rows, "c0", "ss_cgf"), _row(rows, "c0", "uniform")
    if ss is not None and uniform is not None:
        for column, label in COLUMNS:
            gap = ss[column] / uniform[column] - 1
            out.append(
                f"c0 (clean), {label}: SS(cgf) within 1% of uniform's test perplexity: "
                f"{ss[column]:.3f} vs {uniform[column]:.3f} ({100 * gap:+.1f}%) -> "
                f"{'met' if abs(gap) <= 0.01 else 'MISSED'}"
            )
    return out


def markdown(summary: dict[str, Any], command: str) -> str:
    rows = summary["rows"]
    settings = list(dict.fromkeys(r["setting"] for r in rows))
    lines = [
        f"Command: `{command}`. Date: {datetime.date.today().isoformat()}. configs/lm.toml's "
        "data and 2-layer GPT; reported seeds "
        f"{summary['seeds']} (weights, shuffles, samplers; split and contamination seed 0); "
        f"every choice (SS: GP-BO, {summary['trials']} trials; the drop-r% and InfoBatch "
        f"rates) made on seed {summary['select_seed']} by the last-epoch validation "
        "perplexity. Perplexity on the clean validation and test works, mean ± std over the "
        "reported seeds, at the last epoch / at the epoch of best validation perplexity. "
        "'junk mass': SS's sampling probability on the contaminated sequences at the last "
        "epoch (for uniform, drop-r% and InfoBatch: the junk's share of the training set, "
        "what a uniform draw gives it). Search cost in trainings of the schedule.",
        "",
        "| setting | method | val last | val at best | test last | test at best val | junk "
        "mass | selection |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for setting in settings:
        for method in METHODS + TRANSFER:
            r = _row(rows, setting, method)
            if r is None:
                continue
            cells = [
                f"{r[f'{k}_mean']:.3f} ± {r[f'{k}_std']:.3f}"
                for k in ("val_last", "val_at_best", "test_last", "test_at_best_val")
            ]
            if "search_trainings" in r:
                selection = f"search {r['search_trainings']:.1f} trainings"
            elif "chosen" in r:
                selection = f"r = {r['chosen']:g} ({r['selection_trainings']} trainings)"
            else:
                selection = "-"
            name = f"**{LABELS[method]}**" if method == "ss_cgf" else LABELS[method]
            lines.append(
                f"| {SETTINGS[setting]:.0%} | {name} | "
                + " | ".join(cells)
                + f" | {r['contaminated_mass_last']:.3f} | {selection} |"
            )
    return "\n".join(lines) + "\n"


def figure(summary: dict[str, Any], done: dict[str, Any], path: Path) -> None:
    """(a) SS(cgf)'s sampling probability against the loss cdf at the shared start, junk
    marked (the paper's Figure 2b); (b) the sampling mass on junk per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rows = summary["rows"]
    settings = [s for s in ("c20", "c40") if _row(rows, s, "ss_cgf") is not None]
    fig, axes = plt.subplots(1, len(settings) + 1, figsize=(5 * (len(settings) + 1), 4))
    axes = np.atleast_1d(axes)
    for ax, setting in zip(axes, settings, strict=False):
        arrays = done.get(f"search-{setting}-ss_cgf", {}).get("arrays", {})
        if not arrays:
            continue
        rank = np.asarray(arrays["loss_rank"])
        p = np.asarray(arrays["probability"]) * len(rank)  # relative to uniform
        junk = np.asarray(arrays.get("noisy", np.zeros(len(rank))), dtype=bool)
        ax.scatter(rank[~junk], p[~junk], s=4, alpha=0.5, label="Shakespeare")
        ax.scatter(rank[junk], p[junk], s=4, alpha=0.5, color="tab:red", label="junk")
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_xlabel("loss cdf at the shared start")
        ax.set_ylabel("sampling probability × n (1 = uniform)")
        ax.set_title(f"SS (cgf), {SETTINGS[setting]:.0%} contamination")
        ax.legend(fontsize=8)
    ax = axes[-1]
    for setting in settings:
        for method, style in (("ss_cgf", "-"), ("ss_cdf", ":")):
            r = _row(rows, setting, method)
            if r is not None:
                ax.plot(r["contaminated_mass"], style, label=f"{LABELS[method]} {setting}")
        ax.axhline(SETTINGS[setting], color="gray", lw=0.8, ls="--")
    ax.set_xlabel("epoch")
    ax.set_ylabel("sampling mass on junk (dashed: uniform)")
    ax.set_title("share of sampling mass on contaminated sequences")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="parallel processes (1 thread each)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3], help="reported seeds")
    parser.add_argument("--select-seed", type=int, default=0, help="every choice's seed")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--smoke", action="store_true", help="tiny sizes into results/lm-smoke")
    parser.add_argument("--no-docs", action="store_true", help="do not update docs/results.md")
    args = parser.parse_args()
    if args.select_seed in args.seeds:
        parser.error(f"--select-seed {args.select_seed} is one of --seeds: report other seeds")
    args.size = "smoke" if args.smoke else "full"
    if args.smoke and "--trials" not in sys.argv:
        args.trials = 2
    if args.smoke and "--seeds" not in sys.argv:
        args.seeds = [1]
    command = ("python experiments/lm.py " + " ".join(sys.argv[1:])).strip()
    out = RESULTS / _name(args.size)
    done_ref: dict[str, Any] = {}

    def report(summary: dict[str, Any]) -> None:
        write_json(out / "summary.json", summary)
        text = markdown(summary, command)
        checks = targets(summary)
        if checks:
            text += "\nTargets:\n\n" + "\n".join(f"- {c}" for c in checks) + "\n"
        write_text_atomic(out / "table.md", text)
        print(text, flush=True)
        if not args.smoke and not args.no_docs:
            replace_section(
                ROOT / "docs" / "results.md", "lm", "## Language model (Table 11)\n\n" + text
            )

    summary = run(args, on_setting=report)
    # The figure needs the searches' arrays: they are cached, so this loads them.
    searches = [search(s, "ss_cgf", args.trials, args.size) for s in args.settings]
    done_ref.update(run_jobs(searches, processes=args.jobs))
    figure(summary, {j.key: done_ref[j.key] for j in searches}, out / "lm.png")
    print(f"summary: {out / 'summary.json'}; figure: {out / 'lm.png'}")
    if math.isnan(summary["rows"][0]["test_last_mean"]):
        sys.exit("the first row's test perplexity is nan")


if __name__ == "__main__":
    main()

"""Full-fidelity search against the swift search: cost, wall time and the found sampler's test
accuracy, side by side on the same config (issue 11's target: cost ratio <= 3.0 trainings with
final test Top-1 within 0.5 points of the full-fidelity search's).

Run (the full benchmark takes hours on a CPU; run it on a free machine):

    .venv/bin/python benchmarks/bench_search_cost.py                       # demo + mnist1d
    .venv/bin/python benchmarks/bench_search_cost.py --configs demo
    .venv/bin/python benchmarks/bench_search_cost.py --smoke               # ~1-2 min
    .venv/bin/python benchmarks/bench_search_cost.py --swift reduction_factor=4 patience=8
    .venv/bin/python benchmarks/bench_search_cost.py --configs demo --variants swift

For each config three searches run on the same data, seed (``search.seed = 0``) and
protocol; they differ only in ``[search]`` keys. ``full``: every candidate fine-tunes the whole
tail (pruner none). ``swift``: synchronous successive halving (``search.halving``): every trial
fine-tunes a third of its first epoch (``epoch_parts = 3``, ``min_resource = 1``), then the best
third of each rung (eta = 3) goes on from its saved state; features refreshed every third
fine-tune epoch; the stopping rule with patience 10 (override with ``--swift KEY=VALUE``).
``async``: Optuna's asynchronous successive halving on the same steps, with the first two
candidates to reach the first rung stopped there (override with ``--async KEY=VALUE``).
``few``: the same budget at full fidelity, what a user would do by hand: three candidates (the
uniform sampler and two start-up points) each fine-tuned on the whole tail, features refreshed
every third epoch. ``portfolio``: the same as ``few`` with the two start-up points replaced by
the built-in portfolio's first two thetas (``search.portfolio = 2``: samplers that full
searches found on other data, ``experiments/portfolio.py``). ``full_portfolio`` (not in the
default list): the full-fidelity search warm-started with the same two thetas (then 6 Sobol
points, 5 with search seed 0 where one repeats a portfolio theta, and the GP; 20 trials).
``portfolio_halving`` (not in the default list): the uniform sampler and the whole portfolio
(4 thetas), no start-up points and no GP, screened by synchronous halving on the first third
of the tail (whole epochs), the best two finishing the tail from their saved state.
``uniform`` (not in the default list) is no search: the final seeds trained with uniform
sampling, the reference a search must beat (cost 0).
Each found sampler is then trained from scratch with the final seeds (default 1, 2, 3; never
the search seed). Reported per config and variant:
``cost.total_epochs / cost.full_training_epochs`` (the search in trainings), the epochs
counted (shared start, fine-tunes run, pruned trials), the search's wall seconds, and test
Top-1 at the last epoch and at the best-validation epoch (mean, std, per seed).

``--search-seeds 0 1 2`` repeats every search with each ``search.seed`` (the shared start's
weights, the outer loop's proposals and every sampler's draws): one search's sampler is one
draw, and with 500 noisy validation labels two searches of the same kind can end a few test
points apart. Search seed ``s > 0`` trains its samplers with the final seeds shifted by
``10 s`` (11, 12, 13 for 1), never a search seed. The summary gives the means over the search
seeds.

Configs: ``demo`` is configs/demo.toml (MNIST-5k, 40% symmetric noise, CNN, 20 epochs, the
default protocol: 20 trials, E_s = 8, the 12-epoch tail); ``mnist1d`` is Table 1's MNIST-1D
setting with the same protocol (the demo's recipe on mnist1d with the conv1d model, 60 epochs,
E_s = 24, the 36-epoch tail); ``mnist1d-pair`` is the same with 40% pair noise and data seed
1, a setting outside the tables (a check that the swift keys do not only fit the first two);
``demo-clean`` is the demo without label noise (Table 1's MNIST-5k 0% setting under the
demo's protocol: a search must not make clean data worse than uniform sampling);
``--smoke`` runs configs/digits-tiny.toml.

Run directories go under ``--out`` (default runs/bench_search_cost); a finished search there is
resumed (its recorded wall time reused), so an interrupted benchmark continues. The JSON lands
in ``OUT/bench_search_cost.json`` (``--smoke``: ``bench_search_cost_smoke.json``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SWIFT_DEFAULTS: dict[str, Any] = {
    # Synchronous successive halving (search.halving): every trial screened on a third of its
    # first fine-tune epoch, then the best third of each rung continued from its saved state.
    "pruner": "synchronous_halving",
    "epoch_parts": 3,
    "min_resource": 1,
    "reduction_factor": 3,
    "refresh_every": 3,
    "patience": 10,
    "min_improvement": 0.0,
}
FEW_DEFAULTS: dict[str, Any] = {
    # The same budget spent at full fidelity: the uniform sampler and two start-up points,
    # each fine-tuned on the whole tail (features every third epoch), the best of three kept.
    "pruner": "none",
    "trials": 3,
    "startup_trials": 2,
    "refresh_every": 3,
    "patience": 0,
}
PORTFOLIO_DEFAULTS: dict[str, Any] = {
    # The same budget as ``few``, its two start-up points replaced by the built-in portfolio's
    # first two thetas (swift_sampler.portfolio: found by full searches on other data).
    **FEW_DEFAULTS,
    "startup_trials": 0,
    "portfolio": 2,
}
FULL_PORTFOLIO_KEYS: dict[str, Any] = {
    # The full-fidelity search warm-started: slots 1, 2 are the portfolio's first two thetas,
    # then 6 Sobol points (8 start points in all, as the full search has; 5 with search seed
    # 0, whose second Sobol point is the portfolio's second theta and is skipped), then the GP.
    "pruner": "none",
    "patience": 0,
    "portfolio": 2,
    "startup_trials": 6,
}
PORTFOLIO_HALVING_DEFAULTS: dict[str, Any] = {
    # The whole built-in portfolio and the uniform sampler (5 candidates, no start-up points,
    # no GP), screened on the first third of the tail (whole epochs; min_resource is set per
    # config to a third of its tail), then the best two fine-tune the rest of the tail from
    # their saved state and the better at the last epoch is kept.
    "pruner": "synchronous_halving",
    "trials": 5,
    "startup_trials": 0,
    "portfolio": 4,
    "epoch_parts": 1,
    "reduction_factor": 3,
    "finalists": 2,
    "refresh_every": 3,
    "patience": 0,
}
ASYNC_DEFAULTS: dict[str, Any] = {
    # Optuna's asynchronous successive halving on the same steps, the first two candidates to
    # reach the first rung stopped there (eta - 1: the first to go on is the best of eta).
    "pruner": "successive_halving",
    "epoch_parts": 3,
    "min_resource": 1,
    "reduction_factor": 3,
    "bootstrap_count": 2,
    "refresh_every": 3,
    "patience": 10,
    "min_improvement": 0.0,
}


def _raw(name: str) -> dict[str, Any]:
    if name == "smoke":
        return tomllib.loads((ROOT / "configs" / "digits-tiny.toml").read_text())
    raw = tomllib.loads((ROOT / "configs" / "demo.toml").read_text())
    if name in ("mnist1d", "mnist1d-pair"):
        raw["data"]["name"] = "mnist1d"
        raw["model"] = {"name": "conv1d"}
        raw["train"]["epochs"] = 60  # the protocol's split follows search.shared_fraction
        if name == "mnist1d-pair":  # outside the tables: another noise and another draw
            raw["data"]["noise_type"] = "pair"
            raw["data"]["seed"] = 1
    elif name == "demo-clean":  # no noise (Table 1's MNIST-5k 0%): what a search must not spoil
        raw["data"]["noise_rate"] = 0.0
    elif name != "demo":
        raise SystemExit(
            f"unknown config {name!r}; use demo, demo-clean, mnist1d, mnist1d-pair or --smoke"
        )
    return raw


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def final_seeds(seeds: list[int], search_seed: int) -> list[int]:
    """The final seeds of a search seed: ``seeds`` for search seed 0, else shifted by
    ``10 * search_seed`` (11, 12, 13 for 1): never a search seed (0, 1, 2 ...), whose shared
    start a final training from scratch would replay."""
    return [x + 10 * search_seed for x in seeds]


def _variants(
    name: str,
    swift: dict[str, Any],
    seeds: list[int],
    asynchronous: dict[str, Any],
    search_seed: int = 0,
) -> dict[str, Any]:
    from swift_sampler.config import parse_config

    raw = _raw(name)
    raw["search"]["seed"] = search_seed
    raw.setdefault("final", {})["seeds"] = final_seeds(seeds, search_seed)
    full = {**raw, "search": {**raw["search"], "pruner": "none", "patience": 0}}
    out = {"full": parse_config(full, source=f"{name} full")}
    out["uniform"] = out["full"]  # no search: the final seeds trained with uniform sampling
    other_variants = (
        ("swift", swift),
        ("async", asynchronous),
        ("few", FEW_DEFAULTS),
        ("portfolio", PORTFOLIO_DEFAULTS),
        ("full_portfolio", FULL_PORTFOLIO_KEYS),
        ("portfolio_halving", PORTFOLIO_HALVING_DEFAULTS),
    )
    tail = out["full"].epochs_split[1]
    for variant, keys in other_variants:
        fast = {**raw, "search": {**raw["search"], **keys}}
        if variant == "portfolio_halving":
            fast["search"]["min_resource"] = max(1, tail // 3)
        if fast["search"].get("patience", 0) >= fast["search"]["trials"]:
            fast["search"]["patience"] = 2  # the smoke's 6 trials leave no room for 10
        out[variant] = parse_config(fast, source=f"{name} {variant}")
    return out


def _search(config: Any, run_dir: Path) -> tuple[Any, float]:
    from swift_sampler.search.driver import run_search

    wall_file = run_dir / "bench_wall.json"
    if (run_dir / "result.json").exists() and wall_file.exists():
        result = run_search(config, run_dir, resume=True)
        return result, float(json.loads(wall_file.read_text())["wall_s"])
    start = time.perf_counter()
    result = run_search(config, run_dir, resume=run_dir.exists() and any(run_dir.iterdir()))
    wall = time.perf_counter() - start
    wall_file.write_text(json.dumps({"wall_s": wall}))
    return result, wall


def _final(config: Any, spec: Any) -> dict[str, Any]:
    from swift_sampler.search.final import train_arm
    from swift_sampler.search.setup import build_experiment

    experiment = build_experiment(config)
    runs = []
    for seed in config.final.seeds:
        run = train_arm(
            experiment.trainer,
            spec,
            seed=seed,
            shared_epochs=config.epochs_split[0],
            noise_mask=experiment.noise_mask,
        ).summary()
        runs.append({k: run[k] for k in ("seed", "last", "test_at_best_val", "best_val_epoch")})
    out: dict[str, Any] = {"runs": runs}
    for key in ("last", "test_at_best_val"):
        values = [100 * r[key] for r in runs]
        out[f"{key}_mean"] = statistics.fmean(values)
        out[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
    return out


def _cached_final(config: Any, spec: Any, run_dir: Path) -> dict[str, Any]:
    """``final`` and ``final_wall_s`` of ``spec`` (None: uniform) with the config's final
    seeds, from ``run_dir/bench_final.json`` when it holds the same seeds, else trained and
    saved there."""
    final_file = run_dir / "bench_final.json"
    cached = json.loads(final_file.read_text()) if final_file.exists() else None
    if cached is not None and cached["seeds"] == list(config.final.seeds):
        return {"final": cached["final"], "final_wall_s": cached["final_wall_s"]}
    start = time.perf_counter()
    out: dict[str, Any] = {"final": _final(config, spec)}
    out["final_wall_s"] = time.perf_counter() - start
    final_file.write_text(json.dumps({"seeds": list(config.final.seeds), **out}))
    return out


def _uniform(name: str, config: Any, out: Path) -> dict[str, Any]:
    """The reference without a search: uniform sampling from scratch with the final seeds."""
    seed = config.search.seed
    run_dir = out / name / ("uniform" if seed == 0 else f"uniform-s{seed}")
    run_dir.mkdir(parents=True, exist_ok=True)
    row: dict[str, Any] = {
        "config": name,
        "variant": "uniform",
        "search_seed": seed,
        "cost_ratio": 0.0,
        "epochs_counted": 0.0,
        "trials_complete": 0,
        "trials_pruned": 0,
        "continuations": 0.0,
        "search_wall_s": 0.0,
    }
    return {**row, **_cached_final(config, None, run_dir)}


def _one(name: str, variant: str, config: Any, out: Path) -> dict[str, Any]:
    if variant == "uniform":
        return _uniform(name, config, out)
    seed = config.search.seed
    run_dir = out / name / (variant if seed == 0 else f"{variant}-s{seed}")
    result, wall = _search(config, run_dir)
    cost = result.cost
    row = {
        "config": name,
        "variant": variant,
        "search_seed": seed,
        "search": {
            k: getattr(config.search, k)
            for k in (
                "trials",
                "pruner",
                "epoch_parts",
                "min_resource",
                "reduction_factor",
                "bootstrap_count",
                "refresh_every",
                "patience",
                "portfolio",
                "finalists",
            )
        },
        "cost_ratio": cost["total_epochs"] / cost["full_training_epochs"],
        "epochs_counted": cost["shared_epochs_run"] + cost["finetune_epochs_run"],
        "finetune_epochs_run": cost["finetune_epochs_run"],
        "trials_complete": cost["trials_complete"],
        "trials_pruned": cost["trials_pruned"],
        "continuations": cost.get("continuations", 0.0),  # synchronous halving's rounds
        "search_wall_s": wall,
        "best_val": result.best_score,
        "best_slot": result.best_slot,
    }
    return {**row, **_cached_final(config, result.spec, run_dir)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", nargs="+", default=["demo", "mnist1d"])
    parser.add_argument("--smoke", action="store_true", help="configs/digits-tiny.toml only")
    parser.add_argument("--swift", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--async", dest="asynchronous", nargs="*", default=[], metavar="K=V")
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["full", "swift", "async", "few", "portfolio"],
        choices=[
            "full",
            "swift",
            "async",
            "few",
            "portfolio",
            "full_portfolio",
            "portfolio_halving",
            "uniform",
        ],
    )
    parser.add_argument(
        "--search-seeds", nargs="+", type=int, default=[0], help="search.seed of each search"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_search_cost")
    args = parser.parse_args()

    import optuna
    import torch

    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # one line per throwaway study else
    swift = dict(SWIFT_DEFAULTS)
    for item in args.swift:
        key, _, value = item.partition("=")
        swift[key] = _value(value)
    asynchronous = dict(ASYNC_DEFAULTS)
    for item in args.asynchronous:
        key, _, value = item.partition("=")
        asynchronous[key] = _value(value)
    names = ["smoke"] if args.smoke else args.configs
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name, search_seed in ((n, s) for n in names for s in args.search_seeds):
        configs = _variants(name, swift, args.seeds, asynchronous, search_seed)
        for variant, config in configs.items():
            if variant not in args.variants:
                continue
            row = _one(name, variant, config, args.out)
            rows.append(row)
            f = row["final"]
            print(
                f"{name:8s} s{search_seed} {variant:6s} cost {row['cost_ratio']:5.2f} trainings "
                f"({row['epochs_counted']:.0f} epochs counted, {row['trials_pruned']:.0f} of "
                f"{row['trials_complete'] + row['trials_pruned']:.0f} trials pruned, "
                f"{row['continuations']:.0f} continued), search "
                f"{row['search_wall_s']:6.1f} s; test Top-1 last {f['last_mean']:.1f} ± "
                f"{f['last_std']:.1f}, at best val {f['test_at_best_val_mean']:.1f} ± "
                f"{f['test_at_best_val_std']:.1f}",
                flush=True,
            )
    summary: dict[str, Any] = {}
    both = {"full", "swift"} <= set(args.variants)
    for name in names:
        summary[name] = {}
        for variant in args.variants:
            mine = [r for r in rows if r["config"] == name and r["variant"] == variant]
            summary[name][variant] = {
                # Means over the search seeds of each search's cost and of its sampler's
                # mean final test Top-1 (its own final seeds).
                "search_seeds": [r["search_seed"] for r in mine],
                "cost_ratio": statistics.fmean(r["cost_ratio"] for r in mine),
                "search_wall_s": statistics.fmean(r["search_wall_s"] for r in mine),
                "last": statistics.fmean(r["final"]["last_mean"] for r in mine),
                "test_at_best_val": statistics.fmean(
                    r["final"]["test_at_best_val_mean"] for r in mine
                ),
            }
        for variant in args.variants:
            if variant == "full" or "full" not in args.variants:
                continue
            full, fast = summary[name]["full"], summary[name][variant]
            summary[name][f"{variant}_minus_full"] = {
                "last": fast["last"] - full["last"],
                "test_at_best_val": fast["test_at_best_val"] - full["test_at_best_val"],
            }
        print(f"{name}: {json.dumps(summary[name])}")
    suffix = ("_smoke" if args.smoke else "") + ("" if both else "_" + "_".join(args.variants))
    target = args.out / f"bench_search_cost{suffix}.json"
    target.write_text(
        json.dumps(
            {
                "swift": swift,
                "async": asynchronous,
                "seeds": args.seeds,
                "search_seeds": args.search_seeds,
                "rows": rows,
                "summary": summary,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {target}")


if __name__ == "__main__":
    main()

"""Does the swift preset carry over to the language model (issues 11 and 12)?

``search.preset = "swift"`` screens the uniform sampler and the built-in start portfolio (four
samplers found by full searches on image classifiers with label noise, never on text) on a
third of the fine-tune (5 of the 5-epoch tail's 15 thirds of an epoch), and lets the best two
finish it: about 2.5 trainings of search. Here it runs on experiments/lm.py's configs (the
2-layer GPT, 20% and 40% contamination, search seed 0); its best validation perplexity is set
beside the GP searches' of results/lm/ (L = 2, 10 trials) and results/lm-lipschitz/ (L = 8, 30
trials), and its sampler trains with the reported seeds 1, 2, 3 (test perplexity at the last
epoch and at the best-validation epoch).

    .venv/bin/python experiments/lm_swift.py     # ~10 min with 2 free cores

Writes results/lm-swift/summary.json.
"""

from __future__ import annotations

import json
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lm

OUT = lm.ROOT / "results" / "lm-swift"
SEEDS = [1, 2, 3]
SETTINGS = {"c20": 0.2, "c40": 0.4}


def make_config(
    contamination: float, search_seed: int = 0, final_seeds: list[int] | None = None
) -> Any:
    """configs/lm.toml at ``contamination`` with ``preset = "swift"`` as its whole [search]
    section (a key set there would win over the preset) and ``search_seed``; ``final_seeds``
    replaces [final]'s (which must not hold the search's seed)."""
    import tomllib

    from swift_sampler.config import parse_config

    raw = tomllib.loads((lm.ROOT / "configs" / "lm.toml").read_text())
    raw["data"]["contamination"] = contamination
    if final_seeds is not None:
        raw["final"]["seeds"] = final_seeds
    seed = f"-seed{search_seed}" if search_seed else ""  # seed 0's name predates the others
    raw["search"] = {
        "preset": "swift",
        "seed": search_seed,
        "shared_fraction": raw["search"]["shared_fraction"],
        "study_name": f"lm-c{contamination:g}-swift{seed}",
    }
    return parse_config(raw, source=f"lm swift contamination {contamination}")


def _search(contamination: float) -> dict[str, Any]:
    import torch

    from swift_sampler.search.driver import run_search

    torch.set_num_threads(1)
    config = make_config(contamination)
    run_dir = OUT / "search" / f"c{contamination:g}"
    result = run_search(config, run_dir, resume=(run_dir / "config.toml").exists())
    return {
        "spec": result.spec.to_dict(),
        "best_val": result.best_score,
        "best_slot": result.best_slot,
        "cost": result.cost,
        "split": list(config.epochs_split),
        "min_resource": config.search.min_resource,
        "epoch_parts": config.search.epoch_parts,
    }


def _train(contamination: float, seed: int, spec: dict[str, Any]) -> dict[str, Any]:
    import torch

    torch.set_num_threads(1)
    return lm.train_job(contamination, "ss_cgf", seed, 10, "full", spec=spec)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    base = json.loads((lm.ROOT / "results" / "lm" / "summary.json").read_text())
    sharp_path = lm.ROOT / "results" / "lm-lipschitz" / "summary-t30.json"
    sharp = json.loads(sharp_path.read_text()) if sharp_path.exists() else {"rows": []}
    with ProcessPoolExecutor(2) as pool:
        searches = dict(zip(SETTINGS, pool.map(_search, SETTINGS.values()), strict=True))
        jobs = {
            (s, seed): pool.submit(_train, SETTINGS[s], seed, searches[s]["spec"])
            for s in SETTINGS
            for seed in SEEDS
        }
        runs = {k: f.result() for k, f in jobs.items()}
    rows = []
    for setting in SETTINGS:
        old = json.loads(
            next(
                (lm.ROOT / "results" / "lm" / "runs").glob(f"search-{setting}-ss_cgf-*.json")
            ).read_text()
        )
        l8 = next((r for r in sharp["rows"] if r["setting"] == setting), None)
        mine = [runs[(setting, seed)] for seed in SEEDS]
        search = searches[setting]
        row: dict[str, Any] = {
            "setting": setting,
            "seeds": SEEDS,
            "select_seed": 0,
            "best_slot": search["best_slot"],
            "split": search["split"],
            "min_resource": search["min_resource"],
            "epoch_parts": search["epoch_parts"],
            "best_val_ppl_swift": -search["best_val"],
            "best_val_ppl_L2_t10": -old["best_val"],
            "best_val_ppl_L8_t30": None if l8 is None else l8["best_val_ppl_L8"],
            "search_cost_trainings_swift": search["cost"]["total_epochs"]
            / search["cost"]["full_training_epochs"],
            "test_last_swift": [-r["last"] for r in mine],
            "test_at_best_val_swift": [-r["test_at_best_val"] for r in mine],
            "test_last_L8_t30": None if l8 is None else l8["test_last_L8_mean"],
        }
        for key in ("test_last", "test_at_best_val"):
            values = row[f"{key}_swift"]
            row[f"{key}_swift_mean"] = statistics.fmean(values)
            row[f"{key}_swift_std"] = statistics.stdev(values)
        for r in base["rows"]:
            if r["setting"] == setting and r["method"] in ("uniform", "drop_r_val", "ss_cgf"):
                row[f"test_last_{r['method']}"] = r["test_last_mean"]
        rows.append(row)
        print(json.dumps(row))
    (OUT / "summary.json").write_text(json.dumps({"seeds": SEEDS, "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()

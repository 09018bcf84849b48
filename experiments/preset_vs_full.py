"""The swift preset against the full search, on validation: every paired final training of
the runs its rule was set on.

Run: .venv/bin/python experiments/preset_vs_full.py [--no-docs]

Reads (never runs) the final trainings that three experiments made of both searches on the
same shared start, the same search seed and the same final seeds: experiments/early_start.py
(the full search of the default protocol: E_s = 0.4 of the schedule, the exact tail, 20 GP
trials, cgf) against experiments/swift_table1.py (``search.preset = "swift"``) on Table 1's
eight settings with search seed 0 (final seeds 1-3) and on the four runs of
experiments/outside.py (an MLP, data seed 1, digits: no table's setting) with selection seeds
0, 1 and 2 (final seeds 1-3, 11-13, 21-23); experiments/search_seeds.py's ``full`` and
``swift`` arms on Table 1's settings with search seeds 1, 2 and 3 (final seeds 11-13, 21-23,
31-33). For each pair: the final trainings' validation Top-1 (noisy labels) at the last epoch
and at their best epoch, and test Top-1 at the last epoch and at the best-validation epoch,
each the mean over the three final seeds; the preset's minus the full search's.

Why (written 2026-12-02, before the confirmation runs below had finished): the full search is
the default, and the preset, which costs about a seventh of it (2.4-2.6 trainings against
10.8-21.0 on Table 1's settings), is offered as the cheap recipe. On the runs that existed
then (Table 1 with search seeds 0-2, the outside runs with selection seeds 0-1) the preset's
final trainings score higher on validation than the full search's on average in all three
groups (MNIST-5k, MNIST-1D, outside), at the last epoch and at the best epoch. Those runs'
test numbers had been seen before this comparison was made, so they cannot confirm it.

Confirmation, set before its runs ended: search seed 3 on Table 1's eight settings (final
seeds 31-33; ``python experiments/search_seeds.py --jobs 2 --search-seeds 3``) and selection
seed 2 of the outside runs (final seeds 21-23; ``python experiments/outside.py --jobs 2
--select-seed 2 --seeds 21 22 23``, and the same with ``--preset swift``): twelve searches
of each kind, none looked at before. The preset is confirmed as at least as good as the full
search on validation if, pooled over those twelve, its mean validation Top-1 is at or above
the full search's both at the last epoch and at the best epoch. Test is reported beside it
and decides nothing. Nothing here changes a default by itself; what a confirmation would mean
for the default is said in docs/results.md beside the table. Writes
results/preset_vs_full/summary.json and the section ``preset_vs_full`` of docs/results.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import outside
from _common import RESULTS, ROOT, replace_section, write_json

NAME = "preset_vs_full"
FRESH = {"table1": 3, "outside": 2}
"""The confirmation's search seed (Table 1's settings) and selection seed (outside)."""
GROUPS = ("mnist5k", "mnist1d", "outside")
COLUMNS = ("val_last", "val_best", "test_last", "test_at_best_val")
_PLAIN = {"dataset", "noise_type", "noise", "fraction", "select_seed", "trials", "seed", "spec"}
"""The keyword arguments of a default-protocol training: a job with any other (an ablation's
L, history, refresh, ...) is not the default protocol's and is left out."""


def _setting(kwargs: dict[str, Any]) -> str:
    kind = "sym" if kwargs["noise_type"] == "symmetric" else "pair"
    return f"{kind}{round(100 * kwargs['noise'])}"


def _measures(run: dict[str, Any]) -> tuple[float, ...]:
    val = run["val_top1"]
    return (100 * val[-1], 100 * max(val), 100 * run["last"], 100 * run["test_at_best_val"])


def collect(results: Path = RESULTS) -> dict[tuple[str, str, int], dict[str, dict[int, Any]]]:
    """(dataset, setting, search seed) -> arm ('full' or 'preset') -> final seed -> measures."""
    found: dict[tuple[str, str, int], dict[str, dict[int, Any]]] = defaultdict(
        lambda: {"full": {}, "preset": {}}
    )
    for arm, experiment in (("full", "early_start"), ("preset", "swift_table1")):
        for path in sorted((results / experiment / "runs").glob("train-*.json")):
            run = json.loads(path.read_text())
            kwargs = run["job"]["kwargs"]
            if set(kwargs) - _PLAIN or kwargs["fraction"] != 0.4 or kwargs["trials"] != 20:
                continue
            cell = (kwargs["dataset"], _setting(kwargs), kwargs["select_seed"])
            _put(found, cell, arm, kwargs["seed"], run, path)
    for path in sorted((results / "search_seeds" / "runs").glob("train-*.json")):
        run = json.loads(path.read_text())
        match = re.fullmatch(r"train-(full|swift)-.+-ss(\d+)-s\d+", run["job"]["key"])
        if match is None:
            continue
        kwargs = run["job"]["kwargs"]
        arm = "full" if match[1] == "full" else "preset"
        cell = (kwargs["dataset"], _setting(kwargs), int(match[2]))
        _put(found, cell, arm, kwargs["seed"], run, path)
    return found


OUTSIDE = set(outside.RUNS)
"""experiments/outside.py's runs (another network or dataset than Table 1's), as
``DATASET:SETTING``; its second set (``outside.SECOND``, run after this comparison's rule was
set and confirmed) is not among them."""


def group(dataset: str, setting: str) -> str | None:
    """'outside' for the outside runs, the dataset for Table 1's settings, None for any other
    (large_val's mnist1d-15k, outside.py's second set, ...: not part of this comparison)."""
    if dataset in ("mnist5k", "mnist1d"):
        return dataset
    return "outside" if f"{dataset}:{setting}" in OUTSIDE else None


def _put(
    found: dict[Any, dict[str, dict[int, Any]]],
    cell: Any,
    arm: str,
    seed: int,
    run: dict[str, Any],
    path: Path,
) -> None:
    """Records one final training; two files for the same training are an error, not a
    silent overwrite (the comparison would depend on the order files are read in)."""
    if seed in found[cell][arm]:
        raise RuntimeError(f"{path}: a second {arm} training of {cell} with final seed {seed}")
    found[cell][arm][seed] = _measures(run)


def pairs(found: dict[tuple[str, str, int], dict[str, dict[int, Any]]]) -> list[dict[str, Any]]:
    """One row per search pair whose two arms share the same three or more final seeds."""
    rows = []
    for (dataset, setting, search_seed), arms in sorted(found.items()):
        seeds = sorted(set(arms["full"]) & set(arms["preset"]))
        where = group(dataset, setting)
        if len(seeds) < 3 or where is None:
            continue
        row: dict[str, Any] = {
            "group": where,
            "dataset": dataset,
            "setting": setting,
            "search_seed": search_seed,
            "seeds": seeds,
            "fresh": search_seed == FRESH["outside" if where == "outside" else "table1"],
        }
        for arm in ("full", "preset"):
            for i, column in enumerate(COLUMNS):
                row[f"{arm}_{column}"] = statistics.mean(arms[arm][s][i] for s in seeds)
        for column in COLUMNS:
            row[f"diff_{column}"] = row[f"preset_{column}"] - row[f"full_{column}"]
        rows.append(row)
    return rows


def pooled(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean differences (preset - full) over ``rows``, each search weighing the same."""
    return {
        "searches": len(rows),
        **{c: statistics.mean(r[f"diff_{c}"] for r in rows) if rows else None for c in COLUMNS},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    rows = pairs(collect())
    summary: dict[str, Any] = {"groups": {}}
    for fresh in (False, True):
        phase = "fresh" if fresh else "seen"
        mine = [r for r in rows if r["fresh"] == fresh]
        by_group = {g: pooled([r for r in mine if r["group"] == g]) for g in GROUPS}
        summary["groups"][phase] = by_group | {"all": pooled(mine)}
    fresh_all = summary["groups"]["fresh"]["all"]
    summary["confirmed"] = (
        fresh_all["val_last"] >= 0 and fresh_all["val_best"] >= 0
        if fresh_all["searches"] == 12
        else None
    )
    summary["rows"] = rows
    write_json(RESULTS / NAME / "summary.json", summary)

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:+.2f}"

    date = datetime.date.today().isoformat()
    lines = [
        f"Command: `python experiments/{NAME}.py`. Date: {date}. Reads the final trainings of "
        "the full search (default protocol, 20 GP trials) and of the swift preset on the same "
        "shared starts, search seeds and final seeds (experiments/early_start.py and "
        "swift_table1.py, experiments/search_seeds.py, experiments/outside.py with and "
        "without `--preset swift`). Preset minus full search, in points of Top-1, each "
        "search's three final seeds averaged, then the searches averaged: validation (noisy "
        "labels) at the last epoch and at the best epoch, test at the last epoch and at the "
        "best-validation epoch. 'seen': the runs that existed when this comparison was set "
        "up (their test numbers known); 'fresh': Table 1 search seed 3 and outside selection "
        "seed 2, set as the confirmation before they finished.",
        "",
        "| runs | group | searches | val last | val best | test last | test at best val |",
        "|---|---|---|---|---|---|---|",
    ]
    for phase, groups in summary["groups"].items():
        for g, p in groups.items():
            lines.append(
                f"| {phase} | {g} | {p['searches']} | "
                + " | ".join(num(p[c]) for c in COLUMNS)
                + " |"
            )
    verdict = {
        None: "the confirmation is not complete (fewer than twelve fresh searches)",
        True: "confirmed: pooled over the twelve fresh searches the preset's validation Top-1 "
        "is at or above the full search's at the last and at the best epoch",
        False: "not confirmed: pooled over the twelve fresh searches the preset's validation "
        "Top-1 is below the full search's at the last or at the best epoch",
    }[summary["confirmed"]]
    lines += ["", f"Rule set before the fresh runs ended (the script's docstring): {verdict}."]
    lines += [
        "",
        "| group | setting | search seed | final seeds | val last full / preset | "
        "val best full / preset | test last full / preset | test at best val full / preset |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [f"{r[f'full_{c}']:.1f} / {r[f'preset_{c}']:.1f}" for c in COLUMNS]
        lines.append(
            f"| {r['dataset']} | {r['setting']} | {r['search_seed']}"
            f"{' (fresh)' if r['fresh'] else ''} | {r['seeds'][0]}-{r['seeds'][-1]} | "
            + " | ".join(cells)
            + " |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_docs:
        replace_section(
            ROOT / "docs" / "results.md",
            NAME,
            "## The swift preset against the full search, on validation (issues 10 and 11)\n\n"
            + text,
        )


if __name__ == "__main__":
    main()

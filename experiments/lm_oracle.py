"""The language-model targets against an oracle that never draws a contaminated sequence.

Run: .venv/bin/python experiments/lm_oracle.py [--jobs 2] [--seeds 1 2 3]

The targets of Table 11 ask SS(cgf) for a test perplexity at least 5% below uniform sampling's
at 20% and 40% contamination. This trains, on the same data, model, schedule and reported seeds
as experiments/lm.py, the two oracles that read the contamination mask (privileged: never a
method, a reference policy; not a proven bound, since never drawing junk need not be best):

* ``oracle``: only clean sequences from the first epoch on;
* ``oracle_es``: uniform for the shared start E_s, then only clean sequences: a perfect junk
  filter in the regime a searched sampler acts in (it takes over at E_s);
* the same filter from every other start epoch in ``--starts`` (uniform before it): when a
  perfect junk filter should act, and whether any start reaches the target.

Each is set beside uniform, drop-r% (r on validation) and SS(cgf) from results/lm/summary.json
and the L = 8 searches of results/lm-lipschitz/summary-t30.json (run those first). Writes
results/lm-oracle/summary.json and the section ``lm_oracle`` of docs/results.md. Every
training is a cached job of experiments/lm.py's (results/lm/runs/).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import lm
from _common import RESULTS, ROOT, mean_std, replace_section, run_jobs, write_json

NAME = "lm-oracle"
ORACLES = {
    "oracle": "Oracle * from epoch 0 (contamination mask)",
    "oracle_es": "Oracle * from E_s (contamination mask)",
}


def _reported(table: dict[str, Any], contamination: float, method: str) -> dict[str, Any] | None:
    """Table 11's row of ``method`` at ``contamination`` (None when it has none)."""
    return next(
        (
            r
            for r in table["rows"]
            if r["contamination"] == contamination and r["method"] == method
        ),
        None,
    )


def _policy(runs: list[dict[str, Any]], uniform_last: float) -> dict[str, Any]:
    """A reference policy's test perplexity over the seeds (it reads the contamination mask)."""
    last = mean_std(-r["last"] for r in runs)
    at_val = mean_std(-r["test_at_best_val"] for r in runs)
    return {
        "privileged": "noise_mask",
        "last_mean": last[0],
        "last_std": last[1],
        "at_best_val_mean": at_val[0],
        "at_best_val_std": at_val[1],
        "below_uniform_last": 1 - last[0] / uniform_last,
    }


def _versus(below: float) -> str:
    """``below`` (1 - ppl / uniform's) as words: "3.3% below uniform", "3.6% above uniform"."""
    return f"{100 * abs(below):.1f}% {'below' if below >= 0 else 'above'} uniform"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--trials", type=int, default=10, help="experiments/lm.py's --trials")
    parser.add_argument(
        "--starts", type=int, nargs="*", default=[1, 2, 4, 5], help="more oracle start epochs"
    )
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    config = lm.make_config(0.2, "cgf", args.trials, "full")
    shared, epochs = config.search.shared_epochs, config.train.epochs
    wrong = [k for k in args.starts if not 0 < k < epochs or k == shared]
    if wrong:
        parser.error(
            f"--starts {wrong}: each must be in [1, {epochs - 1}] and not E_s = {shared} "
            "(epoch 0 and E_s are the oracle and oracle_es columns)"
        )
    command = ("python experiments/lm_oracle.py " + " ".join(sys.argv[1:])).strip()
    table = json.loads((RESULTS / "lm" / "summary.json").read_text())
    if table["select_seed"] in args.seeds:
        parser.error(f"seed {table['select_seed']} is lm.py's selection seed: report others")
    sharp_path = RESULTS / "lm-lipschitz" / "summary-t30.json"
    sharp = json.loads(sharp_path.read_text()) if sharp_path.exists() else {"rows": []}
    settings = ["c40", "c20"]
    jobs = {
        (setting, method, seed): lm.train(setting, method, seed, args.trials, "full")
        for setting in settings
        for method in ORACLES
        for seed in args.seeds
    }
    sweep = {
        (setting, start, seed): lm.train(
            setting, "oracle", seed, args.trials, "full", oracle_start=start
        )
        for setting in settings
        for start in args.starts
        for seed in args.seeds
    }
    done = run_jobs([*jobs.values(), *sweep.values()], processes=args.jobs)
    rows = []
    for setting in settings:
        contamination = lm.SETTINGS[setting]

        uniform = _reported(table, contamination, "uniform")
        assert uniform is not None, f"results/lm/summary.json has no uniform row at {setting}"
        row: dict[str, Any] = {
            "setting": setting,
            "contamination": contamination,
            "seeds": list(args.seeds),
            "uniform_last": uniform["test_last_mean"],
            "uniform_at_best_val": uniform["test_at_best_val_mean"],
        }
        for method in ("drop_r_val", "ss_cgf"):
            found = _reported(table, contamination, method)
            row[f"{method}_last"] = None if found is None else found["test_last_mean"]
        l8 = next((r for r in sharp["rows"] if r["setting"] == setting), None)
        row["ss_cgf_L8_last"] = None if l8 is None else l8["test_last_L8_mean"]
        for method in ORACLES:
            runs = [done[jobs[setting, method, seed].key] for seed in args.seeds]
            row[method] = _policy(runs, row["uniform_last"])
        row["target_last"] = 0.95 * row["uniform_last"]
        # The filter's start epoch: 0 is `oracle`, E_s is `oracle_es`, the others the sweep.
        by_start = {0: row["oracle"], shared: row["oracle_es"]}
        for start in args.starts:
            runs = [done[sweep[setting, start, seed].key] for seed in args.seeds]
            by_start[start] = _policy(runs, row["uniform_last"])
        row["oracle_by_start"] = {str(k): by_start[k] for k in sorted(by_start)}
        rows.append(row)
    write_json(RESULTS / NAME / "summary.json", {"seeds": args.seeds, "rows": rows})

    def num(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    date = datetime.date.today().isoformat()
    lines = [
        f"Command: `{command}`. Date: {date}. Test perplexity on seeds {args.seeds} (mean ± std), "
        "last epoch / at the best-validation epoch; the other columns are the last-epoch means "
        "of Table 11 (L = 2) and of the L = 8 searches with 30 trials. The target is 5% below "
        "uniform.",
        "",
        "| contamination | uniform | target (-5%) | drop-r% (r on val) | SS(cgf) L = 2 | "
        "SS(cgf) L = 8 | " + " | ".join(ORACLES.values()) + " |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        cells = [
            f"{r[m]['last_mean']:.2f} ± {r[m]['last_std']:.2f} / "
            f"{r[m]['at_best_val_mean']:.2f} ({_versus(r[m]['below_uniform_last'])})"
            for m in ORACLES
        ]
        lines.append(
            f"| {100 * r['contamination']:.0f}% | {num(r['uniform_last'])} | "
            f"{num(r['target_last'])} | {num(r['drop_r_val_last'])} | {num(r['ss_cgf_last'])} | "
            f"{num(r['ss_cgf_L8_last'])} | " + " | ".join(cells) + " |"
        )
    starts = sorted(int(k) for k in rows[0]["oracle_by_start"])
    lines += [
        "",
        f"The same clean-only policy from other start epochs (uniform before; E_s = {shared}; "
        "the first column is `oracle`, the E_s column `oracle_es`), test perplexity at the "
        "last epoch, mean ± std over the seeds:",
        "",
        "| contamination | target | "
        + " | ".join(f"from epoch {k}{' (E_s)' if k == shared else ''}" for k in starts)
        + " |",
        "|---|---|" + "---|" * len(starts),
    ]
    for r in rows:
        cells = [
            f"{r['oracle_by_start'][str(k)]['last_mean']:.2f} ± "
            f"{r['oracle_by_start'][str(k)]['last_std']:.2f}"
            for k in starts
        ]
        lines.append(
            f"| {100 * r['contamination']:.0f}% | {num(r['target_last'])} | "
            + " | ".join(cells)
            + " |"
        )
    text = "\n".join(lines) + "\n"
    (RESULTS / NAME / "lm_oracle.md").write_text(text)
    print(text)
    if not args.no_docs:
        replace_section(
            ROOT / "docs" / "results.md",
            "lm_oracle",
            "### The language model against an oracle that reads the contamination mask\n\n"
            + text,
        )


if __name__ == "__main__":
    main()

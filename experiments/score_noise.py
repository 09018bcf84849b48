"""Part B calibration: is it the noisy labels that make the validation score a coarse judge?

Run: .venv/bin/python experiments/score_noise.py [--jobs 2] [--candidates 24]
                                                 [--datasets ...] [--settings ...]

Issue 10 ("search noise and plateaus") says 500 noisy validation labels judge a 1-point
difference by about 3 labels, and asks what would make the score a finer judge. Two sources of
noise are mixed in that score: the labels (a flipped validation label rewards the wrong
prediction) and the 500 inputs themselves. Because our noise is injected, the validation
split's clean labels are known to us (never to a user, and never to the library). This
calibration separates the two. On each noisy setting of the default protocol (E_s = 0.4 of the
schedule, the exact tail, cgf, L = 2, S = 4, the shared start of seed 0), ``--candidates``
samplers are fine-tuned from the shared start: uniform, every sampler an earlier search of the
same setting and family found (results/*/runs/search-*.json), and uniformly drawn thetas up to
the count. Each is scored on the validation split by

- ``top1``: Top-1 on the noisy labels (the search's score today);
- ``label_probability``: the mean softmax probability of the noisy label, a smoother score
  whose expectation under symmetric noise is affine in the mean probability of the true label;

and both are set against ``clean``, Top-1 on the clean labels of the same inputs. A score that
ranks like ``clean`` loses nothing to the label noise; whatever is left (the 500 inputs, the
draw) no label-side remedy can fix. The test split is never read.

Set before the runs: this is a measurement, not an ablation. If ``label_probability`` ranked
closer to ``clean`` than ``top1`` in every setting of both datasets, a ``search.score`` option
would be built and ablated with the full protocol; otherwise nothing changes.

Instance-dependent noise (``--settings inst40``, added 2026-12-02 and set before it ran). The
third set of experiments/outside.py found the default below Co-teaching under 40%
instance-dependent noise, and experiments/instance_gap.py put the whole gap in the flipped
labels its sampler keeps. Such a flip depends on the input, like a pair flip depends on the
class, so a flipped validation label may reward a sampler that keeps flipped training labels.
The same measurement on ``mnist5k:inst40`` and ``mnist1d:inst40`` says whether it does. The
reading, set before: if, on a dataset, ``top1``'s pick is 2 or more points of clean Top-1 below
the best candidate (the size of the pair-noise misses), the noisy labels mislead the search
there, as under pair noise; if it is within 0.5 points and its Spearman with ``clean`` is at
least 0.9, they do not, and the gap is in what the family and the search reach; in between,
neither is said. A measurement: nothing changes.

Writes results/score_noise/summary.json and the section ``score_noise`` of docs/results.md;
with settings outside Table 1 (``inst40``), results/score_noise/summary-<settings>.json and the
section ``score_noise-<settings>`` instead.
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

NAME = "score_noise"
SCORES = ("top1", "label_probability")
UNIFORM = [1.0, 0.5, 0.5, 0.5, 0.5] * 2


def found_thetas(dataset: str, noise_type: str, noise: float) -> list[dict[str, Any]]:
    """Every distinct theta earlier searches of this setting found with the default family
    (features loss and Er, cgf, L = 2, S = 4, clipped steps, snapshot features), in file
    order, each with the file it came from."""
    found: list[dict[str, Any]] = []
    for path in sorted(RESULTS.glob("*/runs/search-*.json")):
        saved = json.loads(path.read_text())
        spec, kw = saved.get("spec"), saved["job"]["kwargs"]
        if not spec or (kw.get("dataset"), kw.get("noise_type"), kw.get("noise")) != (
            dataset,
            noise_type,
            noise,
        ):
            continue
        family = (
            spec["features"],
            spec["transform"],
            spec["lipschitz"],
            spec["num_segments"],
            spec.get("increments", "clipped"),
            spec.get("history", 0.0),
        )
        if family != (["loss", "er"], "cgf", 2.0, 4, "clipped", 0.0):
            continue
        theta = [float(v) for v in spec["theta"]]
        if theta != UNIFORM and all(theta != f["theta"] for f in found):
            found.append({"theta": theta, "source": str(path.relative_to(RESULTS))})
    return found


def candidates(dataset: str, setting: str, count: int) -> list[dict[str, Any]]:
    """Uniform, the found thetas, then uniformly drawn ones (numpy seed 0) up to ``count``."""
    import numpy as np

    noise_type, noise = table1.NOISE_SETTINGS[setting]
    picked = [{"theta": UNIFORM, "source": "uniform"}]
    picked += found_thetas(dataset, noise_type, noise)[: count - 1]
    rng = np.random.default_rng(0)
    while len(picked) < count:
        picked.append({"theta": [float(v) for v in rng.random(10)], "source": "random"})
    return picked


def score_job(
    dataset: str, noise_type: str, noise: float, select_seed: int, thetas: list[list[float]]
) -> dict[str, Any]:
    """Fine-tunes every theta from the default protocol's shared start of ``select_seed`` and
    returns, per theta, ``top1`` and ``label_probability`` on the noisy validation labels and
    ``clean`` (Top-1 on the same inputs' clean labels), after the last fine-tune epoch."""
    import time

    import numpy as np
    import torch

    from swift_sampler.search.objective import InnerLoop
    from swift_sampler.search.setup import build_experiment, template_spec

    t0 = time.perf_counter()
    config = early_start.make_config(dataset, noise_type, noise, 0.4, 20, select_seed)
    experiment = build_experiment(config)
    trainer = experiment.trainer
    clean = np.asarray(experiment.data.val_clean_labels)  # type: ignore[union-attr]
    shared, finetune = config.epochs_split
    inner = InnerLoop(
        trainer,
        shared_epochs=shared,
        finetune_epochs=finetune,
        schedule="tail",
        seed=select_seed,
    )
    inner.train_shared_start(None)
    rows: list[dict[str, float]] = []
    scored: dict[str, float] = {}
    plain_score = trainer.score

    def score(state: Any, split: str) -> float:
        """The trainer's own score, noting the three measures of the model it scores."""
        logits, labels = trainer.predict(state, trainer.val)  # type: ignore[attr-defined]
        p = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
        n = np.arange(len(labels))
        scored.update(
            top1=float((p.argmax(1) == labels).mean()),
            label_probability=float(p[n, labels].mean()),
            clean=float((p.argmax(1) == clean).mean()),
        )
        return plain_score(state, split)

    trainer.score = score  # type: ignore[method-assign]
    agree = None
    for theta in thetas:
        result = inner.evaluate(template_spec(config).with_theta(np.asarray(theta)))
        if result.diverged:
            scored.update(top1=0.0, label_probability=0.0, clean=0.0)
        if abs(scored["top1"] - result.score) > 1e-9:
            raise RuntimeError(f"scored {scored['top1']} here, {result.score} by the trainer")
        rows.append(dict(scored))
        if agree is None:
            _, labels = trainer.predict(inner.shared_state(), trainer.val)  # type: ignore[attr-defined]
            agree = float((np.asarray(labels) == clean).mean())
    return {
        "rows": rows,
        "val_labels_clean": agree,
        "val_size": len(clean),
        "seconds": time.perf_counter() - t0,
    }


def _spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def summarise_setting(
    dataset: str, setting: str, picked: list[dict[str, Any]], done: dict[str, Any]
) -> dict[str, Any]:
    """The row of one setting: each score's Spearman with ``clean`` and its pick's ``clean``."""
    rows = done["rows"]
    clean = [r["clean"] for r in rows]
    row: dict[str, Any] = {
        "dataset": dataset,
        "setting": setting,
        "candidates": len(rows),
        "found": sum(p["source"] not in ("uniform", "random") for p in picked),
        "val_size": done["val_size"],
        "val_labels_clean": done["val_labels_clean"],
        "best_clean": max(clean),
        "uniform_clean": clean[0],
    }
    for name in SCORES:
        values = [r[name] for r in rows]
        pick = max(range(len(rows)), key=lambda i: (values[i], -i))  # earlier on ties
        row[name] = {
            "spearman_with_clean": _spearman(values, clean),
            "pick": pick,
            "pick_clean": clean[pick],
        }
    return row


def markdown(summary: dict[str, Any], command: str, where: str = "") -> str:
    """The section's text; ``where`` names settings outside Table 1 in its title."""
    lines = [
        "## Is it the noisy labels? The validation score against the same inputs' clean labels "
        f"{where}(Part B calibration)",
        "",
        f"Command: `{command}`. Date: {summary['date']}. The default protocol's shared start "
        f"(seed {summary['select_seed']}); {summary['count']} samplers per setting (uniform, the "
        "samplers earlier searches of the setting found with the default family, uniformly "
        "drawn thetas), each fine-tuned over the exact tail and scored on the validation split. "
        "top1: Top-1 on the noisy labels (the search's score); label probability: the mean "
        "softmax probability of the noisy label; clean: Top-1 on the clean labels of the same "
        "inputs (known here because the noise is injected; never read by the library). "
        "rho: Spearman correlation with clean over the samplers; pick: clean Top-1 (%) of the "
        "sampler the score ranks first. The test split is not read.",
        "",
        "| dataset | setting | val labels clean | samplers (found) | rho top1 / label prob. "
        "| pick top1 / label prob. | best clean | uniform clean |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["rows"]:
        t, p = r["top1"], r["label_probability"]
        lines.append(
            f"| {r['dataset']} | {r['setting']} | {100 * r['val_labels_clean']:.0f}% of "
            f"{r['val_size']} | {r['candidates']} ({r['found']}) "
            f"| {t['spearman_with_clean']:.2f} / {p['spearman_with_clean']:.2f} "
            f"| {100 * t['pick_clean']:.1f} / {100 * p['pick_clean']:.1f} "
            f"| {100 * r['best_clean']:.1f} | {100 * r['uniform_clean']:.1f} |"
        )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = early_start.protocol_parser(
        __doc__ or "", ["mnist5k", "mnist1d"], table1.NOISE_SETTINGS
    )
    parser.set_defaults(settings=["sym40", "sym20", "pair40"])
    parser.add_argument("--candidates", type=int, default=24)
    args = parser.parse_args()
    if args.candidates < 3:
        parser.error(f"--candidates must be at least 3 to rank, got {args.candidates}")
    if "sym0" in args.settings:
        parser.error("--settings sym0: without noise the noisy and clean labels are the same")
    outside = [s for s in args.settings if s not in table1.SETTINGS]
    if outside and len(outside) < len(args.settings):
        parser.error(
            f"--settings: {' '.join(outside)} (outside Table 1) and Table 1's settings are "
            "written to different files: run them separately"
        )
    command = ("python experiments/score_noise.py " + " ".join(sys.argv[1:])).strip()
    pairs = early_start.setting_pairs(args)
    picked = {p: candidates(*p, args.candidates) for p in pairs}
    jobs = {
        p: Job(
            NAME,
            f"score-{p[0]}-{p[1]}",
            score_job,
            {
                "dataset": p[0],
                "noise_type": table1.NOISE_SETTINGS[p[1]][0],
                "noise": table1.NOISE_SETTINGS[p[1]][1],
                "select_seed": args.select_seed,
                "thetas": [c["theta"] for c in picked[p]],
            },
        )
        for p in pairs
    }
    done = run_jobs(list(jobs.values()), processes=args.jobs)
    summary = {
        "experiment": NAME,
        "date": datetime.date.today().isoformat(),
        "command": command,
        "select_seed": args.select_seed,
        "count": args.candidates,
        "privileged": "clean validation labels, for the measurement only",
        "rows": [summarise_setting(*p, picked[p], done[jobs[p].key]) for p in pairs],
        "candidates": {f"{p[0]}-{p[1]}": picked[p] for p in pairs},
    }
    # Settings outside Table 1 are files and a section of their own beside Table 1's.
    tag = "-" + "+".join(outside) if outside else ""
    where = "under instance-dependent noise " if outside else ""
    text = markdown(summary, command, where)
    write_json(RESULTS / NAME / f"summary{tag}.json", summary)
    if not args.no_docs:
        replace_section(ROOT / "docs" / "results.md", NAME + tag, text)
    print(text)


if __name__ == "__main__":
    main()

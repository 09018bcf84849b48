"""Figure 1 at small scale: where the noisy instances lie and where SS puts its probability.

Run: .venv/bin/python experiments/figure1.py [--jobs 2] [--folds 4] [--dataset mnist5k]

MNIST-5k, 40% symmetric noise, the small CNN (Table 1's headline setting). The sampler is the
SS(cgf) sampler Table 1 searched for this setting under its late protocol (the same cached job:
running ``table1.py --protocol late`` first makes this command reuse its search). At the shared
start (E_s = 15 uniform epochs, seed 0) every training instance gets its loss and Er ranks
(empirical cdf) and the sampler's probability; the figure shows the injected noisy instances'
density over the (loss rank, Er rank) plane beside the sampling probability over the same plane.

SS as a noisy-label detector: an instance is flagged when its probability is under a tenth of
uniform (p < 0.1 / n). Precision = flagged and noisy / flagged, recall = flagged and noisy /
noisy. External reference: cleanlab's ``find_label_issues`` on out-of-fold predicted
probabilities (``--folds`` stratified folds of the noisy training set, the same CNN and 20-epoch
recipe trained on the other folds, seed 0). Neither uses the test split or the noise mask
except to score the detection.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import table1
from _common import RESULTS, ROOT, Job, replace_section, run_jobs, write_json, write_text_atomic

NAME = "figure1"
SETTING = "sym40"


def arrays_job(dataset: str, noise_type: str, noise: float, trials: int, spec: dict) -> dict:
    """The shared start's per-instance ranks and the sampler's probabilities."""
    from swift_sampler.family import SamplerSpec
    from swift_sampler.search.setup import build_inner_loop

    config = table1.make_config(dataset, noise_type, noise, "cgf", trials)
    experiment = table1._experiment(config, "val")
    inner = build_inner_loop(config, experiment.trainer)
    inner.train_shared_start(None)
    arrays = inner.figure1(SamplerSpec.from_dict(spec), experiment.noise_mask)
    return {k: [round(float(v), 7) for v in arrays[k]] for k in arrays}


def fold_job(
    dataset: str, noise_type: str, noise: float, trials: int, folds: int, fold: int
) -> dict[str, Any]:
    """Out-of-fold predicted probabilities of one fold (model trained on the others)."""
    import numpy as np
    import torch
    from sklearn.model_selection import StratifiedKFold
    from torch.utils.data import Subset

    from swift_sampler.train import ClassificationTrainer

    config = table1.make_config(dataset, noise_type, noise, "cgf", trials)
    experiment = table1._experiment(config, "val")
    base = experiment.trainer
    labels = experiment.data.train.tensors[1].numpy()
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0).split(labels, labels)
    train_rows, held_rows = list(splits)[fold]
    trainer = ClassificationTrainer(
        base.model_fn,
        Subset(base.train, train_rows.tolist()),
        base.val,
        config=base.config,
        seed=0,
    )
    state = trainer.new_state(0)
    for _ in range(trainer.total_epochs):
        trainer.train_epoch(state)
    logits, _ = trainer.predict(state, Subset(base.train, held_rows.tolist()))
    probs = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    return {"rows": held_rows.tolist(), "probs": np.round(probs, 7).tolist()}


def detection(flagged: Any, noisy: Any) -> dict[str, float]:
    import numpy as np

    flagged, noisy = np.asarray(flagged, bool), np.asarray(noisy, bool)
    caught = int((flagged & noisy).sum())
    return {
        "flagged": int(flagged.sum()),
        "noisy": int(noisy.sum()),
        "caught": caught,
        "precision": caught / flagged.sum() if flagged.sum() else 0.0,
        "recall": caught / noisy.sum() if noisy.sum() else 0.0,
    }


def main() -> None:
    import numpy as np

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--dataset", default="mnist5k", choices=list(table1.DATASETS))
    parser.add_argument("--no-docs", action="store_true")
    args = parser.parse_args()
    noise_type, noise = table1.SETTINGS[SETTING]
    base = {"dataset": args.dataset, "noise_type": noise_type, "noise": noise}
    search = table1.search(args.dataset, SETTING, "ss_cgf", args.trials)
    jobs = [search]
    for fold in range(args.folds):
        kw = {**base, "trials": args.trials, "folds": args.folds, "fold": fold}
        jobs.append(Job(NAME, f"fold-{args.dataset}-{SETTING}-{fold}of{args.folds}", fold_job, kw))
    done = run_jobs(jobs, processes=args.jobs)
    spec = done[search.key]["spec"]
    key = f"arrays-{args.dataset}-{SETTING}"
    kw = {**base, "trials": args.trials, "spec": spec}
    arrays = run_jobs([Job(NAME, key, arrays_job, kw)], processes=1)[key]

    from cleanlab.filter import find_label_issues

    from swift_sampler.data import load_dataset
    from swift_sampler.report import figure1_data, plot_figure1

    config = table1.make_config(args.dataset, noise_type, noise, "cgf", args.trials)
    d = config.data
    data = load_dataset(
        d.name, noise_rate=d.noise_rate, noise_type=d.noise_type, seed=d.seed,
        val_fraction=d.val_fraction, test_fraction=d.test_fraction, cache_dir=d.cache_dir,
    )  # fmt: skip
    noisy = np.asarray(arrays["noisy"], bool)
    labels = data.train.tensors[1].numpy()
    n = labels.size
    pred = np.zeros((n, data.num_classes))
    for fold in range(args.folds):
        part = done[f"fold-{args.dataset}-{SETTING}-{fold}of{args.folds}"]
        pred[part["rows"]] = part["probs"]
    issues = find_label_issues(labels, pred)
    probability = np.asarray(arrays["probability"])
    ss = detection(probability < 0.1 / n, noisy)
    cl = detection(issues, noisy)
    oof_accuracy = float((pred.argmax(1) == np.asarray(data.train_clean_labels)).mean())
    fig = figure1_data(arrays["loss_rank"], arrays["er_rank"], probability, noisy)
    out = RESULTS / NAME
    plot_figure1(
        fig,
        out / "figure1.png",
        title=f"{args.dataset}, {noise:.0%} {noise_type} noise: SS(cgf) at the shared start",
    )
    summary = {
        "dataset": args.dataset,
        "noise_type": noise_type,
        "noise": noise,
        "theta": spec["theta"],
        "noisy_mass": fig.noisy_mass,
        "ss_detector": ss,
        "cleanlab": {**cl, "folds": args.folds, "out_of_fold_accuracy_vs_true": oof_accuracy},
    }
    write_json(out / "summary.json", summary)
    command = ("python experiments/figure1.py " + " ".join(sys.argv[1:])).strip()
    text = "\n".join(
        [
            f"Command: `{command}`. Date: {datetime.date.today().isoformat()}. "
            f"{args.dataset}, {noise:.0%} {noise_type} noise, model {config.model.name}, "
            "data/noise/search seed 0; the SS(cgf) sampler of Table 1's late-protocol search; "
            "ranks at the "
            f"shared start (E_s = {config.search.shared_epochs}).",
            "",
            f"![Figure 1]({_relative(out / 'figure1.png')})",
            "",
            f"Sampling mass on the {noise:.0%} noisy instances: {100 * fig.noisy_mass:.1f}%.",
            "",
            "| detector | flagged | caught (noisy) | precision | recall |",
            "|---|---|---|---|---|",
            f"| SS(cgf), p < 0.1 / n | {ss['flagged']} | {ss['caught']} of {ss['noisy']} | "
            f"{ss['precision']:.3f} | {ss['recall']:.3f} |",
            f"| cleanlab `find_label_issues`, {args.folds}-fold out-of-fold probabilities | "
            f"{cl['flagged']} | {cl['caught']} of {cl['noisy']} | {cl['precision']:.3f} | "
            f"{cl['recall']:.3f} |",
            "",
            f"(cleanlab's out-of-fold models reach {100 * oof_accuracy:.1f}% accuracy against "
            "the true training labels.)",
        ]
    )
    write_text_atomic(out / "figure1.md", text + "\n")
    print(text)
    if not args.no_docs:
        replace_section(ROOT / "docs" / "results.md", "figure1", "## Figure 1\n\n" + text)


def _relative(path: Path) -> str:
    try:
        return "../" + str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


if __name__ == "__main__":
    main()

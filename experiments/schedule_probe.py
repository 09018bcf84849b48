"""Does the inner loop's score see what a sampler does against label noise?

Run: .venv/bin/python experiments/schedule_probe.py [--jobs 2]

For several (E_s, E_o, schedule) settings on the demo's data (MNIST-5k, 40% symmetric noise,
small CNN, 20-epoch schedule, seed 0), scores two samplers exactly as the search does
(``InnerLoop``): uniform, and a hand-set loss/Er sampler that zeroes the top quarter of losses
and the bottom quarter of Er (cdf, L = 4). Prints validation Top-1 (the search's score, noisy
labels) and test Top-1 (clean) after the fine-tune. One torch thread per process; ``--jobs``
processes in parallel.
"""

from __future__ import annotations

import argparse
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

SETTINGS = [
    (5, 3, "compressed"),
    (5, 6, "compressed"),
    (5, 10, "compressed"),
    (5, 15, "tail"),
    (10, 10, "tail"),
    (15, 5, "tail"),
]
HAND_SET = [1.0, 0.5, 0.5, 0.0, 0.5, 0.0, 1.0, 0.5, 0.5, 0.5]


def probe(setting: tuple[int, int, str]) -> list[tuple[str, float, float, float]]:
    import time

    import torch

    from swift_sampler.demo import demo_config
    from swift_sampler.family import SamplerSpec
    from swift_sampler.sampler import SwiftSampler
    from swift_sampler.search.objective import InnerLoop
    from swift_sampler.search.setup import build_experiment, template_spec

    torch.set_num_threads(1)
    shared, finetune, schedule = setting
    experiment = build_experiment(demo_config())
    trainer = experiment.trainer
    inner = InnerLoop(
        trainer, shared_epochs=shared, finetune_epochs=finetune, schedule=schedule, seed=0
    )  # type: ignore[arg-type]
    with tempfile.TemporaryDirectory() as tmp:
        inner.train_shared_start(Path(tmp) / "shared.pt")
    specs = {
        "uniform": template_spec(demo_config()),
        "hand-set": SamplerSpec(transform="cdf", lipschitz=4.0, theta=HAND_SET),
    }
    rows = []
    for name, spec in specs.items():
        start = time.perf_counter()
        state = inner.shared_state()
        sampler = None
        for window in inner.windows():
            features = trainer.features(state, spec.columns)
            if sampler is None:
                sampler = SwiftSampler.from_spec(spec, features, seed=0)
            else:
                sampler.update(features)
            trainer.train_epoch(state, sampler, schedule_window=window)
        rows.append(
            (
                name,
                trainer.score(state, "val"),
                trainer.score(state, "test"),
                time.perf_counter() - start,
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    print("| E_s | E_o | schedule | sampler | val Top-1 (noisy) | test Top-1 | seconds |")
    print("|---|---|---|---|---|---|---|")
    with ProcessPoolExecutor(args.jobs) as pool:
        for setting, rows in zip(SETTINGS, pool.map(probe, SETTINGS), strict=True):
            for name, val, test, seconds in rows:
                print(
                    f"| {setting[0]} | {setting[1]} | {setting[2]} | {name} | "
                    f"{100 * val:.1f}% | {100 * test:.1f}% | {seconds:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

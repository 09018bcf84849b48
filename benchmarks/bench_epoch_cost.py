"""A fine-tune epoch under SwiftSampler against a uniform epoch, interleaved in one process.

Run: .venv/bin/python benchmarks/bench_epoch_cost.py [--config configs/demo.toml] [--repeats 5]

Issue 11 reported the demo's fine-tune epochs at 0.93 s against 0.69 s for uniform ones (target:
at most 1.05x). This measures the two on the same shared state, alternating, so that machine
load hits both alike: each repeat scores one random candidate theta with the inner loop
(fine-tune epochs timed apart from its feature passes) and trains one uniform epoch from the
same shared start. Prints the medians and their ratio.

With ``--search`` it instead runs the config's whole search in a temporary directory and
prints, from the search's own cost record, seconds per fine-tune epoch (every trial and
continuation) against the uniform shared start's epochs in three ways: its mean wall seconds
per epoch, its median epoch (the cost unit: ``cost.finetune_epochs / finetune_epochs_run``, the
ratio docs/benchmarks.md quotes from earlier searches' result.json files) and CPU seconds per
epoch. Run it alone on the machine: another job slows the fine-tunes and the shared start by
different amounts.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "demo.toml")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--finetune", type=int, default=3, help="fine-tune epochs per repeat")
    parser.add_argument(
        "--search", action="store_true", help="time the config's whole search instead"
    )
    args = parser.parse_args()
    if args.search:
        search_epochs(args.config, args.threads)
        return

    import numpy as np
    import torch

    from swift_sampler import SamplerSpec
    from swift_sampler.config import load_config
    from swift_sampler.search.objective import InnerLoop
    from swift_sampler.search.setup import build_experiment

    torch.set_num_threads(args.threads)
    config = load_config(args.config)
    trainer = build_experiment(config).trainer
    inner = InnerLoop(trainer, shared_epochs=2, finetune_epochs=args.finetune, schedule="tail")
    inner.train_shared_start(None)
    swift, uniform, features = [], [], []
    for k in range(args.repeats):
        spec = SamplerSpec(
            features=config.sampler.features,
            transform=config.sampler.transform,
            theta=np.random.default_rng(k).random(config.sampler.num_params),
        )
        score = inner.evaluate(spec)
        swift.append(score.train_seconds / score.epochs)
        features.append(score.feature_seconds / score.epochs)
        state = inner.shared_state()
        start = time.perf_counter()
        trainer.train_epoch(state)
        uniform.append(time.perf_counter() - start)
    s, u = statistics.median(swift), statistics.median(uniform)
    print(f"{args.config.name}: {args.repeats} repeats, {args.threads} torch thread(s)")
    print(f"fine-tune epoch under SwiftSampler: median {s:.3f} s {[round(x, 3) for x in swift]}")
    print(f"uniform epoch, same shared start:   median {u:.3f} s {[round(x, 3) for x in uniform]}")
    print(
        f"ratio {s / u:.3f} (target <= 1.05); "
        f"feature pass median {statistics.median(features):.3f} s"
    )


def search_epochs(path: Path, threads: int) -> None:
    """Runs the config's search in a temporary directory; prints its fine-tune seconds per epoch
    against its shared start's (uniform) seconds per epoch."""
    import tempfile

    import torch

    from swift_sampler.config import load_config
    from swift_sampler.search.driver import run_search

    torch.set_num_threads(threads)
    config = load_config(path)
    with tempfile.TemporaryDirectory() as tmp:
        cost = run_search(config, Path(tmp) / "run").cost
    runs = cost["finetune_epochs_run"]
    finetune = cost["finetune_s"] / runs
    shared = cost["shared_start_s"] / cost["shared_epochs_run"]
    shared_cpu = cost["shared_start_cpu_s"] / cost["shared_epochs_run"]
    cpu = (cost["finetune_cpu_s"] / runs) / shared_cpu
    print(f"{path.name}: the whole search, {threads} torch thread(s)")
    print(f"fine-tune epochs: {runs:.0f} in {cost['finetune_s']:.2f} s, {finetune:.4f} s each")
    print(
        f"shared start (uniform): {cost['shared_epochs_run']:.0f} in "
        f"{cost['shared_start_s']:.2f} s, {shared:.4f} s each (median {cost['epoch_s']:.4f} s)"
    )
    print(
        f"ratio to its mean epoch {finetune / shared:.3f}, to its median epoch (the cost unit) "
        f"{cost['finetune_epochs'] / runs:.3f}, in CPU seconds {cpu:.3f} (target <= 1.05)"
    )


if __name__ == "__main__":
    main()

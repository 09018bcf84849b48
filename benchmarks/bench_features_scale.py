"""The feature pass at 1e7 instances: peak memory and time against a plain forward pass.

Run: .venv/bin/python benchmarks/bench_features_scale.py [--n 10000000] [--batch 65536]

Synthetic data (``(n, 16)`` float32 inputs, 10 classes) and a tiny model (16 -> 32 -> 10 MLP),
one torch thread. Each mode runs in its own process so that its peak resident memory can be
read (``ru_maxrss``) and compared with the resident memory after the data was made:

* ``plain``: ``model(x)`` over contiguous batches, outputs discarded;
* ``features``: ``extract_features(..., names=("loss", "er", "grad_norm"))`` writing into a
  preallocated memory-mapped ``(n, 3)`` float32 table (``numpy.lib.format.open_memmap``);
* ``logits``: what the pass avoids: keeping all ``(n, 10)`` logits before computing features.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def run_mode(mode: str, n: int, batch: int) -> dict[str, float]:
    import numpy as np
    import torch
    from torch import nn
    from torch.utils.data import TensorDataset

    from swift_sampler import extract_features
    from swift_sampler.features import compute_features

    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(n, 16, generator=generator)
    y = torch.randint(0, 10, (n,), generator=generator)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10)).eval()
    base = _rss_mb()
    start = time.perf_counter()
    if mode == "plain":
        with torch.inference_mode():
            for i in range(0, n, batch):
                model(x[i : i + batch])
    elif mode == "features":
        with tempfile.TemporaryDirectory() as tmp:
            out = np.lib.format.open_memmap(
                Path(tmp) / "features.npy", mode="w+", dtype=np.float32, shape=(n, 3)
            )
            extract_features(
                model,
                TensorDataset(x, y),
                names=("loss", "er", "grad_norm"),
                batch_size=batch,
                out=out,
            )
            out.flush()
    else:
        with torch.inference_mode():
            logits = torch.cat([model(x[i : i + batch]) for i in range(0, n, batch)])
            compute_features(logits, y, ("loss", "er", "grad_norm"))
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "base_mb": base, "peak_mb": peak, "extra_mb": peak - base}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--batch", type=int, default=65536)
    parser.add_argument("--mode", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode is not None:
        print(json.dumps(run_mode(args.mode, args.n, args.batch)))
        return
    results = {}
    for mode in ("plain", "features", "logits"):
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--mode",
                mode,
                "--n",
                str(args.n),
                "--batch",
                str(args.batch),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    n = args.n
    print(f"n = {n:.0e}, batch {args.batch}, MLP 16-32-10, one thread")
    for mode, r in results.items():
        print(
            f"{mode:9s} {r['seconds']:7.2f} s   peak RSS beyond the data "
            f"{r['extra_mb']:8.1f} MB = {r['extra_mb'] * 2**20 / n:5.1f} bytes/instance"
        )
    ratio = results["features"]["seconds"] / results["plain"]["seconds"]
    print(f"feature pass / plain pass: {ratio:.2f}x time")


if __name__ == "__main__":
    main()

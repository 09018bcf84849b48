"""Drawing indices: swift_sampler.draw vs torch's WeightedRandomSampler, side by side.

Run: .venv/bin/python benchmarks/bench_draw.py [--n 10000000] [--big 100000000] [--repeats 3]
     .venv/bin/python benchmarks/bench_draw.py --fallback-only [--fallback-n 50000 1000000]
     .venv/bin/python benchmarks/bench_draw.py --stratified-only [--stratified-n 50000 10000000]

Measures, in one process and one run:
1. iterating a sampler over 1e7 indices drawn with replacement from 1e7 probabilities:
   SwiftSampler vs WeightedRandomSampler (both yield Python ints through ``tolist``), and the
   raw array draw (``draw_indices``) vs ``torch.multinomial`` under WeightedRandomSampler;
2. n = 1e8 with replacement (WeightedRandomSampler refuses more than 2^24 categories): time
   and the extra peak memory beyond the input probabilities and the returned indices, traced
   with tracemalloc (numpy reports its allocations to it);
3. without replacement at n = 1e7 vs torch.multinomial(replacement=False);
4. the compiled alias table (``_draw.c``) against its NumPy fallback (``_alias_numpy``, what an
   installation without a C compiler runs), side by side on the same weights: the table build,
   n draws from it, and both together (``draw_indices``, what a sampler's first epoch costs).
   Both give the same indices; the script checks that too.
5. a stratified draw (``sampler.draw = "stratified"``: systematic resampling) against the i.i.d.
   alias draw, side by side on the same weights: n indices from n instances, per epoch as a
   sampler pays it (the alias table built anew, as after every ``update``).
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc

import numpy as np
import torch
from torch.utils.data import WeightedRandomSampler

from swift_sampler import SwiftSampler, _alias_numpy, draw_indices
from swift_sampler import draw as draw_module
from swift_sampler.draw import AliasTable


def _time(fn, repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000_000)
    parser.add_argument("--big", type=int, default=100_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--fallback-n", type=int, nargs="+", default=[50_000, 1_000_000])
    parser.add_argument("--fallback-only", action="store_true", help="run part 4 only")
    parser.add_argument("--stratified-n", type=int, nargs="+", default=[50_000, 10_000_000])
    parser.add_argument("--stratified-only", action="store_true", help="run part 5 only")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.stratified_only:
        for n in args.stratified_n:
            compare_stratified(n, args.repeats)
        return
    if not args.fallback_only:
        compare_with_torch(args.n, args.repeats)  # its arrays are freed before the big run
        big_draw(args.big)
    for n in args.fallback_n:
        compare_fallback(n, args.repeats)
    if not args.fallback_only:
        for n in args.stratified_n:
            compare_stratified(n, args.repeats)


def compare_stratified(n: int, repeats: int) -> None:
    """Part 5: a stratified epoch against an i.i.d. one (table built, then drawn)."""
    weights = np.random.default_rng(2).random(n)
    print(f"# stratified against i.i.d. draws: {n:.0e} indices from {n:.0e} probabilities")
    rows = {}
    for _ in range(repeats):  # interleaved, so a busy moment hits both
        for name, stratified in (("iid (alias table)", False), ("stratified", True)):
            start = time.perf_counter()
            draw_indices(weights, n, seed=0, stratified=stratified)
            rows.setdefault(name, []).append(time.perf_counter() - start)
    for name, times in rows.items():
        print(f"{name:20s} median {statistics.median(times):8.4f} s")
    ratio = statistics.median(rows["stratified"]) / statistics.median(rows["iid (alias table)"])
    print(f"stratified / iid: {ratio:.1f}x")


def compare_with_torch(n: int, repeats: int) -> None:
    weights = np.random.default_rng(0).random(n)
    weights_t = torch.from_numpy(weights)

    print(f"# drawing {n:.0e} indices with replacement from {n:.0e} probabilities")
    wrs = WeightedRandomSampler(weights_t, n, generator=torch.Generator().manual_seed(0))
    warm = SwiftSampler(weights, n, seed=0)
    list(warm)  # builds the alias table that later epochs reuse
    rows = {}
    for name, fn in [
        ("WeightedRandomSampler: list(iter)", lambda: list(wrs)),
        ("draw_indices (array, table built)", lambda: draw_indices(weights, n, seed=0)),
        ("SwiftSampler: list(iter), 1st epoch", lambda: list(SwiftSampler(weights, n, seed=0))),
        ("SwiftSampler: list(iter), next epochs", lambda: list(warm)),
        ("torch.multinomial (array)", lambda: torch.multinomial(weights_t, n, True)),
    ]:
        median, times = _time(fn, repeats)
        rows[name] = median
        print(f"{name:40s} median {median:7.3f} s  ({', '.join(f'{t:.3f}' for t in times)})")
    base = rows["WeightedRandomSampler: list(iter)"]
    for name in list(rows)[1:4]:
        print(f"speed-up vs iterating WeightedRandomSampler, {name}: {base / rows[name]:.1f}x")
    print(
        "speed-up, arrays (torch.multinomial / draw_indices): "
        f"{rows['torch.multinomial (array)'] / rows['draw_indices (array, table built)']:.1f}x"
    )

    print(f"\n# without replacement, {n:.0e} of {n:.0e}")
    k = n
    t_torch, _ = _time(lambda: torch.multinomial(weights_t, k, False), 1)
    t_ours, _ = _time(lambda: draw_indices(weights, k, replacement=False, seed=0), 1)
    print(f"torch.multinomial(replacement=False)   {t_torch:7.3f} s")
    print(f"draw_indices(replacement=False)        {t_ours:7.3f} s  ({t_torch / t_ours:.1f}x)")


def big_draw(big: int) -> None:
    print(f"\n# n = {big:.0e}, with replacement")
    try:
        torch.multinomial(torch.ones(2**24 + 1, dtype=torch.float64), 1, True)
        print("torch.multinomial accepted 2^24 + 1 categories")
    except RuntimeError as err:
        print(f"torch.multinomial / WeightedRandomSampler at 2^24 + 1: RuntimeError: {err}")
    p = np.random.default_rng(1).random(big)
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    start = time.perf_counter()
    table = AliasTable(p)
    built = time.perf_counter()
    _, build_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    indices = table.draw(big, seed=0)
    seconds = time.perf_counter() - start
    _, draw_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Extra = what is held beyond the probabilities (allocated before `base`) and the indices.
    extra = max(build_peak - base, draw_peak - base - indices.nbytes)
    print(
        f"draw_indices n = {big:.0e}: {seconds:.2f} s "
        f"(alias build {built - start:.2f} s, draw {seconds - (built - start):.2f} s)"
    )
    print(
        f"extra peak memory beyond probabilities ({p.nbytes / 1e9:.1f} GB) and indices "
        f"({indices.nbytes / 1e9:.1f} GB): {extra / 1e9:.2f} GB = {extra / big:.1f} bytes/instance"
    )


def compare_fallback(n: int, repeats: int) -> None:
    """C extension vs NumPy fallback on the same weights, repeats interleaved (noisy machine)."""
    from swift_sampler import _draw

    weights = np.random.default_rng(2).random(n)
    print(f"\n# alias table, C extension vs NumPy fallback, n = {n:.0e}, {n:.0e} draws")
    backends = {"C": _draw, "NumPy": _alias_numpy}
    draws: dict[str, np.ndarray] = {}
    times: dict[tuple[str, str], list[float]] = {}
    for _ in range(repeats):
        for name, backend in backends.items():
            draw_module._backend = backend  # what draw.py picks when _draw does not import
            start = time.perf_counter()
            table = AliasTable(weights)
            built = time.perf_counter()
            draws[name] = table.draw(n, seed=0)
            done = time.perf_counter()
            times.setdefault((name, "build"), []).append(built - start)
            times.setdefault((name, "draw"), []).append(done - built)
            times.setdefault((name, "both"), []).append(done - start)
    draw_module._backend = _draw
    same = bool(np.array_equal(draws["C"], draws["NumPy"]))
    for part in ("build", "draw", "both"):
        c = statistics.median(times[("C", part)])
        fallback = statistics.median(times[("NumPy", part)])
        print(f"{part:6s} C {c:8.4f} s   NumPy {fallback:8.4f} s   ratio {fallback / c:5.1f}x")
    print(f"same indices: {same}")
    if not same:
        raise SystemExit("the NumPy fallback drew other indices than the C extension")


if __name__ == "__main__":
    main()

from __future__ import annotations

import re
import subprocess
import sys
from types import ModuleType

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import stats

from swift_sampler import _alias_numpy
from swift_sampler import draw as draw_module
from swift_sampler.draw import (
    _NARROW,
    _WIDE,
    AliasTable,
    _seed_words,
    check_probabilities,
    draw_global,
    draw_indices,
    per_rank_count,
)
from swift_sampler.errors import InputDataError
from swift_sampler.sampler import SwiftSampler

SKEWED = np.array([1e-3, 1.0, 100.0, 0.0, 5.0, 0.25, 3.0])


def _chi2_pvalue(indices: np.ndarray, p: np.ndarray) -> float:
    counts = np.bincount(indices, minlength=p.size)
    expected = p / p.sum() * indices.size
    keep = expected > 0
    assert counts[~keep].sum() == 0, "an instance with zero probability was drawn"
    return float(stats.chisquare(counts[keep], expected[keep]).pvalue)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_with_replacement_matches_probabilities(seed: int) -> None:
    p = np.random.default_rng(100 + seed).random(50) ** 3
    indices = draw_global(p, 200_000, seed=seed)
    assert indices.dtype == np.int64 and indices.shape == (200_000,)
    assert _chi2_pvalue(indices, p) > 1e-4


def test_with_replacement_skewed_weights_and_zeros() -> None:
    indices = draw_global(SKEWED, 500_000, seed=7)
    assert _chi2_pvalue(indices, SKEWED) > 1e-4
    # The tiny weight is drawn about 500_000 * 1e-3 / 109.25 = 4.6 times, not 0 and not 100s.
    assert 0 < np.count_nonzero(indices == 0) < 20


def test_float32_and_float64_weights_give_the_same_draw() -> None:
    p64 = np.array([0.5, 0.25, 0.125, 0.125])  # exactly representable in float32
    a = draw_global(p64, 1000, seed=3, epoch=2)
    b = draw_global(p64.astype(np.float32), 1000, seed=3, epoch=2)
    np.testing.assert_array_equal(a, b)


def test_uniform_weights_draw_uniformly() -> None:
    indices = draw_global(np.ones(1000), 300_000, seed=11)
    assert _chi2_pvalue(indices, np.ones(1000)) > 1e-4


def test_without_replacement_has_no_duplicates_and_skips_zeros() -> None:
    p = np.random.default_rng(5).random(10_000)
    p[::7] = 0.0
    k = int(np.count_nonzero(p))
    indices = draw_global(p, k, replacement=False, seed=1)
    assert np.unique(indices).size == k
    assert np.all(p[indices] > 0)


def test_without_replacement_first_draw_follows_probabilities() -> None:
    # The first index of a without-replacement draw is a draw from P itself.
    firsts = np.array([draw_global(SKEWED, 3, replacement=False, seed=s)[0] for s in range(4000)])
    assert _chi2_pvalue(firsts, SKEWED) > 1e-4


def test_without_replacement_inclusion_favours_heavy_instances() -> None:
    p = np.array([1.0] * 10 + [20.0] * 10)
    counts = np.zeros(20)
    for s in range(300):
        counts[draw_global(p, 10, replacement=False, seed=s)] += 1
    assert counts[10:].mean() > 3 * counts[:10].mean()


def test_without_replacement_needs_enough_positive_weights() -> None:
    with pytest.raises(InputDataError, match="only 6 of 7"):
        draw_global(SKEWED, 7, replacement=False)


def test_draw_is_deterministic_and_ignores_global_rng() -> None:
    import torch

    np.random.seed(1)  # noqa: NPY002 (the legacy global state is what is under test)
    torch.manual_seed(1)
    a = draw_global(SKEWED, 1000, seed=4, epoch=3)
    np_state, torch_state = np.random.get_state(), torch.get_rng_state()  # noqa: NPY002
    np.random.seed(2)  # noqa: NPY002
    torch.manual_seed(2)
    np_state2 = np.random.get_state()  # noqa: NPY002
    b = draw_global(SKEWED, 1000, seed=4, epoch=3)
    np.testing.assert_array_equal(a, b)
    # Drawing does not advance the global generators either.
    assert np.array_equal(np.random.get_state()[1], np_state2[1])  # noqa: NPY002
    assert not np.array_equal(np_state[1], np_state2[1])
    assert torch.equal(torch.get_rng_state(), torch.manual_seed(2).get_state())
    del torch_state


def test_epochs_and_seeds_give_different_draws() -> None:
    p = np.ones(1000)
    base = draw_global(p, 1000, seed=0, epoch=0)
    assert not np.array_equal(base, draw_global(p, 1000, seed=0, epoch=1))
    assert not np.array_equal(base, draw_global(p, 1000, seed=1, epoch=0))
    assert not np.array_equal(
        draw_global(p, 1000, replacement=False, seed=0, epoch=0),
        draw_global(p, 1000, replacement=False, seed=0, epoch=1),
    )


_CHILD = """
import hashlib, sys
import numpy as np
np.random.seed(int(sys.argv[1]))  # a different global state in each process
from swift_sampler.draw import draw_indices
p = np.random.default_rng(0).random(100_000)
idx = draw_indices(p, 50_000, seed=9, epoch=4, num_replicas=3, rank=1)
idx2 = draw_indices(p, 50_000, replacement=False, seed=9, epoch=4)
print(hashlib.sha256(idx.tobytes() + idx2.tobytes()).hexdigest())
"""


def test_two_processes_draw_the_same_indices() -> None:
    import hashlib

    digests = [
        subprocess.run(
            [sys.executable, "-c", _CHILD, str(s)], capture_output=True, text=True, check=True
        ).stdout.strip()
        for s in (1, 2)
    ]
    p = np.random.default_rng(0).random(100_000)
    here = draw_indices(p, 50_000, seed=9, epoch=4, num_replicas=3, rank=1)
    here2 = draw_indices(p, 50_000, replacement=False, seed=9, epoch=4)
    assert digests[0] == digests[1] == hashlib.sha256(here.tobytes() + here2.tobytes()).hexdigest()


@pytest.mark.parametrize("replacement", [True, False])
@pytest.mark.parametrize("drop_last", [False, True])
@pytest.mark.parametrize("world", [1, 2, 3, 7])
def test_rank_stripes_partition_the_global_draw(
    replacement: bool, drop_last: bool, world: int
) -> None:
    p = np.random.default_rng(3).random(103)
    num = 100
    full = draw_global(p, num, replacement=replacement, seed=2, epoch=1)
    stripes = [
        draw_indices(
            p,
            num,
            replacement=replacement,
            seed=2,
            epoch=1,
            num_replicas=world,
            rank=r,
            drop_last=drop_last,
        )
        for r in range(world)
    ]
    count = per_rank_count(num, world, drop_last=drop_last)
    assert all(s.size == count for s in stripes)
    # Interleaving the stripes gives back the global list (padded or truncated).
    merged = np.empty(count * world, dtype=np.int64)
    for r, s in enumerate(stripes):
        merged[r::world] = s
    if drop_last:
        np.testing.assert_array_equal(merged, full[: count * world])
    else:
        padded = np.concatenate([full, full])[: count * world]
        np.testing.assert_array_equal(merged, padded)
    if not replacement and drop_last:
        assert np.unique(merged).size == merged.size  # stripes are disjoint


@pytest.mark.parametrize(
    ("p", "message"),
    [
        (np.array([0.1, np.nan, 0.2]), "entry 1 is nan"),
        (np.array([0.1, 0.2, np.inf]), "entry 2 is inf"),
        (np.array([0.1, -0.5, 0.2]), r"entry 1 is -0\.5"),
        (np.zeros(4), "must not all be zero"),
        (np.ones((2, 2)), "1-D"),
        (np.array([]), "empty"),
        (np.array(["a", "b"]), "numbers"),
    ],
)
def test_bad_probabilities_are_rejected(p: np.ndarray, message: str) -> None:
    with pytest.raises(InputDataError, match=message):
        draw_indices(p, 3)


def test_bad_rank_arguments_are_rejected() -> None:
    with pytest.raises(InputDataError, match="rank must be in"):
        draw_indices(np.ones(3), 3, num_replicas=2, rank=2)
    with pytest.raises(InputDataError, match="num_replicas must be a positive integer, got 0"):
        draw_indices(np.ones(3), 3, num_replicas=0)
    with pytest.raises(InputDataError, match="seed must be a non-negative integer, got -1"):
        draw_indices(np.ones(3), 3, seed=-1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_samples": 2.5}, "num_samples must be a non-negative integer, got 2.5"),
        ({"num_samples": "3"}, "num_samples must be a non-negative integer, got '3'"),
        ({"num_samples": True}, "num_samples must be a non-negative integer, got True"),
        ({"num_samples": -1}, "num_samples must be a non-negative integer, got -1"),
        ({"seed": 1.5}, "seed must be a non-negative integer, got 1.5"),
        ({"epoch": "2"}, "epoch must be a non-negative integer, got '2'"),
        ({"rank": 0.0}, "rank must be a non-negative integer, got 0.0"),
        ({"num_replicas": None}, "num_replicas must be a positive integer, got None"),
        ({"replacement": "yes"}, "replacement must be a bool, got 'yes'"),
    ],
)
def test_argument_types_are_input_errors(kwargs: dict, message: str) -> None:
    # Every bad argument is an InputDataError (a SwiftSamplerError), never a raw TypeError.
    args = {"num_samples": 3, **kwargs}
    with pytest.raises(InputDataError, match=re.escape(message)):
        draw_indices(np.ones(3), **args)


def test_numpy_and_tensor_integers_are_integers() -> None:
    p = np.array([1.0, 2.0, 3.0])
    expected = draw_indices(p, 4, seed=2, epoch=1, num_replicas=2, rank=1)
    got = draw_indices(
        p, np.int64(4), seed=np.uint8(2), epoch=torch.tensor(1), num_replicas=np.int32(2), rank=1
    )
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=60, deadline=None)
@given(
    p=hnp.arrays(
        np.float64,
        st.integers(1, 40),
        elements=st.one_of(st.just(0.0), st.floats(1e-6, 1e6)),
    ).filter(lambda a: a.sum() > 0),
    num=st.integers(0, 60),
    seed=st.integers(0, 2**32),
    world=st.integers(1, 4),
)
def test_draw_properties(p: np.ndarray, num: int, seed: int, world: int) -> None:
    positive = int(np.count_nonzero(p))
    for replacement in (True, False):
        k = num if replacement else min(num, positive)
        full = draw_global(p, k, replacement=replacement, seed=seed)
        assert full.shape == (k,)
        assert np.all((full >= 0) & (full < p.size))
        assert np.all(p[full] > 0)
        if not replacement:
            assert np.unique(full).size == k
        if k:
            stripes = [
                draw_indices(p, k, replacement=replacement, seed=seed, num_replicas=world, rank=r)
                for r in range(world)
            ]
            count = per_rank_count(k, world)
            merged = np.empty(count * world, dtype=np.int64)
            for r, s in enumerate(stripes):
                merged[r::world] = s
            np.testing.assert_array_equal(merged[:k], full)


@pytest.mark.slow
def test_more_than_2_pow_24_instances() -> None:
    # torch.multinomial (and so WeightedRandomSampler) refuses n > 2^24; this must not.
    n = 2**24 + 1000
    p = np.ones(n, dtype=np.float32)
    p[-10:] = 1e5  # the last instances, past 2^24, carry almost half of the mass
    share = 1e6 / (n - 10 + 1e6)
    indices = draw_global(p, 2_000_000, seed=0)
    tail = np.count_nonzero(indices >= n - 10) / indices.size
    assert abs(tail - share) < 0.002
    assert indices.max() < n
    assert np.count_nonzero(indices > 2**24) > 0


@pytest.mark.parametrize("wide", [False, True])
def test_alias_table_encodes_the_exact_distribution(wide: bool) -> None:
    # Not a statistical test: the table's implied probabilities must equal the input's.
    rng = np.random.default_rng(3)
    p = rng.random(5000) ** 6  # spans many orders of magnitude
    p[::11] = 0.0
    table = AliasTable(p, wide=wide)
    implied = table.probabilities()
    target = p / p.sum()
    tolerance = 1e-12 if wide else 2e-7
    np.testing.assert_allclose(implied, target, rtol=tolerance, atol=1e-15)
    assert np.all(implied[p == 0] == 0)


def test_alias_table_draws_match_draw_global() -> None:
    p = np.random.default_rng(1).random(300)
    np.testing.assert_array_equal(
        AliasTable(p).draw(1000, seed=5, epoch=2), draw_global(p, 1000, seed=5, epoch=2)
    )


def test_extreme_weight_ranges() -> None:
    # Subnormal totals: n / total would overflow; zero weights must still never be drawn.
    counts = np.bincount(draw_indices(np.array([1e-320, 0.0]), 1000), minlength=2)
    assert counts.tolist() == [1000, 0]
    counts = np.bincount(draw_indices(np.array([1e-309, 1e-309, 0.0]), 3000), minlength=3)
    assert counts[2] == 0 and abs(counts[0] - 1500) < 150
    # Finite weights whose sum overflows float64 are rescaled, not rejected.
    counts = np.bincount(draw_indices(np.array([1e308, 1e308, 0.0]), 3000), minlength=3)
    assert counts[2] == 0 and abs(counts[0] - 1500) < 150
    # Without replacement a tiny weight beats a zero weight every time.
    assert {
        int(draw_global(np.array([0.0, 0.0, 1e-320]), 1, replacement=False, seed=s)[0])
        for s in range(20)
    } == {2}


def _compiled() -> ModuleType:
    try:
        from swift_sampler import _draw
    except ImportError:  # installed without a C compiler: nothing to compare against
        pytest.skip("the C extension is not built here")
    return _draw


def _tables(p: np.ndarray, *, wide: bool) -> tuple[np.ndarray, np.ndarray]:
    """The alias table of ``p`` built by the extension and by the fallback."""
    p, total = check_probabilities(p)
    record, index = _WIDE if wide else _NARROW
    ours, theirs = np.empty(p.size, record), np.empty(p.size, record)
    _compiled().build_alias(p, theirs, np.empty(p.size, index), total)
    _alias_numpy.build_alias(p, ours, np.empty(p.size, index), total)
    return theirs, ours


def _weights(n: int, kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "cubed":  # most mass on a few instances: long chains of small buckets
        return rng.random(n) ** 3
    if kind == "near_uniform":  # many buckets just above and below 1: many short chains
        return 1.0 + 1e-3 * rng.standard_normal(n)
    if kind == "zeros_and_spikes":
        p = rng.random(n)
        p[rng.random(n) < 0.5] = 0.0
        p[rng.integers(0, n, size=max(1, n // 100))] = 1e6
        return p
    return rng.lognormal(0.0, 4.0, n)  # weights over many orders of magnitude


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", ["cubed", "near_uniform", "zeros_and_spikes", "lognormal"])
@pytest.mark.parametrize("n", [1, 2, 7, 1000, 50_000])
def test_numpy_fallback_builds_the_extensions_table(
    n: int, kind: str, dtype: type, wide: bool
) -> None:
    theirs, ours = _tables(_weights(n, kind, n).astype(dtype), wide=wide)
    assert ours.tobytes() == theirs.tobytes()


@settings(max_examples=100, deadline=None)
@given(
    p=hnp.arrays(
        np.float64,
        st.integers(1, 300),
        elements=st.one_of(
            st.just(0.0),
            st.floats(1e-300, 1e300),
            st.sampled_from([1.0, 2.0, 1.0 + 2**-52, 1 - 2**-53, 3.0]),
        ),
    ),
    wide=st.booleans(),
)
def test_numpy_fallback_table_property(p: np.ndarray, wide: bool) -> None:
    if not p.any():
        p[0] = 1.0
    theirs, ours = _tables(p, wide=wide)
    assert ours.tobytes() == theirs.tobytes()


@pytest.mark.parametrize("wide", [False, True])
@pytest.mark.parametrize("k", [0, 1, 31, 33, 1000, 4096 * 256 + 17])  # the last: over 1 chunk
@pytest.mark.parametrize("n", [1, 3, 1000])
def test_numpy_fallback_draws_the_extensions_indices(n: int, k: int, wide: bool) -> None:
    theirs, ours = _tables(_weights(n, "cubed", n), wide=wide)
    words = _seed_words(n, k % 7, 0)
    expected, got = np.empty(k, np.int64), np.empty(k, np.int64)
    _compiled().draw_alias(theirs, n, expected, *words)
    _alias_numpy.draw_alias(ours, n, got, *words)
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("n", [1, 3, 2**31 - 1, 2**32 + 5, 2**62 + 3])
def test_numpy_fallback_128_bit_product(n: int) -> None:
    """Bucket and coin come from the high and low words of ``x * n``, also for n >= 2^32."""
    x = np.random.default_rng(n % 1000).integers(0, 2**64, size=1000, dtype=np.uint64)
    x[:3] = [0, 1, 2**64 - 1]
    high, low = _alias_numpy._mul_high_low(x, n)
    exact = [int(a) * n for a in x.tolist()]
    assert high.tolist() == [e >> 64 for e in exact]
    assert low.tolist() == [e % 2**64 for e in exact]


def test_numpy_fallback_zero_seed_words_use_the_same_substitute() -> None:
    theirs, ours = _tables(np.arange(1.0, 11.0), wide=False)
    expected, got = np.empty(500, np.int64), np.empty(500, np.int64)
    _compiled().draw_alias(theirs, 10, expected, 0, 0, 0, 0)
    _alias_numpy.draw_alias(ours, 10, got, 0, 0, 0, 0)
    np.testing.assert_array_equal(got, expected)


def _use_backend(monkeypatch: pytest.MonkeyPatch, backend: ModuleType) -> None:
    """swift_sampler.draw as it runs on an installation with (or without) the extension."""
    fallback = backend is _alias_numpy
    monkeypatch.setattr(draw_module, "_backend", backend)
    monkeypatch.setattr(draw_module, "BACKEND", "numpy" if fallback else "c")
    monkeypatch.setattr(draw_module, "_warned", False)


def _draws(p: np.ndarray) -> list[np.ndarray]:
    """Every public draw that builds an alias table, for a few seeds and epochs."""
    out = [draw_indices(p, 3000, seed=s, epoch=e) for s in (0, 5) for e in (0, 1)]
    out.append(draw_indices(p, 3001, seed=1, num_replicas=3, rank=2))
    sampler = SwiftSampler(p, 700, seed=2)
    for epoch in (0, 4):
        sampler.set_epoch(epoch)
        out.append(np.array(list(sampler)))
    return out


def test_fallback_draws_equal_the_extensions_and_warn_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    p = _weights(5000, "lognormal", 3)
    _use_backend(monkeypatch, _compiled())
    with caplog.at_level("WARNING", logger="swift_sampler.draw"):
        expected = _draws(p)
    assert not caplog.records
    _use_backend(monkeypatch, _alias_numpy)
    with caplog.at_level("WARNING", logger="swift_sampler.draw"):
        got = _draws(p)  # builds several tables: one warning for the process
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)
    (record,) = caplog.records
    assert record.levelname == "WARNING" and "NumPy fallback" in record.getMessage()
    assert "\n" not in record.getMessage()


def test_fallback_is_not_used_without_replacement(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    p = _weights(2000, "cubed", 4)
    expected = draw_indices(p, 500, replacement=False, seed=3)
    _use_backend(monkeypatch, _alias_numpy)
    with caplog.at_level("WARNING", logger="swift_sampler.draw"):
        got = draw_indices(p, 500, replacement=False, seed=3)
    np.testing.assert_array_equal(got, expected)
    assert not caplog.records  # exponential keys in NumPy: no alias table, nothing slower


# ---- stratified draws (systematic resampling) ------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 7, 2**40])
def test_stratified_uniform_draw_is_a_permutation(seed: int) -> None:
    # At uniform weights and k = n every instance is drawn exactly once: a shuffle.
    for n in (1, 5, 999, 4096):
        full = draw_global(np.ones(n), n, seed=seed, epoch=3, stratified=True)
        np.testing.assert_array_equal(np.sort(full), np.arange(n))
    # ...and a shuffle, not the identity.
    assert not np.array_equal(
        draw_global(np.ones(50), 50, seed=seed, stratified=True), np.arange(50)
    )


@pytest.mark.parametrize(("n", "k"), [(10, 10), (300, 1000), (300, 77), (1000, 5000)])
def test_stratified_counts_are_the_expected_counts_rounded(n: int, k: int) -> None:
    rng = np.random.default_rng(n + k)
    p = rng.random(n) ** 3
    p[rng.random(n) < 0.2] = 0.0
    p[-3:] = 0.0  # trailing zeros: the last edge is shared, never past it
    expected = k * p / p.sum()
    for seed in range(10):
        counts = np.bincount(draw_global(p, k, seed=seed, stratified=True), minlength=n)
        assert counts.sum() == k
        assert np.all(counts >= np.floor(expected)) and np.all(counts <= np.ceil(expected))
        assert counts[p == 0].sum() == 0


def test_stratified_draw_is_unbiased_and_less_spread_than_iid() -> None:
    p = SKEWED.repeat(20)
    k, reps = 200, 3000
    strat = np.array(
        [
            np.bincount(draw_global(p, k, seed=s, stratified=True), minlength=p.size)
            for s in range(reps)
        ]
    )
    iid = np.array([np.bincount(draw_global(p, k, seed=s), minlength=p.size) for s in range(reps)])
    expected = k * p / p.sum()
    # The mean count per instance is k p_i (within 4 standard errors of a Bernoulli spread).
    se = np.sqrt(0.25 / reps)
    assert np.all(np.abs(strat.mean(axis=0) - expected) < 4 * se + 1e-12)
    # Its spread is at most a rounding's (variance <= 1/4); i.i.d. counts have k p_i (1 - p_i).
    assert strat.var(axis=0).max() <= 0.25 + 0.05
    heavy = expected > 1
    assert np.all(iid.var(axis=0)[heavy] > 2 * strat.var(axis=0)[heavy])


def test_stratified_draw_is_a_function_of_seed_and_epoch() -> None:
    p = SKEWED
    a = draw_global(p, 40, seed=3, epoch=2, stratified=True)
    torch.manual_seed(0)  # the global generators play no part
    np.testing.assert_array_equal(a, draw_global(p, 40, seed=3, epoch=2, stratified=True))
    assert not np.array_equal(a, draw_global(p, 40, seed=3, epoch=3, stratified=True))
    assert not np.array_equal(a, draw_global(p, 40, seed=4, epoch=2, stratified=True))
    assert draw_global(p, 0, stratified=True).shape == (0,)
    # Stripes of the stratified draw partition it as the i.i.d. draw's do.
    stripes = [
        draw_indices(p, 40, seed=3, epoch=2, num_replicas=3, rank=r, stratified=True)
        for r in range(3)
    ]
    merged = np.empty(14 * 3, dtype=np.int64)
    for r, s in enumerate(stripes):
        merged[r::3] = s
    np.testing.assert_array_equal(merged[:40], a)


def test_stratified_needs_replacement_and_a_bool() -> None:
    with pytest.raises(InputDataError, match="a stratified draw is with replacement"):
        draw_global(np.ones(3), 2, replacement=False, stratified=True)
    with pytest.raises(InputDataError, match="stratified must be a bool, got 'yes'"):
        draw_global(np.ones(3), 2, stratified="yes")  # type: ignore[arg-type]
    with pytest.raises(InputDataError, match="a stratified draw is with replacement"):
        SwiftSampler(np.ones(3), replacement=False, stratified=True)
    with pytest.raises(InputDataError, match="stratified must be a bool, got 1"):
        SwiftSampler(np.ones(3), stratified=1)  # type: ignore[arg-type]


def test_swift_sampler_draws_stratified_from_a_stratified_spec() -> None:
    from swift_sampler.family import SamplerSpec

    rng = np.random.default_rng(0)
    features = {"loss": rng.random(500), "er": rng.random(500), "grad_norm": rng.random(500) + 0.1}
    theta = [1.0, 0.0, 0.0, 0.5, 0.5, 1.0, 0.5, 0.5, 0.5, 0.5]  # a cut at high loss
    spec = SamplerSpec(theta=tuple(theta), draw="stratified")
    sampler = SwiftSampler.from_spec(spec, features, seed=5)
    assert sampler.stratified
    expected = 500 * sampler.probabilities
    for epoch in range(3):
        sampler.set_epoch(epoch)
        counts = np.bincount(list(sampler), minlength=500)
        assert np.all(counts >= np.floor(expected)) and np.all(counts <= np.ceil(expected))
        np.testing.assert_array_equal(
            sampler.indices(),
            draw_global(sampler.probabilities, 500, seed=5, epoch=epoch, stratified=True),
        )
    iid = SwiftSampler.from_spec(SamplerSpec(theta=tuple(theta)), features, seed=5)
    assert not iid.stratified
    # The i.i.d. draw of the same probabilities misses kept instances the stratified one keeps.
    iid_counts = np.bincount(list(iid), minlength=500)
    assert np.any((iid_counts == 0) & (expected >= 1))
    # An explicit argument wins over the spec's draw.
    assert not SwiftSampler.from_spec(spec, features, stratified=False).stratified

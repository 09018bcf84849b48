from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from scipy import stats
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, WeightedRandomSampler

from swift_sampler import SamplerSpec, SwiftSampler, draw_indices, extract_features
from swift_sampler.errors import InputDataError, SpecError


def test_drop_in_for_weighted_random_sampler_arguments() -> None:
    weights = [0.0, 1.0, 2.0, 3.0]
    sampler = SwiftSampler(weights, 12, True, seed=5)
    drawn = list(sampler)
    assert len(sampler) == 12 and len(drawn) == 12
    assert all(isinstance(i, int) for i in drawn) and 0 not in drawn
    assert (sampler.num_samples, sampler.replacement, sampler.seed) == (12, True, 5)
    np.testing.assert_array_equal(drawn, draw_indices(weights, 12, seed=5, epoch=0))


def test_epochs_are_reproducible_and_distinct() -> None:
    sampler = SwiftSampler(np.ones(500), seed=1)
    sampler.set_epoch(0)
    first = list(sampler)
    assert list(sampler) == first  # same epoch, same draw
    sampler.set_epoch(1)
    second = list(sampler)
    assert second != first
    sampler.set_epoch(0)
    assert list(sampler) == first


def test_without_replacement_epoch_is_a_permutation() -> None:
    sampler = SwiftSampler(np.ones(100), replacement=False, seed=3)
    assert sorted(sampler) == list(range(100))


@pytest.mark.parametrize("drop_last", [False, True])
def test_ranks_split_one_global_draw(drop_last: bool) -> None:
    p = np.random.default_rng(0).random(101)
    samplers = [
        SwiftSampler(p, seed=4, num_replicas=4, rank=r, drop_last=drop_last) for r in range(4)
    ]
    for s in samplers:
        s.set_epoch(2)
    lengths = {len(s) for s in samplers}
    assert lengths == ({25} if drop_last else {26})
    merged = np.empty(4 * lengths.pop(), dtype=np.int64)
    for r, s in enumerate(samplers):
        merged[r::4] = list(s)
    full = draw_indices(p, 101, seed=4, epoch=2)
    np.testing.assert_array_equal(merged[:100], full[:100])


def test_update_recomputes_probabilities_for_the_next_epoch() -> None:
    rng = np.random.default_rng(0)
    table = np.stack([rng.gamma(1.0, 1.0, 200), rng.random(200)], axis=1)
    spec = SamplerSpec(transform="cdf", theta=[1, 0.5, 0.5, 0.0, 0.0, 1, 0.5, 0.5, 0.5, 0.5])
    sampler = SwiftSampler.from_spec(spec, table, seed=0)
    before = sampler.probabilities.copy()
    # Reverse the loss column: the instances that were easy are now hard and vice versa.
    table[:, 0] = table[::-1, 0].copy()
    sampler.update(table)
    after = sampler.probabilities
    np.testing.assert_allclose(after, spec.probabilities(table))
    assert not np.allclose(before, after)
    assert not after.flags.writeable


def test_update_errors() -> None:
    with pytest.raises(SpecError, match="from_spec"):
        SwiftSampler(np.ones(3)).update(np.ones((3, 3)))
    spec = SamplerSpec(transform="cdf")
    sampler = SwiftSampler.from_spec(spec, np.full((10, 2), 0.5))
    with pytest.raises(InputDataError, match="feature table has 9 rows but the sampler covers 10"):
        sampler.update(np.full((9, 2), 0.5))


def test_set_weights_replaces_the_draw_until_the_next_update() -> None:
    spec = SamplerSpec(transform="cdf", theta=[1, 0.5, 0.5, 0.0, 0.0, 1, 0.5, 0.5, 0.5, 0.5])
    table = np.stack([np.linspace(0.0, 3.0, 50), np.linspace(1.0, 0.0, 50)], axis=1)
    sampler = SwiftSampler.from_spec(spec, table, num_samples=400, seed=1)
    sampler.set_epoch(0)
    learned = sampler.indices()
    assert (learned >= 25).mean() < 0.4  # the spec draws the low-loss half more often
    sampler.set_weights(torch.cat([torch.zeros(25), torch.ones(25)]))
    assert np.array_equal(sampler.probabilities, np.repeat([0.0, 1.0], 25))  # as passed
    assert (sampler.indices() >= 25).all()  # the alias table of the old weights is gone
    sampler.update(table)
    assert np.array_equal(sampler.indices(), learned)
    with pytest.raises(
        InputDataError, match="weights cover 49 instances but the sampler covers 50"
    ):
        sampler.set_weights(np.ones(49))
    with pytest.raises(InputDataError, match="entry 3 is nan"):
        sampler.set_weights([1.0, 1.0, 1.0, float("nan")] + [1.0] * 46)
    shuffle = SwiftSampler(np.ones(4), replacement=False)
    with pytest.raises(InputDataError, match="exceeds the 3 instances"):
        shuffle.set_weights([1.0, 1.0, 1.0, 0.0])
    assert np.array_equal(shuffle.probabilities, np.ones(4))  # a refused call changes nothing


def _feature_tables(count: int, n: int = 120) -> list[np.ndarray]:
    """``count`` (loss, er, grad_norm) tables of the same n instances, changing over time."""
    rng = np.random.default_rng(5)
    return [
        np.stack([rng.gamma(1.0, 1.0, n), rng.random(n), rng.random(n)], axis=1)
        for _ in range(count)
    ]


def test_history_averages_the_features_over_refreshes() -> None:
    theta = [1, 0.5, 0.5, 0.0, 0.0, 1, 0.5, 0.5, 0.5, 0.5]
    f0, f1, f2 = _feature_tables(3)
    spec = SamplerSpec(theta=theta, history=0.75)
    sampler = SwiftSampler.from_spec(spec, f0, seed=0)
    np.testing.assert_array_equal(sampler.history, f0)  # the first table seeds it
    sampler.update(f1)
    sampler.update(f2)
    expected = 0.75 * (0.75 * f0 + 0.25 * f1) + 0.25 * f2
    np.testing.assert_allclose(sampler.history, expected)
    np.testing.assert_allclose(sampler.probabilities, spec.probabilities(expected))
    # Not the snapshot's sampler: the average moves the probabilities.
    assert not np.allclose(sampler.probabilities, spec.probabilities(f2))
    assert not sampler.history.flags.writeable
    # A mapping table is averaged column by column, as an array is.
    again = SwiftSampler.from_spec(spec, f0, seed=0)
    again.update(dict(zip(spec.columns, f1.T, strict=True)))
    again.update(f2)
    np.testing.assert_allclose(again.history, expected)
    # A refused table changes nothing, the average included.
    with pytest.raises(InputDataError, match="feature table has 119 rows"):
        sampler.update(f2[:-1])
    with pytest.raises(InputDataError, match="feature 'er' must be finite"):
        sampler.update(np.where(np.arange(3) == 1, np.nan, f2))
    np.testing.assert_allclose(sampler.history, expected)
    # restore_history picks up a saved average; fixed weights drop it.
    restored = SwiftSampler(sampler.probabilities, seed=0)
    restored.spec = spec
    restored.restore_history(sampler.history)
    restored.update(f0)
    sampler.update(f0)
    np.testing.assert_array_equal(restored.probabilities, sampler.probabilities)
    sampler.set_weights(np.ones(120))
    assert sampler.history is None
    sampler.update(f1)  # starts again from f1 alone
    np.testing.assert_allclose(sampler.probabilities, spec.probabilities(f1))


def test_without_history_the_sampler_keeps_no_average() -> None:
    f0, f1 = _feature_tables(2)
    spec = SamplerSpec(theta=[1, 0.5, 0.5, 0.0, 0.0, 1, 0.5, 0.5, 0.5, 0.5])
    sampler = SwiftSampler.from_spec(spec, f0)
    sampler.update(f1)
    assert sampler.history is None
    np.testing.assert_allclose(sampler.probabilities, spec.probabilities(f1))
    with pytest.raises(
        SpecError,
        match=r"needs a sampler whose spec has history > 0, got spec\.history = 0\.0",
    ):
        sampler.restore_history(f0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"weights": [1.0, float("nan")]}, "entry 1 is nan"),
        ({"weights": [0.0, 0.0]}, "must not all be zero"),
        ({"weights": [1.0, 1.0], "num_samples": 0}, "num_samples must be a positive"),
        ({"weights": [1.0, 1.0], "rank": 2, "num_replicas": 2}, "rank must be in"),
        ({"weights": [1.0, 0.0], "num_samples": 2, "replacement": False}, "exceeds the 1"),
        ({"weights": [1.0, 1.0], "seed": -3}, "seed must be"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(InputDataError, match=message):
        SwiftSampler(**kwargs)
    with pytest.raises(InputDataError, match="epoch must be"):
        SwiftSampler([1.0]).set_epoch(-1)


def _train(loader: DataLoader, epochs: int, sampler: SwiftSampler | None = None) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for epoch in range(epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        for x, y in loader:
            opt.zero_grad()
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()
    return model


def _accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with torch.no_grad():
        return float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())


def test_a_dataloader_with_swift_sampler_trains_a_model(digits) -> None:
    x, y = digits
    train, test = np.arange(0, 1400), np.arange(1400, len(y))
    ds = TensorDataset(torch.from_numpy(x[train]), torch.from_numpy(y[train]))
    # A sampler that never draws classes 0 and 1: the model must learn the other 8 classes
    # and never predict the two it did not see (which it would with uniform sampling).
    weights = np.where(y[train] < 2, 0.0, 1.0)
    sampler = SwiftSampler(weights, seed=0)
    loader = DataLoader(ds, batch_size=64, sampler=sampler, num_workers=0)
    model = _train(loader, epochs=8, sampler=sampler)
    seen = test[y[test] >= 2]
    assert _accuracy(model, x[seen], y[seen]) > 0.9
    with torch.no_grad():
        predictions = model(torch.from_numpy(x[test])).argmax(1).numpy()
    assert np.count_nonzero(predictions < 2) < 0.02 * len(test)


def test_a_learned_style_spec_filters_label_noise_on_digits(digits) -> None:
    """End to end: uniform warm-up, features, a loss/Er spec, training under SwiftSampler."""
    x, y = digits
    rng = np.random.default_rng(0)
    train, test = np.arange(0, 1400), np.arange(1400, len(y))
    noisy_y = y[train].copy()
    flip = rng.random(len(train)) < 0.4
    noisy_y[flip] = (noisy_y[flip] + rng.integers(1, 10, flip.sum())) % 10
    ds = TensorDataset(torch.from_numpy(x[train]), torch.from_numpy(noisy_y))
    model = _train(DataLoader(ds, batch_size=64, shuffle=True), epochs=3)
    # Drop the top loss quarter when Er is low: where flipped labels sit.
    spec = SamplerSpec(
        transform="cgf", lipschitz=4.0, theta=[1, 0.5, 0.5, 0.0, 0.5, 0.0, 1, 0.5, 0.5, 0.5]
    )
    features = extract_features(model, ds, names=spec.columns)
    sampler = SwiftSampler.from_spec(spec, features, seed=0)
    drawn = np.asarray(list(sampler))
    noisy_share = flip[drawn].mean()
    assert noisy_share < 0.5 * flip.mean(), noisy_share  # noise is drawn much less than 40%
    del test


_DIST_WORKER = textwrap.dedent(
    """
    import os, sys, json
    import numpy as np
    import torch.distributed as dist
    from swift_sampler import SwiftSampler
    dist.init_process_group("gloo", init_method=sys.argv[1], rank=int(sys.argv[2]), world_size=2)
    dist.barrier()  # both ends connected before either can finish and close its side
    p = np.random.default_rng(0).random(1001)
    sampler = SwiftSampler(p, seed=6)  # num_replicas and rank come from torch.distributed
    sampler.set_epoch(3)
    print(json.dumps({"world": sampler.num_replicas, "rank": sampler.rank, "idx": list(sampler)}))
    dist.barrier()
    dist.destroy_process_group()
    """
)


@pytest.mark.slow
def test_ranks_under_torch_distributed_partition_the_draw(tmp_path) -> None:
    import json

    init = f"file://{tmp_path / 'rendezvous'}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _DIST_WORKER, init, str(r)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for r in range(2)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    assert [(o["world"], o["rank"]) for o in outputs] == [(2, 0), (2, 1)]
    p = np.random.default_rng(0).random(1001)
    full = draw_indices(p, 1001, seed=6, epoch=3)
    merged = np.empty(1002, dtype=np.int64)
    merged[0::2], merged[1::2] = outputs[0]["idx"], outputs[1]["idx"]
    np.testing.assert_array_equal(merged[:1001], full)
    assert merged[1001] == full[0]  # padded like DistributedSampler


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_samples": 2.5}, "num_samples must be a positive integer, got 2.5"),
        ({"num_samples": "3"}, "num_samples must be a positive integer, got '3'"),
        ({"num_samples": True}, "num_samples must be a positive integer, got True"),
        ({"seed": np.float64(1.0)}, "seed must be a non-negative integer"),
        ({"rank": "0"}, "rank must be a non-negative integer, got '0'"),
        ({"generator": 42}, "generator must be a torch.Generator or None, got int"),
        ({"generator": torch.Generator(), "seed": 1}, "a seed or a generator, not both"),
    ],
)
def test_argument_types_are_input_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(InputDataError, match=re.escape(message)):
        SwiftSampler([1.0, 2.0], **kwargs)
    with pytest.raises(InputDataError, match=r"epoch must be a non-negative integer, got 1\.0"):
        SwiftSampler([1.0]).set_epoch(1.0)  # type: ignore[arg-type]


def test_numpy_integers_are_integers() -> None:
    sampler = SwiftSampler(np.ones(10), num_samples=np.int64(3), seed=np.int32(4), rank=np.int8(0))
    assert len(sampler) == 3 and type(sampler.num_samples) is int and sampler.seed == 4
    sampler.set_epoch(np.int64(2))
    assert list(sampler) == draw_indices(np.ones(10), 3, seed=4, epoch=2).tolist()


# --- The drop-in promise: the usage patterns of WeightedRandomSampler (WRS) work the same.


def _g(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


_WRS_CALLS = {
    "four positional": lambda cls, w, g: cls(w, 20, True, g),
    "generator keyword": lambda cls, w, g: cls(w, 20, replacement=True, generator=g),
    "all keywords": lambda cls, w, g: cls(
        weights=w, num_samples=20, replacement=True, generator=g
    ),
    "two positional": lambda cls, w, g: cls(w, 20),
    "without replacement": lambda cls, w, g: cls(w, 3, False, g),
}


@pytest.mark.parametrize("call", list(_WRS_CALLS.values()), ids=list(_WRS_CALLS))
@pytest.mark.parametrize("kind", ["list", "tensor", "array"])
def test_accepts_every_weighted_random_sampler_call(call, kind: str) -> None:
    raw = [0.0, 1.0, 2.0, 3.0]
    w = {"list": raw, "tensor": torch.tensor(raw), "array": np.array(raw)}[kind]
    theirs, ours = call(WeightedRandomSampler, w, _g(0)), call(SwiftSampler, w, _g(0))
    drawn = list(ours)
    assert len(ours) == len(theirs) == len(drawn) == len(list(theirs))
    assert all(type(i) is int for i in drawn) and 0 not in drawn
    # .weights: the same float64 tensor as WRS's.
    assert ours.weights.dtype == theirs.weights.dtype == torch.float64
    assert torch.equal(ours.weights, theirs.weights)
    ours.weights[1] = 100.0  # a copy: the sampler does not change
    assert ours.probabilities[1] == 1.0


@pytest.mark.parametrize(
    "make",
    [
        lambda cls: cls(np.ones(300), 300),  # no seed, no generator
        lambda cls: cls(np.ones(300), 300, generator=_g(1)),
        lambda cls: cls(np.ones(300), 300, False),
    ],
    ids=["default", "generator", "without replacement"],
)
def test_a_loop_without_set_epoch_draws_afresh_every_pass_like_wrs(make) -> None:
    for cls in (WeightedRandomSampler, SwiftSampler):
        sampler = make(cls)
        passes = [tuple(sampler) for _ in range(3)]
        assert len(set(passes)) == 3, cls  # three different passes


def test_passes_without_set_epoch_are_reproducible_and_agree_with_set_epoch() -> None:
    w = np.linspace(0.1, 1.0, 50)
    sampler = SwiftSampler(w, 40, seed=3)
    # Pass k draws what set_epoch(k) would: the same on every rank, whatever the loop.
    expected = [draw_indices(w, 40, seed=3, epoch=k).tolist() for k in range(3)]
    peek = sampler.indices()  # looking does not start a pass
    assert [list(sampler) for _ in range(3)] == expected
    assert peek.tolist() == expected[0]
    # Once set_epoch is called, the epoch picks the draw: every pass of an epoch is the same.
    sampler.set_epoch(7)
    assert list(sampler) == list(sampler) == draw_indices(w, 40, seed=3, epoch=7).tolist()


def test_a_generator_seeds_the_stream_and_leaves_the_global_rng_alone() -> None:
    w = np.linspace(0.1, 1.0, 50)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()  # noqa: NPY002
    a, b = SwiftSampler(w, 40, generator=_g(5)), SwiftSampler(w, 40, generator=_g(5))
    peek = a.indices()
    first = [list(a) for _ in range(3)]
    assert first == [list(b) for _ in range(3)]  # same generator seed, same passes
    assert peek.tolist() == first[0] and len({tuple(p) for p in first}) == 3
    assert [list(SwiftSampler(w, 40, generator=_g(6))) for _ in range(3)] != first
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert (np.random.get_state()[1] == numpy_state).all()  # noqa: NPY002


def test_draws_follow_the_weights_like_wrs() -> None:
    w = [0.0, 1.0, 2.0, 3.0, 4.0]
    n = 20_000
    expected = n * np.array(w[1:]) / sum(w)
    limit = stats.chi2.ppf(0.999, df=len(expected) - 1)  # fixed seeds: no flakiness
    for cls in (WeightedRandomSampler, SwiftSampler):
        counts = np.bincount(list(cls(w, n, True, _g(0))), minlength=len(w))
        assert counts[0] == 0, cls
        chi2 = float(((counts[1:] - expected) ** 2 / expected).sum())
        assert chi2 < limit, (cls, chi2)


_DIST_PASSES = textwrap.dedent(
    """
    import sys, json
    import numpy as np
    import torch
    import torch.distributed as dist
    from swift_sampler import SwiftSampler
    dist.init_process_group("gloo", init_method=sys.argv[1], rank=int(sys.argv[2]), world_size=2)
    dist.barrier()  # both ends connected before either can finish and close its side
    p = np.random.default_rng(0).random(1001)
    seeded = SwiftSampler(p, seed=6)  # a plain loop: never set_epoch
    generated = SwiftSampler(p, generator=torch.Generator().manual_seed(9))  # same on all ranks
    out = {
        "seeded": [list(seeded) for _ in range(2)],
        "generated": [list(generated) for _ in range(2)],
    }
    print(json.dumps(out))
    dist.barrier()
    dist.destroy_process_group()
    """
)


@pytest.mark.slow
def test_ranks_agree_on_every_pass_without_set_epoch(tmp_path) -> None:
    import json

    init = f"file://{tmp_path / 'rendezvous'}"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _DIST_PASSES, init, str(r)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for r in range(2)
    ]
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    p = np.random.default_rng(0).random(1001)
    single = SwiftSampler(p, generator=torch.Generator().manual_seed(9))
    for key, expected in (
        ("seeded", [draw_indices(p, 1001, seed=6, epoch=k) for k in range(2)]),
        ("generated", [np.array(list(single)) for _ in range(2)]),
    ):
        for k in range(2):
            # The two ranks' stripes of pass k interleave to one global list: they agree.
            merged = np.empty(1002, dtype=np.int64)
            merged[0::2], merged[1::2] = outputs[0][key][k], outputs[1][key][k]
            np.testing.assert_array_equal(merged[:1001], expected[k], err_msg=f"{key} {k}")
        assert outputs[0][key][0] != outputs[0][key][1]  # and the passes differ

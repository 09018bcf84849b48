from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from swift_sampler.errors import InputDataError
from swift_sampler.transforms import FittedTransform, fit_transform

finite = st.floats(-1e6, 1e6, allow_nan=False)


def test_cdf_of_distinct_values_is_the_mid_rank() -> None:
    v = np.array([3.0, -1.0, 10.0, 2.5])
    _, u = fit_transform(v, kind="cdf")
    np.testing.assert_allclose(u, (np.array([2, 0, 3, 1]) + 0.5) / 4)


def test_ties_share_their_mid_rank() -> None:
    _, u = fit_transform(np.array([1.0, 2.0, 1.0]), kind="cdf")
    np.testing.assert_allclose(u, [1 / 3, 5 / 6, 1 / 3])


@pytest.mark.parametrize("kind", ["cdf", "cgf"])
def test_constant_column_maps_to_one_half(kind: str) -> None:
    v = np.full(50, 0.7)
    t, u = fit_transform(v, kind=kind, weights=np.linspace(0, 1, 50))
    np.testing.assert_array_equal(u, 0.5)
    np.testing.assert_array_equal(t(v), 0.5)
    assert not np.isnan(t(np.array([0.0, 0.7, 2.0]))).any()


def test_unseen_values() -> None:
    t = FittedTransform.fit(np.array([1.0, 2.0, 3.0, 4.0]), kind="cdf")
    np.testing.assert_allclose(
        t(np.array([0.0, 1.5, 2.0, 3.99, 100.0])), [0, 0.25, 0.375, 0.75, 1]
    )


def test_cgf_weighs_by_gradient_norm() -> None:
    v = np.array([1.0, 2.0, 3.0])
    g = np.array([0.0, 1.0, 3.0])
    _, u = fit_transform(v, kind="cgf", weights=g)
    np.testing.assert_allclose(u, [0.0, 0.125, 0.625])


def test_cgf_with_all_zero_gradients_falls_back_to_the_cdf() -> None:
    v = np.array([4.0, 1.0, 3.0, 2.0])
    _, u_cgf = fit_transform(v, kind="cgf", weights=np.zeros(4))
    _, u_cdf = fit_transform(v, kind="cdf")
    np.testing.assert_array_equal(u_cgf, u_cdf)


@pytest.mark.parametrize("n", [200, 2_000, 20_000, 200_000])
@pytest.mark.parametrize("segments", [4, 8])
def test_cgf_equal_intervals_hold_equal_gradient_mass(n: int, segments: int) -> None:
    rng = np.random.default_rng(n)
    loss = rng.gamma(0.5, 2.0, n)  # skewed, like real losses
    g = np.sqrt(1 - np.exp(-loss)) + 0.05 * rng.random(n)  # grows with the loss
    _, u = fit_transform(loss, kind="cgf", weights=g)
    bins = np.minimum((u * segments).astype(int), segments - 1)
    share = np.bincount(bins, weights=g, minlength=segments) / g.sum()
    # Each interval's share is off by at most one instance's weight at each edge.
    tolerance = 2 * g.max() / g.sum()
    np.testing.assert_allclose(share, 1 / segments, atol=tolerance)
    # ... while the cdf does not equalise gradient mass on this data.
    _, u_cdf = fit_transform(loss, kind="cdf")
    cdf_bins = np.minimum((u_cdf * segments).astype(int), segments - 1)
    cdf_share = np.bincount(cdf_bins, weights=g, minlength=segments) / g.sum()
    assert np.abs(cdf_share - 1 / segments).max() > max(0.05, 3 * tolerance)


@settings(max_examples=80, deadline=None)
@given(
    values=hnp.arrays(np.float64, st.integers(1, 60), elements=finite),
    weights_seed=st.integers(0, 100),
    probe=hnp.arrays(np.float64, st.integers(1, 30), elements=finite),
    kind=st.sampled_from(["cdf", "cgf"]),
)
def test_transform_properties(
    values: np.ndarray, weights_seed: int, probe: np.ndarray, kind: str
) -> None:
    g = np.random.default_rng(weights_seed).random(values.size)
    t, u = fit_transform(values, kind=kind, weights=g)
    # Fit-and-map equals fit then map, and every output lies in [0, 1].
    np.testing.assert_allclose(u, t(values), atol=1e-12)
    assert np.all((u >= 0) & (u <= 1))
    # Monotone: on any values, seen or not, a larger value never maps lower.
    grid = np.sort(np.concatenate([values, probe]))
    mapped = t(grid)
    assert np.all((mapped >= 0) & (mapped <= 1))
    assert np.all(np.diff(mapped) >= -1e-12)
    # The fitted column's weighted mean of u is exactly one half (mid-ranks).
    w = np.ones_like(g) if kind == "cdf" or g.sum() == 0 else g
    assert abs(np.average(u, weights=w) - 0.5) < 1e-9


def test_round_trip_through_json() -> None:
    rng = np.random.default_rng(0)
    v = np.round(rng.normal(size=500), 2)  # with ties
    t = FittedTransform.fit(v, kind="cgf", weights=rng.random(500))
    again = FittedTransform.from_dict(json.loads(json.dumps(t.to_dict())))
    probe = np.linspace(-4, 4, 101)
    np.testing.assert_array_equal(again(probe), t(probe))
    assert again.kind == "cgf"


@pytest.mark.parametrize(
    ("values", "kind", "weights", "message"),
    [
        (np.array([1.0, np.nan]), "cdf", None, "entry 1 is nan"),
        (np.array([1.0, np.inf]), "cdf", None, "entry 1 is inf"),
        (np.array([1.0, 2.0]), "cgf", None, "needs the gradient norms"),
        (np.array([1.0, 2.0]), "cgf", np.array([1.0, -2.0]), r"entry 1 is -2\.0"),
        (np.array([1.0, 2.0]), "cgf", np.array([1.0]), "shape"),
        (np.array([1.0, 2.0]), "rank", None, "unknown transform 'rank'"),
        (np.array([]), "cdf", None, "empty"),
    ],
)
def test_bad_input(values, kind, weights, message) -> None:
    with pytest.raises(InputDataError, match=message):
        fit_transform(values, kind=kind, weights=weights)


def test_mapping_nan_is_rejected() -> None:
    t = FittedTransform.fit(np.array([1.0, 2.0]))
    with pytest.raises(InputDataError, match="finite"):
        t(np.array([np.nan]))

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from swift_sampler.errors import InputDataError, SchemaVersionError, SpecError
from swift_sampler.family import (
    SCHEMA_VERSION,
    SamplerSpec,
    family_weights,
    knots_to_theta,
    theta_to_knots,
    uniform_theta,
)


def _table(n: int = 400, seed: int = 0) -> np.ndarray:
    """A plausible (loss, er, grad_norm) table."""
    rng = np.random.default_rng(seed)
    loss = rng.gamma(0.6, 1.5, n)
    er = rng.beta(3, 1.5, n)
    g = np.sqrt(1 - np.exp(-loss))
    return np.stack([loss, er, g], axis=1).astype(np.float32)


def test_defaults_have_ten_parameters() -> None:
    spec = SamplerSpec()
    assert spec.features == ("loss", "er") and spec.num_segments == 4
    assert spec.num_params == 10 and len(spec.theta) == 10
    assert spec.columns == ("loss", "er", "grad_norm")


@pytest.mark.parametrize("transform", ["cdf", "cgf"])
def test_uniform_theta_gives_exactly_uniform_probabilities(transform: str) -> None:
    spec = SamplerSpec(transform=transform)  # type: ignore[arg-type]
    np.testing.assert_array_equal(spec.theta, uniform_theta())
    np.testing.assert_array_equal(spec.knots(), np.ones((2, 5)))
    table = _table() if transform == "cgf" else _table()[:, :2]
    p = spec.probabilities(table)
    assert np.all(p == 1 / len(table))
    assert spec.is_uniform


def test_knots_follow_the_clipped_increment_rule() -> None:
    theta = [0.2, 1.0, 1.0, 0.0, 0.75, 1.0, 0.5, 0.0, 0.0, 0.0]
    knots = theta_to_knots(theta, lipschitz=2.0)
    np.testing.assert_allclose(knots[0], [0.2, 0.7, 1.0, 0.5, 0.75])
    np.testing.assert_allclose(knots[1], [1.0, 1.0, 0.5, 0.0, 0.0])


@settings(max_examples=100, deadline=None)
@given(
    theta=hnp.arrays(np.float64, 15, elements=st.floats(0, 1)),
    lipschitz=st.floats(0.1, 10),
    u=hnp.arrays(np.float64, (30, 3), elements=st.floats(0, 1)),
    increments=st.sampled_from(["clipped", "scaled"]),
)
def test_family_invariants(
    theta: np.ndarray, lipschitz: float, u: np.ndarray, increments: str
) -> None:
    knots = theta_to_knots(
        theta, num_features=3, num_segments=4, lipschitz=lipschitz, increments=increments
    )
    assert np.all((knots >= 0) & (knots <= 1))
    # Slope of each piece = (difference of knots) / (1 / S) <= L.
    assert np.all(np.abs(np.diff(knots, axis=1)) * 4 <= lipschitz + 1e-9)
    tau = family_weights(knots, u)
    assert np.all(tau > 0) and np.all(np.isfinite(tau))
    # Weights are products of the piecewise-linear functions (where above the floor).
    grid = np.linspace(0, 1, 5)
    product = np.prod([np.interp(u[:, m], grid, knots[m]) for m in range(3)], axis=0)
    floor = 1e-6 * product.mean()
    if product.mean() > 0:
        np.testing.assert_allclose(tau, np.maximum(product, floor))


def test_weights_at_the_knots_are_the_knot_values() -> None:
    knots = np.array([[0.0, 0.5, 1.0, 0.5, 0.25], [1.0, 1.0, 1.0, 1.0, 1.0]])
    u = np.stack([np.linspace(0, 1, 5), np.full(5, 0.3)], axis=1)
    tau = family_weights(knots, u)
    np.testing.assert_allclose(tau[1:], knots[0, 1:])
    assert tau[0] == pytest.approx(1e-6 * knots[0].mean())  # the eps floor, not zero


def test_all_zero_products_fall_back_to_uniform() -> None:
    knots = np.zeros((2, 5))
    tau = family_weights(knots, np.random.default_rng(0).random((10, 2)))
    np.testing.assert_array_equal(tau, 1.0)


def test_a_noise_killing_sampler_discards_high_loss_low_er_instances() -> None:
    # h_loss falls to 0 at high loss, h_er falls to 0 at low Er: the product zeroes the
    # (high loss, low Er) corner where mislabelled instances sit.
    theta = [1, 0.5, 0.5, 0.0, 0.5, 0.0, 1.0, 0.5, 0.5, 0.5]  # knots (1,1,1,0,0), (0,1,1,1,1)
    spec = SamplerSpec(transform="cdf", lipschitz=4.0, theta=theta)
    rng = np.random.default_rng(1)
    clean = np.stack([rng.uniform(0, 1, 300), rng.uniform(0.5, 1, 300)], axis=1)
    noisy = np.stack([rng.uniform(3, 6, 100), rng.uniform(0, 0.2, 100)], axis=1)
    p = spec.probabilities(np.concatenate([clean, noisy]))
    np.testing.assert_allclose(spec.knots(), [[1, 1, 1, 0, 0], [0, 1, 1, 1, 1]])
    assert p[300:].sum() < 0.01
    assert p.sum() == pytest.approx(1.0)


def test_mapping_table_equals_array_table() -> None:
    table = _table()
    spec = SamplerSpec(theta=np.random.default_rng(0).random(10))
    by_name = {"grad_norm": table[:, 2], "loss": table[:, 0], "er": table[:, 1]}
    np.testing.assert_array_equal(spec.probabilities(table), spec.probabilities(by_name))


def test_json_round_trip(tmp_path) -> None:
    spec = SamplerSpec(
        features=("loss", "margin"),
        transform="cdf",
        num_segments=3,
        lipschitz=1.5,
        eps=1e-5,
        theta=np.random.default_rng(2).random(8),
        metadata={"val_top1": 0.91},
    )
    path = tmp_path / "sampler.json"
    spec.save(path)
    again = SamplerSpec.load(path)
    assert again == spec
    assert json.loads(path.read_text())["schema_version"] == SCHEMA_VERSION
    assert not list(tmp_path.glob(".sampler.json.*"))  # no temp file left behind


def test_history_is_saved_only_when_it_is_set(tmp_path) -> None:
    # A spec without history is written as before the field existed (older readers load
    # it); one with history round-trips, and an older reader would refuse it as unknown.
    assert "history" not in SamplerSpec().to_dict()
    spec = SamplerSpec(history=0.5, theta=np.random.default_rng(1).random(10))
    assert spec.to_dict()["history"] == 0.5
    spec.save(tmp_path / "h.json")
    again = SamplerSpec.load(tmp_path / "h.json")
    assert again == spec and again.with_theta([0.5] * 10).history == 0.5


def test_scaled_increments_have_no_plateau_where_clipped_ones_do() -> None:
    # From a_0 = 0.9 with L / S = 0.5, every theta_1 above 0.6 clips to a_1 = 1: one function
    # for a tenth of the box's volume and more. Scaled, the knot moves with its entry.
    theta = np.array([0.9, 0.7, 0.5, 0.5, 0.5, 1.0, 0.5, 0.5, 0.5, 0.5])
    other = theta.copy()
    other[1] = 0.9
    clipped = [theta_to_knots(t) for t in (theta, other)]
    scaled = [theta_to_knots(t, increments="scaled") for t in (theta, other)]
    np.testing.assert_array_equal(clipped[0], clipped[1])
    assert clipped[0][0, 1] == 1.0
    np.testing.assert_allclose(scaled[0][0, :2], [0.9, 0.9 + 0.4 * 0.1])
    np.testing.assert_allclose(scaled[1][0, :2], [0.9, 0.9 + 0.8 * 0.1])
    # Inside the box every entry moves some knot (no flat direction), at random points.
    rng = np.random.default_rng(0)
    for _ in range(200):
        t = rng.uniform(0.01, 0.99, 10)
        base = theta_to_knots(t, increments="scaled", lipschitz=8.0)
        for j in range(10):
            moved = t.copy()
            moved[j] += 0.005
            assert not np.array_equal(
                theta_to_knots(moved, increments="scaled", lipschitz=8.0), base
            )
    # A step is capped at L / S where there is more room: from 0.2, up by at most 0.5.
    capped = theta_to_knots([0.2, 1.0, 0.5, 0.5, 0.5] * 2, increments="scaled")
    np.testing.assert_allclose(capped[0], [0.2, 0.7, 0.7, 0.7, 0.7])
    np.testing.assert_allclose(
        theta_to_knots([0.8, 0.0, 0.25, 0.5, 0.5] * 2, increments="scaled")[0],
        [0.8, 0.3, 0.15, 0.15, 0.15],
    )
    # The uniform sampler is the same theta in both.
    u = uniform_theta()
    np.testing.assert_array_equal(theta_to_knots(u, increments="scaled"), np.ones((2, 5)))


@settings(max_examples=200, deadline=None)
@given(
    start=st.floats(0.0, 1.0),
    moves=hnp.arrays(np.float64, 4, elements=st.floats(-1.0, 1.0)),
    lipschitz=st.sampled_from([0.5, 2.0, 8.0]),
    increments=st.sampled_from(["clipped", "scaled"]),
)
def test_both_increments_reach_every_function_of_the_family(
    start: float, moves: np.ndarray, lipschitz: float, increments: str
) -> None:
    # Any knots in [0, 1] with steps of at most L / S: knots_to_theta finds a theta in the box
    # whose knots they are, in either parameterisation (so the two reach the same functions).
    knots = [start]
    for m in moves:
        knots.append(float(np.clip(knots[-1] + m * lipschitz / 4, 0.0, 1.0)))
    k = np.array([knots, knots[::-1]])
    theta = knots_to_theta(k, lipschitz=lipschitz, increments=increments)
    assert theta.shape == (10,) and np.all((theta >= 0) & (theta <= 1))
    back = theta_to_knots(theta, lipschitz=lipschitz, increments=increments)
    np.testing.assert_allclose(back, k, atol=1e-12)


def test_knots_to_theta_refuses_knots_outside_the_family() -> None:
    with pytest.raises(
        SpecError, match=r"knot 1 of feature 0 rises by 0\.8, steeper than L / S = 0\.5"
    ):
        knots_to_theta([[0.0, 0.8, 0.8]], lipschitz=1.0)
    with pytest.raises(
        SpecError, match=r"knots must lie in \[0, 1\], but knot 1 of feature 0 is 1\.2"
    ):
        knots_to_theta([[0.0, 1.2]], lipschitz=4.0)
    with pytest.raises(SpecError, match=r"knot 0 of feature 0 is nan"):
        knots_to_theta([[float("nan"), 0.5]], lipschitz=4.0)


def test_a_misspelled_parameterisation_or_bad_bound_is_refused() -> None:
    # Not quietly read as the clipped steps.
    with pytest.raises(SpecError, match=r"increments: must be one of \['clipped', 'scaled'\]"):
        theta_to_knots(uniform_theta(), increments="scale")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"increments: must be one of"):
        knots_to_theta(np.ones((2, 5)), increments="Scaled")  # type: ignore[arg-type]
    with pytest.raises(SpecError, match=r"lipschitz: must be a finite number > 0, got -1\.0"):
        knots_to_theta(np.ones((2, 5)), lipschitz=-1.0)
    with pytest.raises(SpecError, match=r"lipschitz: must be a finite number > 0, got 0\.0"):
        theta_to_knots(uniform_theta(), lipschitz=0.0)


def test_increments_are_saved_only_when_scaled(tmp_path) -> None:
    assert "increments" not in SamplerSpec().to_dict()
    theta = np.random.default_rng(2).random(10)
    spec = SamplerSpec(increments="scaled", theta=theta)
    assert spec.to_dict()["increments"] == "scaled"
    spec.save(tmp_path / "s.json")
    again = SamplerSpec.load(tmp_path / "s.json")
    assert again == spec and again.with_theta(theta).increments == "scaled"
    np.testing.assert_array_equal(again.knots(), theta_to_knots(theta, increments="scaled"))
    assert not np.array_equal(again.knots(), SamplerSpec(theta=theta).knots())
    with pytest.raises(SpecError, match=r"increments: must be one of \['clipped', 'scaled'\]"):
        SamplerSpec(increments="soft")


def test_draw_is_saved_only_when_stratified(tmp_path) -> None:
    assert "draw" not in SamplerSpec().to_dict()
    theta = np.random.default_rng(3).random(10)
    spec = SamplerSpec(draw="stratified", theta=theta)
    assert spec.to_dict()["draw"] == "stratified"
    spec.save(tmp_path / "s.json")
    again = SamplerSpec.load(tmp_path / "s.json")
    assert again == spec and again.with_theta(theta).draw == "stratified"
    # The draw does not change the probabilities, only how an epoch is drawn from them.
    np.testing.assert_array_equal(again.knots(), SamplerSpec(theta=theta).knots())
    with pytest.raises(SpecError, match=r"draw: must be one of \['iid', 'stratified'\]"):
        SamplerSpec(draw="poisson")


def test_other_schema_version_is_a_clear_error(tmp_path) -> None:
    path = tmp_path / "old.json"
    state = SamplerSpec().to_dict()
    state["schema_version"] = 0
    path.write_text(json.dumps(state))
    with pytest.raises(SchemaVersionError, match="schema version 0 is not supported"):
        SamplerSpec.load(path)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"theta": [0.5] * 9}, "10 entries"),
        (
            {"theta": [0.5] * 9 + [1.5]},
            r"theta\[9\]: must be a finite number in \[0, 1\], got 1\.5",
        ),
        ({"theta": [0.5] * 9 + [float("nan")]}, r"theta\[9\]: .* got nan"),
        (
            {"features": ("loss", "entropy")},
            "features: must be a non-empty list of distinct names .* got \\('loss', 'entropy'\\)",
        ),
        ({"transform": "rank"}, "transform: must be one of \\['cdf', 'cgf'\\], got 'rank'"),
        ({"num_segments": 0}, "num_segments: must be an integer >= 1, got 0"),
        ({"lipschitz": -1.0}, "lipschitz: must be a finite number > 0, got -1.0"),
        ({"eps": 0.0}, r"eps: must be a finite number in \(0, 1\), got 0.0"),
        ({"features": ("loss", "grad_norm")}, "grad_norm is the weight"),
        ({"history": 1.0}, r"history: must be a finite number in \[0, 1\), got 1.0"),
        ({"history": -0.5}, r"history: must be a finite number in \[0, 1\), got -0.5"),
    ],
)
def test_invalid_specs(kwargs: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        SamplerSpec(**kwargs)


def test_load_errors(tmp_path) -> None:
    with pytest.raises(SpecError, match="not found"):
        SamplerSpec.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(SpecError, match="not valid JSON"):
        SamplerSpec.load(bad)
    extra = tmp_path / "extra.json"
    extra.write_text(json.dumps({**SamplerSpec().to_dict(), "temperature": 2}))
    with pytest.raises(SpecError, match="unknown keys in sampler spec: \\['temperature'\\]"):
        SamplerSpec.load(extra)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (np.ones((5, 2)), r"shape \(n, 3\)"),
        (np.array([[0.1, 0.5, 0.2], [np.nan, 0.5, 0.2]]), "feature 'loss' .* row 1 is nan"),
        (np.array([[0.1, 0.5, 0.2], [-1.0, 0.5, 0.2]]), r"feature 'loss' .* row 1 is -1\.0"),
        (np.array([[0.1, 1.5, 0.2]]), r"feature 'er' .* row 0 is 1\.5"),
        (np.zeros((0, 3)), "empty"),
    ],
)
def test_bad_feature_tables(table: np.ndarray, message: str) -> None:
    with pytest.raises(InputDataError, match=message):
        SamplerSpec().probabilities(table)


def test_mapping_with_a_missing_column() -> None:
    with pytest.raises(InputDataError, match="lacks column 'grad_norm'"):
        SamplerSpec().probabilities({"loss": [0.1], "er": [0.5]})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"theta": 5}, r"theta: must be a list of numbers in \[0, 1\], got 5"),
        ({"theta": ["a"] * 10}, r"theta\[0\]: must be a finite number in \[0, 1\], got 'a'"),
        ({"features": 7}, "features: must be a non-empty list .*, got 7"),
    ],
)
def test_malformed_spec_files_are_spec_errors(tmp_path, change: dict, message: str) -> None:
    path = tmp_path / "sampler.json"
    path.write_text(json.dumps({**SamplerSpec().to_dict(), **change}))
    with pytest.raises(SpecError, match=message):
        SamplerSpec.load(path)
    with pytest.raises(SpecError, match="cannot read sampler file"):
        SamplerSpec.load(tmp_path)  # a directory


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        (
            {"theta": [10**400] + [0.5] * 9},
            "theta[0]: must be a finite number in [0, 1], got 1000",
        ),
        ({"eps": None}, "eps: must be a finite number in (0, 1), got None"),
        ({"metadata": None}, "metadata: must be a JSON object (a mapping with string keys), got"),
        ({"metadata": [1, 2]}, "metadata: must be a JSON object"),
        ({"features": [["loss"], "er"]}, "features: must be a non-empty list of distinct names"),
        ({"lipschitz": True}, "lipschitz: must be a finite number > 0, got True"),
        ({"num_segments": True}, "num_segments: must be an integer >= 1, got True"),
        ({"num_segments": 4.0}, "num_segments: must be an integer >= 1, got 4.0"),
        ({"eps": "1e-6"}, "eps: must be a finite number in (0, 1), got '1e-6'"),
        ({"transform": None}, "transform: must be one of ['cdf', 'cgf'], got None"),
    ],
)
def test_hostile_spec_files_name_the_field_and_value(tmp_path, change: dict, shown: str) -> None:
    # The same rules as the TOML config's [sampler] section: bools and null are not numbers,
    # and a number too large for a float is refused, not an OverflowError.
    path = tmp_path / "sampler.json"
    path.write_text(json.dumps({**SamplerSpec().to_dict(), **change}))
    with pytest.raises(SpecError) as info:
        SamplerSpec.load(path)
    assert shown in str(info.value)
    assert str(path) in str(info.value)


def test_a_boolean_schema_version_is_not_version_1(tmp_path) -> None:
    path = tmp_path / "sampler.json"
    path.write_text(json.dumps({**SamplerSpec().to_dict(), "schema_version": True}))
    with pytest.raises(SchemaVersionError, match="schema version True is not supported"):
        SamplerSpec.load(path)


def test_nan_in_a_spec_file_is_not_json(tmp_path) -> None:
    path = tmp_path / "sampler.json"
    path.write_text(json.dumps(SamplerSpec().to_dict()).replace("1e-06", "NaN"))
    with pytest.raises(SpecError, match="not valid JSON: NaN is not a JSON value"):
        SamplerSpec.load(path)


def test_spec_fields_are_checked_in_the_constructor_too() -> None:
    with pytest.raises(SpecError, match="eps: must be a finite number in \\(0, 1\\), got None"):
        SamplerSpec(eps=None)  # type: ignore[arg-type]
    # Every problem is listed, each with its field.
    with pytest.raises(SpecError, match=r"lipschitz: .*; eps: "):
        SamplerSpec(lipschitz=float("inf"), eps=2.0)
    # NumPy scalars are numbers and integers like Python's.
    spec = SamplerSpec(num_segments=np.int64(3), lipschitz=np.float32(2.5), theta=np.full(8, 0.5))
    assert spec.num_segments == 3 and type(spec.num_segments) is int
    assert spec.lipschitz == 2.5 and type(spec.lipschitz) is float
    assert spec.theta == (0.5,) * 8
    assert SamplerSpec.from_dict(spec.to_dict()) == spec


def test_noisy_or_drops_the_corner_the_product_cannot(tmp_path) -> None:
    # loss: h falls from 1 to 0 over the upper half; Er: h rises from 0 to 1 over the lower
    # half (L = 2, S = 4: a fall of 1 takes two segments)
    knots = np.array([[1.0, 1.0, 1.0, 0.5, 0.0], [0.0, 0.5, 1.0, 1.0, 1.0]])
    theta = knots_to_theta(knots)
    u = np.array(
        [
            [1.0, 0.0],  # high loss, low Er: a flipped label
            [1.0, 1.0],  # high loss, high Er: a hard clean instance
            [0.0, 0.0],  # low loss, low Er: an easy, confident clean instance
            [0.0, 1.0],  # low loss, high Er
            [0.75, 0.25],  # halfway on both
        ]
    )
    product = SamplerSpec(theta=theta).weights(u)
    noisy_or = SamplerSpec(theta=theta, combine="noisy_or").weights(u)
    floor = 1e-6
    # the product zeroes both bands: the hard clean and the easy instance go with the corner
    np.testing.assert_allclose(product[:4], [0.0, 0.0, 0.0, 1.0], atol=floor)
    # the noisy-or zeroes the corner alone
    np.testing.assert_allclose(noisy_or[:4], [0.0, 1.0, 1.0, 1.0], atol=floor)
    assert product[4] == pytest.approx(0.25) and noisy_or[4] == pytest.approx(0.75)
    # the uniform theta is uniform either way; one h at the constant 1 makes noisy-or uniform
    assert SamplerSpec(combine="noisy_or").is_uniform
    keep_all = knots_to_theta(np.array([[1.0] * 5, [0.0, 0.5, 1.0, 1.0, 1.0]]))
    spec = SamplerSpec(theta=keep_all, combine="noisy_or")
    assert spec.is_uniform and not SamplerSpec(theta=keep_all).is_uniform
    np.testing.assert_array_equal(spec.weights(u), np.ones(len(u)))
    # saved only when it is not the product, and read back
    assert "combine" not in SamplerSpec().to_dict()
    other = SamplerSpec(theta=theta, combine="noisy_or")
    other.save(tmp_path / "s.json")
    again = SamplerSpec.load(tmp_path / "s.json")
    assert again == other and again.with_theta(theta).combine == "noisy_or"
    with pytest.raises(SpecError, match=r"combine: must be one of \['product', 'noisy_or'\]"):
        SamplerSpec(combine="and")
    with pytest.raises(SpecError, match=r"combine: must be one of \['product', 'noisy_or'\]"):
        family_weights(knots, u, combine="or")
    # with one feature the two are the same function
    one = knots_to_theta(knots[:1])
    np.testing.assert_array_equal(
        SamplerSpec(features=("loss",), theta=one).weights(u[:, :1]),
        SamplerSpec(features=("loss",), theta=one, combine="noisy_or").weights(u[:, :1]),
    )
    # every h at 0: no weight is left, and both fall back to uniform, which is_uniform says
    zero = knots_to_theta(np.zeros((2, 5)))
    for combine in ("product", "noisy_or"):
        zeros = SamplerSpec(theta=zero, combine=combine)
        np.testing.assert_array_equal(zeros.weights(u), np.ones(len(u)))
        assert zeros.is_uniform
    # one h at the constant 0 zeroes every product: uniform too
    half = knots_to_theta(np.array([[0.0] * 5, [0.0, 0.5, 1.0, 1.0, 1.0]]))
    assert SamplerSpec(theta=half).is_uniform
    np.testing.assert_array_equal(SamplerSpec(theta=half).weights(u), np.ones(len(u)))


def test_swift_sampler_draws_the_noisy_or_of_its_spec_after_updates() -> None:
    from swift_sampler.sampler import SwiftSampler

    rng = np.random.default_rng(4)
    theta = [1.0, 0.5, 0.5, 0.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5]
    spec = SamplerSpec(theta=theta, combine="noisy_or")
    tables = [
        np.column_stack([rng.exponential(size=200), rng.random(200), rng.random(200)])
        for _ in range(2)
    ]
    sampler = SwiftSampler.from_spec(spec, tables[0], seed=0)
    for i, table in enumerate(tables):
        if i:
            sampler.update(table)
        np.testing.assert_allclose(sampler.probabilities, spec.probabilities(table), rtol=1e-12)
        product = SamplerSpec(theta=theta).probabilities(table)
        assert not np.allclose(sampler.probabilities, product)


def test_refresh_is_saved_only_when_once_and_read_back(tmp_path) -> None:
    theta = np.linspace(0.1, 0.9, 10)
    assert "refresh" not in SamplerSpec(theta=theta).to_dict()
    once = SamplerSpec(theta=theta, refresh="once")
    once.save(tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text())["refresh"] == "once"
    again = SamplerSpec.load(tmp_path / "s.json")
    assert again == once and again.with_theta(theta[::-1]).refresh == "once"
    # the probabilities themselves do not depend on it
    table = np.random.default_rng(0).random((50, 3))
    np.testing.assert_array_equal(
        once.probabilities(table), SamplerSpec(theta=theta).probabilities(table)
    )
    with pytest.raises(SpecError, match=r"refresh: must be one of \['every_epoch', 'once'\]"):
        SamplerSpec(refresh="never")

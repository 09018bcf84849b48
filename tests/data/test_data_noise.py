"""Label-noise injection: exact counts, every flip changes the label, uniform / pair /
instance-dependent targets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swift_sampler.data import NoiseType, inject_label_noise
from swift_sampler.errors import InputDataError

# 0.999 quantile of chi-square with 10 * 8 = 80 degrees of freedom (scipy.stats.chi2.ppf), hard
# coded because scipy is not a dev dependency. With fixed seeds the tests are deterministic; the
# quantile only says how surprising a failure would be.
CHI2_80_DF_999 = 124.84


def _flip_table(clean: np.ndarray, noisy: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts of flipped labels, ``(C, C)``: row = clean class, column = noisy class."""
    flipped = clean != noisy
    table = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(table, (clean[flipped], noisy[flipped]), 1)
    return table


def _chi2_uniform_over_other_classes(table: np.ndarray) -> float:
    """Chi-square statistic of each row being uniform over its C - 1 off-diagonal cells."""
    num_classes = len(table)
    stat = 0.0
    for c in range(num_classes):
        observed = np.delete(table[c], c).astype(float)
        expected = observed.sum() / (num_classes - 1)
        stat += float(((observed - expected) ** 2 / expected).sum())
    return stat


@pytest.fixture(scope="module")
def clean_labels() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 10, size=20_000)


def _inputs(n: int, seed: int = 0, d: int = 12) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)


@pytest.mark.parametrize("kind", ["symmetric", "pair", "instance"])
@pytest.mark.parametrize("rate", [0.0, 0.1, 0.25, 0.5, 0.8])
def test_flips_exactly_round_rate_n_labels_and_each_flip_changes_the_label(
    clean_labels: np.ndarray, kind: NoiseType, rate: float
) -> None:
    noisy, mask = inject_label_noise(
        clean_labels,
        num_classes=10,
        rate=rate,
        kind=kind,
        seed=3,
        inputs=_inputs(len(clean_labels)) if kind == "instance" else None,
    )
    assert mask.dtype == np.bool_ and noisy.dtype == np.int64
    assert mask.sum() == round(rate * len(clean_labels))
    np.testing.assert_array_equal(mask, noisy != clean_labels)
    np.testing.assert_array_equal(noisy[~mask], clean_labels[~mask])
    assert noisy.min() >= 0 and noisy.max() < 10


def test_effective_rate_equals_nominal_rate_on_an_odd_size() -> None:
    labels = np.arange(1_001) % 7
    _, mask = inject_label_noise(labels, num_classes=7, rate=0.3, seed=0)
    assert mask.sum() == 300  # round(300.3)


def test_symmetric_targets_are_uniform_over_the_other_classes(clean_labels: np.ndarray) -> None:
    noisy, _ = inject_label_noise(clean_labels, num_classes=10, rate=0.6, seed=11)
    table = _flip_table(clean_labels, noisy, 10)
    assert np.trace(table) == 0
    assert _chi2_uniform_over_other_classes(table) < CHI2_80_DF_999


def test_the_uniformity_check_rejects_pair_noise(clean_labels: np.ndarray) -> None:
    # The chi-square check above must be able to fail: pair noise is as non-uniform as it gets.
    noisy, _ = inject_label_noise(clean_labels, num_classes=10, rate=0.6, kind="pair", seed=11)
    table = _flip_table(clean_labels, noisy, 10)
    assert _chi2_uniform_over_other_classes(table) > 10 * CHI2_80_DF_999


def test_pair_noise_maps_each_class_to_the_next_one(clean_labels: np.ndarray) -> None:
    noisy, mask = inject_label_noise(clean_labels, num_classes=10, rate=0.4, kind="pair", seed=5)
    np.testing.assert_array_equal(noisy[mask], (clean_labels[mask] + 1) % 10)
    table = _flip_table(clean_labels, noisy, 10)
    assert table[9, 0] > 0  # the last class wraps to 0
    assert table.sum() == np.trace(np.roll(table, -1, axis=1))  # nothing off the c -> c+1 cells


def test_flipped_instances_are_spread_over_all_classes(clean_labels: np.ndarray) -> None:
    _, mask = inject_label_noise(clean_labels, num_classes=10, rate=0.2, seed=2)
    per_class = np.bincount(clean_labels[mask], minlength=10) / np.bincount(clean_labels)
    np.testing.assert_allclose(per_class, 0.2, atol=0.04)


def test_same_seed_gives_identical_noise_and_another_seed_differs(
    clean_labels: np.ndarray,
) -> None:
    first = inject_label_noise(clean_labels, num_classes=10, rate=0.3, seed=7)
    again = inject_label_noise(clean_labels, num_classes=10, rate=0.3, seed=7)
    other = inject_label_noise(clean_labels, num_classes=10, rate=0.3, seed=8)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


def test_input_is_not_modified_and_global_rng_is_untouched() -> None:
    labels = np.arange(100) % 10
    before = labels.copy()
    np.random.seed(0)  # noqa: NPY002
    expected = np.random.random()  # noqa: NPY002
    np.random.seed(0)  # noqa: NPY002
    inject_label_noise(labels, num_classes=10, rate=0.5, seed=0)
    np.testing.assert_array_equal(labels, before)
    assert np.random.random() == expected  # noqa: NPY002


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": 1.0}, "noise rate must be a number in [0, 1), got 1.0"),
        ({"rate": -0.1}, "got -0.1"),
        ({"rate": float("nan")}, "got nan"),
        ({"rate": "0.2"}, "got '0.2'"),
        (
            {"kind": "asymmetric"},
            "noise type must be one of ['symmetric', 'pair', 'instance'], got 'asymmetric'",
        ),
        ({"num_classes": 1}, "num_classes must be >= 2"),
        ({"num_classes": 3}, "labels must be < num_classes=3, but entry 3 is 3"),
        ({"seed": -1}, "seed must be a non-negative integer, got -1"),
    ],
)
def test_bad_arguments_raise_input_data_error_naming_the_value(
    kwargs: dict[str, object], message: str
) -> None:
    arguments: dict[str, object] = {"num_classes": 10, "rate": 0.2, "kind": "symmetric", "seed": 0}
    arguments.update(kwargs)
    with pytest.raises(InputDataError) as info:
        inject_label_noise(np.arange(10), **arguments)  # type: ignore[arg-type]
    assert message in str(info.value)


@pytest.mark.parametrize(
    "labels", [np.array([0.0, 1.0]), np.zeros((2, 2), int), np.array([-1, 0])]
)
def test_bad_labels_raise_input_data_error(labels: np.ndarray) -> None:
    with pytest.raises(InputDataError, match="labels must"):
        inject_label_noise(labels, num_classes=3, rate=0.5, seed=0)


@settings(max_examples=60, deadline=None)
@given(
    num_classes=st.integers(2, 12),
    n=st.integers(1, 300),
    rate=st.floats(0.0, 0.999),
    kind=st.sampled_from(["symmetric", "pair", "instance"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_noise_invariants(
    num_classes: int, n: int, rate: float, kind: NoiseType, seed: int
) -> None:
    clean = np.random.default_rng(seed).integers(0, num_classes, size=n)
    inputs = _inputs(n, seed % 1000, d=3) if kind == "instance" else None
    noisy, mask = inject_label_noise(
        clean, num_classes=num_classes, rate=rate, kind=kind, seed=seed, inputs=inputs
    )
    assert mask.sum() == round(rate * n)
    np.testing.assert_array_equal(mask, noisy != clean)
    assert ((noisy >= 0) & (noisy < num_classes)).all()
    if kind == "pair":
        np.testing.assert_array_equal(noisy[mask], (clean[mask] + 1) % num_classes)


# Instance-dependent noise (Xia et al.'s generator with an exact count).


def _two_looks(n: int, d: int = 400) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels in 10 classes; each instance is one of two looks, +v or -v, plus a little
    jitter: (labels, inputs, look)."""
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 10, size=n)
    look = rng.integers(0, 2, size=n)
    v = rng.normal(size=d)
    inputs = np.where(look[:, None] == 1, v, -v) + 0.01 * rng.normal(size=(n, d))
    return labels, inputs, look


def test_instance_noise_mislabels_alike_inputs_alike() -> None:
    # Two looks per class, 400 input columns: the annotator's logits have a standard deviation
    # of about 20, so its softmax is mostly close to an argmax (where the two largest logits
    # are close it is not): most flipped instances of a class and look take the same new
    # class. Symmetric noise would spread them over 9 classes (top share about 1/9).
    labels, inputs, look = _two_looks(20_000)
    noisy, mask = inject_label_noise(
        labels, num_classes=10, rate=0.4, kind="instance", seed=1, inputs=inputs
    )
    assert mask.sum() == 8_000
    shares = []
    for c in range(10):
        for g in (0, 1):
            rows = mask & (labels == c) & (look == g)
            shares.append(np.bincount(noisy[rows], minlength=10).max() / rows.sum())
    assert np.median(shares) > 0.95 and min(shares) > 0.4
    # And the two looks of a class are not mislabelled alike everywhere: the targets depend on
    # the input, not only on the class (as pair noise's do).
    targets = [
        np.bincount(noisy[mask & (labels == c) & (look == g)], minlength=10).argmax()
        for c in range(10)
        for g in (0, 1)
    ]
    assert sum(targets[2 * c] != targets[2 * c + 1] for c in range(10)) >= 5


def test_instance_noise_one_annotator_two_draws() -> None:
    # Train and val: another seed chooses other labels to flip, the same annotator_seed maps
    # alike inputs to the same new class; another annotator maps them elsewhere.
    labels, inputs, _ = _two_looks(4_000)
    kwargs = {"num_classes": 10, "rate": 0.4, "kind": "instance", "inputs": inputs}
    first = inject_label_noise(labels, seed=1, annotator_seed=9, **kwargs)  # type: ignore[arg-type]
    second = inject_label_noise(labels, seed=2, annotator_seed=9, **kwargs)  # type: ignore[arg-type]
    other = inject_label_noise(labels, seed=2, annotator_seed=10, **kwargs)  # type: ignore[arg-type]
    assert not np.array_equal(first[1], second[1])
    both = first[1] & second[1]
    assert both.sum() > 400
    assert (first[0][both] == second[0][both]).mean() > 0.8
    both_other = first[1] & other[1]
    assert (first[0][both_other] == other[0][both_other]).mean() < 0.5


def test_instance_noise_is_seeded_and_annotator_defaults_to_seed() -> None:
    labels, inputs, _ = _two_looks(2_000)
    kwargs = {"num_classes": 10, "rate": 0.3, "kind": "instance", "inputs": inputs}
    a = inject_label_noise(labels, seed=4, **kwargs)  # type: ignore[arg-type]
    b = inject_label_noise(labels, seed=4, annotator_seed=4, **kwargs)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_instance_noise_draws_from_the_annotators_softmax_over_the_other_classes() -> None:
    # One input column, small logits: the new classes of a class's flipped rows follow
    # softmax(z W_c) without the own class, W rebuilt from the annotator's stream (one (d, C)
    # matrix per class in class order). Every row has the same look (z = 1 after standardising
    # the two values 0 and 2 around their mean), so one distribution per class.
    n = 60_000
    labels = np.tile(np.arange(3), n // 3)
    inputs = np.where(np.arange(n) % 2 == 0, 2.0, 0.0)[:, None] * 0.1
    noisy, mask = inject_label_noise(
        labels, num_classes=3, rate=0.5, kind="instance", seed=0, inputs=inputs, annotator_seed=7
    )
    weights = np.random.default_rng([7, 0x1D]).standard_normal((3, 1, 3))
    for c in range(3):
        for z, rows in ((1.0, np.arange(n) % 2 == 0), (-1.0, np.arange(n) % 2 == 1)):
            logits = z * weights[c, 0]
            logits[c] = -np.inf
            expected = np.exp(logits - logits.max())
            expected /= expected.sum()
            chosen = mask & rows & (labels == c)
            observed = np.bincount(noisy[chosen], minlength=3) / chosen.sum()
            np.testing.assert_allclose(observed, expected, atol=0.02)


def test_instance_noise_uses_one_matrix_per_class() -> None:
    # The same input under two labels goes through two annotator matrices: the new classes of
    # class 0's and class 1's flipped rows are not the same function of the input.
    n = 20_000
    look = np.arange(n) % 2
    labels = np.where(np.arange(n) % 4 < 2, 0, 1)
    inputs = np.where(look[:, None] == 1, 1.0, -1.0) * np.linspace(1, 2, 300)
    noisy, mask = inject_label_noise(
        labels, num_classes=12, rate=0.4, kind="instance", seed=2, inputs=inputs
    )
    # Most probable new class per (class, look); with 300 columns each is nearly an argmax.
    top = {
        (c, g): np.bincount(noisy[mask & (labels == c) & (look == g)], minlength=12).argmax()
        for c in (0, 1)
        for g in (0, 1)
    }
    assert (top[0, 0], top[0, 1]) != (top[1, 0], top[1, 1])


def test_instance_noise_standardises_by_the_reference_rows() -> None:
    # A split holding one look only: standardised by itself, its rows are jitter around a
    # constant, so their new classes scatter; standardised by the rows of both looks (the
    # reference both splits share), they are the look itself and a class's flipped rows mostly
    # take one new class, as in the whole set.
    labels, inputs, look = _two_looks(8_000)
    part = look == 0
    kwargs = {"num_classes": 10, "rate": 0.4, "kind": "instance", "seed": 1}

    def median_top_share(reference: np.ndarray | None) -> float:
        noisy, mask = inject_label_noise(
            labels[part],
            inputs=inputs[part],
            reference_inputs=reference,
            **kwargs,  # type: ignore[arg-type]
        )
        shares = [
            np.bincount(noisy[mask & (labels[part] == c)], minlength=10).max()
            / (mask & (labels[part] == c)).sum()
            for c in range(10)
        ]
        return float(np.median(shares))

    assert median_top_share(inputs) > 0.9
    assert median_top_share(None) < 0.5


def test_instance_noise_constant_columns_are_zero_whatever_their_rounding() -> None:
    # 0.1 is not exact in binary: its column's mean rounds, and a standard deviation of about
    # 1e-17 must still count as constant (z = 0), as an exact 0.0 column does.
    labels, inputs, _ = _two_looks(3_000, d=8)
    kwargs = {"num_classes": 10, "rate": 0.4, "kind": "instance", "seed": 3}
    tenth = np.column_stack([inputs, np.full(len(labels), 0.1)])
    zero = np.column_stack([inputs, np.zeros(len(labels))])
    a = inject_label_noise(labels, inputs=tenth, **kwargs)  # type: ignore[arg-type]
    b = inject_label_noise(labels, inputs=zero, **kwargs)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a[0], b[0])


def test_instance_noise_leaves_its_inputs_and_the_global_rng_alone() -> None:
    labels, inputs, _ = _two_looks(500, d=6)
    before = inputs.copy()
    np.random.seed(0)  # noqa: NPY002
    expected = np.random.random()  # noqa: NPY002
    np.random.seed(0)  # noqa: NPY002
    inject_label_noise(labels, num_classes=10, rate=0.5, kind="instance", seed=0, inputs=inputs)
    np.testing.assert_array_equal(inputs, before)
    assert np.random.random() == expected  # noqa: NPY002


def test_instance_noise_scales_inputs_per_column() -> None:
    # A constant column and a column scaled by 1000 change nothing: each column is standardised
    # over the inputs given (a constant one is 0).
    labels, inputs, _ = _two_looks(3_000, d=8)
    wide = np.column_stack([inputs[:, :4] * 1000.0, np.full(len(labels), 7.0), inputs[:, 4:]])
    base = np.column_stack([inputs[:, :4], np.zeros(len(labels)), inputs[:, 4:]])
    kwargs = {"num_classes": 10, "rate": 0.4, "kind": "instance", "seed": 3}
    a = inject_label_noise(labels, inputs=wide, **kwargs)  # type: ignore[arg-type]
    b = inject_label_noise(labels, inputs=base, **kwargs)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a[1], b[1])
    assert (a[0] == b[0]).mean() > 0.99


def test_instance_noise_bad_inputs_are_every_problem_in_one_message() -> None:
    labels = np.arange(20) % 10
    with pytest.raises(InputDataError) as info:
        inject_label_noise(labels, num_classes=10, rate=0.2, kind="instance", seed=0)
    assert "noise type 'instance' needs the inputs" in str(info.value)
    with pytest.raises(InputDataError) as info:
        inject_label_noise(
            labels,
            num_classes=10,
            rate=2.0,
            kind="instance",
            seed=0,
            inputs=np.zeros((19, 3)),
            annotator_seed=-1,
        )
    message = str(info.value)
    assert "noise rate must be a number in [0, 1), got 2.0" in message
    assert "annotator_seed must be a non-negative integer, got -1" in message
    assert "needs one row of inputs per label (20), got 19" in message
    bad = np.zeros((20, 3))
    bad[4, 1] = np.nan
    for extra, problem in (
        ({"inputs": bad}, "needs finite inputs, got NaN or inf"),
        ({"inputs": np.float64(3.0)}, "needs real-valued inputs, got shape () of dtype float64"),
        ({"inputs": np.zeros((20, 2), complex)}, "needs real-valued inputs, got shape (20, 2)"),
        ({"inputs": np.array(["a"] * 20)}, "got shape (20,) of dtype <U1"),
        ({"inputs": [[1.0], [2.0, 3.0]]}, "inputs are not an array of numbers"),
        ({"inputs": np.full((20, 2), 1e308)}, "too large to standardise"),
        (
            {"inputs": np.zeros((20, 3)), "reference_inputs": np.zeros((5, 4))},
            "reference_inputs rows have 4 values, the inputs' 3",
        ),
    ):
        with pytest.raises(InputDataError) as info:
            inject_label_noise(labels, num_classes=10, rate=0.2, kind="instance", seed=0, **extra)  # type: ignore[arg-type]
        assert problem in str(info.value)
    # The other kinds ignore inputs and the annotator.
    noisy, _ = inject_label_noise(labels, num_classes=10, rate=0.2, seed=0, inputs=bad)
    np.testing.assert_array_equal(
        noisy, inject_label_noise(labels, num_classes=10, rate=0.2, seed=0)[0]
    )

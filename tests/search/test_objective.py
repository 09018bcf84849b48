from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

from swift_sampler import SamplerSpec, SwiftSampler
from swift_sampler.errors import ConfigError, InputDataError
from swift_sampler.models import MLP
from swift_sampler.search.objective import InnerLoop
from swift_sampler.train import ClassificationTrainer, TrainConfig


def _trainer(digits, *, lr: float = 0.1, epochs: int = 4) -> ClassificationTrainer:
    x, y = digits
    order = np.random.default_rng(0).permutation(len(y))
    xt, yt = torch.from_numpy(x[order]), torch.from_numpy(y[order])
    return ClassificationTrainer(
        MLP,
        TensorDataset(xt[:1000], yt[:1000]),
        TensorDataset(xt[1000:1300], yt[1000:1300]),
        TensorDataset(xt[1300:], yt[1300:]),
        config=TrainConfig(epochs=epochs, lr=lr),
        seed=0,
    )


def test_windows_tail_and_compressed(digits) -> None:
    trainer = _trainer(digits, epochs=20)
    tail = InnerLoop(trainer, shared_epochs=15, finetune_epochs=5, schedule="tail")
    compressed = InnerLoop(trainer, shared_epochs=15, finetune_epochs=5)
    assert tail.windows() == compressed.windows() == [(15 + j, 16 + j) for j in range(5)]
    squeezed = InnerLoop(trainer, shared_epochs=5, finetune_epochs=3).windows()
    assert squeezed == [(5.0, 10.0), (10.0, 15.0), (15.0, 20.0)]
    with pytest.raises(ConfigError, match="must not exceed"):
        InnerLoop(trainer, shared_epochs=15, finetune_epochs=6, schedule="tail")
    with pytest.raises(ConfigError, match="shared_epochs must be in"):
        InnerLoop(trainer, shared_epochs=20, finetune_epochs=1)


def test_scores_are_deterministic_and_the_shared_start_is_not_modified(digits, tmp_path) -> None:
    inner = InnerLoop(_trainer(digits), shared_epochs=2, finetune_epochs=2)
    inner.train_shared_start(tmp_path / "shared.pt")
    spec = SamplerSpec(theta=np.random.default_rng(0).random(10))
    first = inner.evaluate(spec)
    inner.evaluate(SamplerSpec())  # another candidate in between
    again = inner.evaluate(spec)
    assert first.score == again.score and not first.diverged
    assert 0.3 < first.score <= 1.0


def test_a_diverging_candidate_scores_zero(digits, tmp_path) -> None:
    inner = InnerLoop(_trainer(digits, lr=1e9), shared_epochs=1, finetune_epochs=1)
    inner.train_shared_start(tmp_path / "shared.pt")
    score = inner.evaluate(SamplerSpec())
    assert score.diverged and score.score == 0.0


def test_a_feature_table_for_another_dataset_is_refused(digits) -> None:
    trainer = _trainer(digits)
    state = trainer.new_state()
    sampler = SwiftSampler(np.ones(500))  # the training set has 1000 instances
    with pytest.raises(InputDataError, match="covers 500 instances but the training set has 1000"):
        trainer.train_epoch(state, sampler)


def test_new_state_leaves_the_global_rng_alone(digits) -> None:
    trainer = _trainer(digits)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    trainer.new_state(seed=5)
    assert torch.equal(torch.rand(3), expected)


def test_loading_a_checkpoint_from_another_epoch_is_refused(digits, tmp_path: Path) -> None:
    trainer = _trainer(digits)
    inner = InnerLoop(trainer, shared_epochs=2, finetune_epochs=2)
    shared = inner.train_shared_start(tmp_path / "shared.pt")
    other = InnerLoop(trainer, shared_epochs=1, finetune_epochs=2)
    with pytest.raises(ConfigError, match="is at epoch 2, expected 1"):
        other.load_shared_start(shared.path, shared.sha256)


def test_a_changed_shared_checkpoint_is_refused_with_how_to_recover(
    digits, tmp_path: Path
) -> None:
    inner = InnerLoop(_trainer(digits), shared_epochs=1, finetune_epochs=1)
    shared = inner.train_shared_start(tmp_path / "shared.pt")
    # Set-up (building the model and optimiser) is timed apart from the training epochs.
    assert shared.setup_seconds > 0 and shared.seconds > 0
    data = bytearray(shared.path.read_bytes())
    data[-10] ^= 0xFF
    shared.path.write_bytes(bytes(data))
    with pytest.raises(InputDataError, match="SHA-256") as info:
        inner.load_shared_start(shared.path, shared.sha256)
    assert "restore the original shared.pt" in str(info.value)
    assert "--fresh" in str(info.value) and "new run directory" in str(info.value)


def test_a_noisy_or_spec_draws_its_own_weights_on_every_path(digits, tmp_path) -> None:
    # The first epoch (the shared start's cached features) and every refresh draw from the
    # noisy-or of the current features, not from their product.
    trainer = _trainer(digits, epochs=5)
    theta = [1.0, 0.5, 0.5, 0.0, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5]  # high loss AND low Er -> 0
    spec = SamplerSpec(theta=theta, combine="noisy_or")
    product = SamplerSpec(theta=theta)
    seen: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    real = trainer.train_epoch

    def spy(state, sampler=None, **kwargs):  # the features the epoch's sampler was built on
        if isinstance(sampler, SwiftSampler):
            features = trainer.features(state, spec.columns)
            expected = (spec.probabilities(features), product.probabilities(features))
            seen.append((sampler.probabilities.copy(), *expected))
        return real(state, sampler, **kwargs)

    trainer.train_epoch = spy  # type: ignore[method-assign]
    inner = InnerLoop(trainer, shared_epochs=2, finetune_epochs=3, schedule="tail")
    inner.train_shared_start(tmp_path / "shared.pt")
    inner.evaluate(spec)
    assert len(seen) == 3
    for drawn, noisy_or, prod in seen:
        np.testing.assert_allclose(drawn, noisy_or, rtol=1e-12)
        assert not np.allclose(drawn, prod)


def test_a_once_refreshed_spec_keeps_the_shared_starts_probabilities(digits, tmp_path) -> None:
    # refresh = "once": every fine-tune epoch draws from the shared start's features, also
    # after a pause and resume; the default refreshes, so its later epochs draw otherwise.
    trainer = _trainer(digits, epochs=6)
    theta = [1.0, 0.5, 0.5, 0.0, 0.0, 1.0, 0.5, 0.5, 0.5, 0.5]  # drops the high losses
    once = SamplerSpec(theta=theta, refresh="once")
    drawn: list[np.ndarray] = []
    real = trainer.train_epoch

    def spy(state, sampler=None, **kwargs):
        if isinstance(sampler, SwiftSampler):
            drawn.append(sampler.probabilities.copy())
        return real(state, sampler, **kwargs)

    trainer.train_epoch = spy  # type: ignore[method-assign]
    inner = InnerLoop(trainer, shared_epochs=2, finetune_epochs=4, schedule="tail")
    shared = inner.train_shared_start(tmp_path / "shared.pt")
    first = once.probabilities(trainer.features(inner.shared_state(), once.columns))
    straight = inner.evaluate(once)
    assert len(drawn) == 4 and not np.allclose(first, first.mean())
    for p in drawn:
        np.testing.assert_array_equal(p, first)
    drawn.clear()
    paused = inner.evaluate(once, stop_at=2)
    resumed = inner.evaluate(once, resume_from=paused.paused)
    assert resumed.score == straight.score and len(drawn) == 4
    for p in drawn:
        np.testing.assert_array_equal(p, first)
    drawn.clear()
    # The path every search takes: the shared start's features computed once for all.
    inner.prepare_shared_features(once.columns, tmp_path / "features.npz", shared.sha256)
    assert inner.evaluate(once).score == straight.score and len(drawn) == 4
    for p in drawn:
        np.testing.assert_array_equal(p, first)
    drawn.clear()
    inner.evaluate(SamplerSpec(theta=theta))  # every_epoch: epochs 1-3 draw fresh features
    np.testing.assert_array_equal(drawn[0], first)
    assert all(not np.array_equal(p, first) for p in drawn[1:])
    assert shared.path.exists()


def test_a_stratified_spec_is_drawn_stratified_on_every_path(digits, tmp_path) -> None:
    # The first epoch (the shared start's features), the refreshes and a paused and resumed
    # candidate all draw each instance floor(N p_i) or ceil(N p_i) times, never i.i.d.
    trainer = _trainer(digits, epochs=6)
    drawn: list[tuple[np.ndarray, np.ndarray]] = []
    real = trainer.train_epoch

    def spy(state, sampler=None, **kwargs):  # records what the real epoch trains on
        if isinstance(sampler, SwiftSampler):
            sampler.set_epoch(state.epoch)
            assert sampler.stratified
            drawn.append((sampler.indices(), sampler.probabilities.copy()))
        return real(state, sampler, **kwargs)

    trainer.train_epoch = spy  # type: ignore[method-assign]
    inner = InnerLoop(trainer, shared_epochs=2, finetune_epochs=4, schedule="tail")
    inner.train_shared_start(tmp_path / "shared.pt")
    theta = [1.0, 0.0, 0.0, 0.5, 0.5, 1.0, 0.5, 0.5, 0.5, 0.5]  # drops high losses
    spec = SamplerSpec(theta=theta, draw="stratified")
    whole = inner.evaluate(spec)
    paused = inner.evaluate(spec, stop_at=2)
    resumed = inner.evaluate(spec, resume_from=paused.paused)
    assert resumed.score == whole.score
    assert len(drawn) == 4 + 2 + 2
    for indices, p in drawn:
        counts = np.bincount(indices, minlength=p.size)
        expected = indices.size * p
        assert np.all(counts >= np.floor(expected)) and np.all(counts <= np.ceil(expected))
    assert any(np.any(p * p.size < 0.5) for _, p in drawn)  # the cut acted

"""Final training with a found sampler, the uniform baseline beside it, and Figure 1's arrays.

SPEC section 7: the target network is trained from scratch for the full schedule, uniformly
for the first ``E_s`` epochs, then under the found sampler with features refreshed every epoch
(the regime the search scored), or computed once at ``E_s`` with ``spec.refresh = "once"``.
The uniform arm uses the same seed, data and schedule. Test Top-1 is measured every epoch.
Transfer is the same call with another model in the config: only the sampler spec moves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from swift_sampler.family import SamplerSpec
from swift_sampler.sampler import SwiftSampler
from swift_sampler.train import Trainer, TrainState
from swift_sampler.transforms import fit_transform

__all__ = ["ArmRun", "figure1_arrays", "final_training", "summarise_arms"]

logger = logging.getLogger(__name__)


@dataclass
class ArmRun:
    """One arm (``"swift"`` or ``"uniform"``) trained with one seed."""

    arm: str
    seed: int
    test_top1: list[float] = field(default_factory=list)
    val_top1: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    noisy_share: list[float] = field(default_factory=list)
    """Per epoch, the sampling mass on the known-noisy labels; empty without a noise mask."""
    seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Curves and the two reported numbers: test Top-1 at the last epoch and at the epoch
        of best validation Top-1 (the first on ties). No maximum over the test curve: that
        would choose the epoch on test."""
        best_val_epoch = int(np.argmax(self.val_top1))
        return {
            "arm": self.arm,
            "seed": self.seed,
            "test_top1": self.test_top1,
            "val_top1": self.val_top1,
            "train_loss": self.train_loss,
            "noisy_share": self.noisy_share,
            "last": self.test_top1[-1],
            "best_val_epoch": best_val_epoch,
            "test_at_best_val": self.test_top1[best_val_epoch],
            "seconds": self.seconds,
        }

    @classmethod
    def from_summary(cls, data: dict[str, Any]) -> ArmRun:
        """The run back from its ``summary()`` (as saved in final.json)."""
        return cls(
            arm=str(data["arm"]),
            seed=int(data["seed"]),
            test_top1=[float(x) for x in data["test_top1"]],
            val_top1=[float(x) for x in data["val_top1"]],
            train_loss=[float(x) for x in data["train_loss"]],
            noisy_share=[float(x) for x in data["noisy_share"]],
            seconds=float(data["seconds"]),
        )


def train_arm(
    trainer: Trainer,
    spec: SamplerSpec | None,
    *,
    seed: int,
    shared_epochs: int,
    noise_mask: np.ndarray | None = None,
    on_epoch: Callable[[int], None] | None = None,
    on_sampler: Callable[[int, SwiftSampler, np.ndarray], None] | None = None,
) -> ArmRun:
    """Trains one arm from scratch for the full schedule.

    Args:
        trainer: recipe and data (its seed is replaced by ``seed``).
        spec: the sampler used from epoch ``shared_epochs`` on; None trains uniformly.
        seed: seed of the weights, the shuffles and the sampler.
        shared_epochs: uniform epochs before the sampler takes over (``E_s``).
        noise_mask: ``(n,)`` injected-noise mask, to record the probability mass on it.
        on_epoch: progress callback.
        on_sampler: ``(epoch, sampler, features)`` after each refresh of the sampler (every
            epoch from ``shared_epochs`` on, or only there with ``spec.refresh = "once"``), before
            the epoch draws from it (a diagnosis may read it, or replace its weights with
            ``set_weights``; the recorded mass on the noise is that of what it draws).
    """
    trainer = trainer.with_seed(seed)
    run = ArmRun(arm="uniform" if spec is None else "swift", seed=seed)
    start = time.perf_counter()
    state: TrainState = trainer.new_state(seed)
    sampler: SwiftSampler | None = None
    for epoch in range(trainer.total_epochs):
        share = float(noise_mask.mean()) if noise_mask is not None else float("nan")
        if spec is not None and epoch >= shared_epochs:
            if sampler is None or spec.refresh == "every_epoch":
                features = trainer.features(state, spec.columns)
                if sampler is None:
                    sampler = SwiftSampler.from_spec(spec, features, seed=seed)
                else:
                    sampler.update(features)
                if on_sampler is not None:
                    on_sampler(epoch, sampler, features)
            if noise_mask is not None:
                p = sampler.probabilities
                share = float(p[noise_mask].sum() / p.sum())
        run.train_loss.append(trainer.train_epoch(state, sampler))
        run.test_top1.append(trainer.score(state, "test"))
        run.val_top1.append(trainer.score(state, "val"))
        if noise_mask is not None:  # no mask, no share (NaN is not JSON: final.json refused it)
            run.noisy_share.append(share)
        if on_epoch is not None:
            on_epoch(epoch)
    run.seconds = time.perf_counter() - start
    return run


def final_training(
    trainer: Trainer,
    spec: SamplerSpec,
    *,
    seeds: Sequence[int],
    shared_epochs: int,
    uniform: bool = True,
    noise_mask: np.ndarray | None = None,
    on_epoch: Callable[[str, int, int], None] | None = None,
    done: Sequence[ArmRun] = (),
    on_run: Callable[[list[ArmRun]], None] | None = None,
) -> list[ArmRun]:
    """Trains the sampler arm (and the uniform arm) for every seed.

    Args:
        on_epoch: called with ``(arm, seed, epoch)`` after each epoch.
        done: runs already finished (by an interrupted call): kept, not trained again.
        on_run: called with every finished run so far after each one, so the caller can
            save them; what it raises stops the training.
    """
    finished = {(r.arm, r.seed): r for r in done}
    runs = []
    for seed in seeds:
        arms: list[tuple[str, SamplerSpec | None]] = [("swift", spec)]
        if uniform:
            arms.append(("uniform", None))
        for arm, arm_spec in arms:
            if (arm, seed) in finished:
                runs.append(finished[(arm, seed)])
                continue

            def tick(epoch: int, arm: str = arm, seed: int = seed) -> None:
                if on_epoch is not None:
                    on_epoch(arm, seed, epoch)

            run = train_arm(
                trainer,
                arm_spec,
                seed=seed,
                shared_epochs=shared_epochs,
                noise_mask=noise_mask,
                on_epoch=tick,
            )
            summary = run.summary()
            logger.info(
                "final %s seed %d: test last %.4f, at the best-validation epoch %d %.4f",
                arm,
                seed,
                summary["last"],
                summary["best_val_epoch"],
                summary["test_at_best_val"],
            )
            runs.append(run)
            if on_run is not None:
                on_run(list(runs))
    return runs


def summarise_arms(runs: Sequence[ArmRun]) -> dict[str, Any]:
    """final.json's content: per-run curves and per-arm mean and std over seeds."""
    arms: dict[str, Any] = {}
    for name in sorted({r.arm for r in runs}):
        summaries = [r.summary() for r in runs if r.arm == name]
        entry: dict[str, Any] = {"runs": summaries, "seeds": [s["seed"] for s in summaries]}
        for key in ("last", "test_at_best_val"):
            values = np.array([s[key] for s in summaries], dtype=np.float64)
            entry[f"{key}_mean"] = float(values.mean())
            entry[f"{key}_std"] = float(values.std(ddof=1)) if values.size > 1 else 0.0
        arms[name] = entry
    return {"schema_version": 2, "arms": arms}


def figure1_arrays(
    trainer: Trainer,
    state: TrainState,
    spec: SamplerSpec,
    noise_mask: np.ndarray | None,
) -> dict[str, np.ndarray]:
    """Per-instance loss rank, Er rank and sampling probability at the shared start.

    The ranks are the empirical cdf of each feature (whatever transform the spec uses), so
    the plane is the same for cdf and cgf samplers.
    """
    columns = tuple(dict.fromkeys(("loss", "er", *spec.columns)))
    table = trainer.features(state, columns)
    by_name = {name: table[:, j] for j, name in enumerate(columns)}
    _, loss_rank = fit_transform(by_name["loss"], kind="cdf")
    _, er_rank = fit_transform(by_name["er"], kind="cdf")
    probability = spec.probabilities({name: by_name[name] for name in spec.columns})
    arrays = {
        "loss": by_name["loss"],
        "er": by_name["er"],
        "loss_rank": loss_rank,
        "er_rank": er_rank,
        "probability": probability,
    }
    if noise_mask is not None:
        arrays["noisy"] = np.asarray(noise_mask, dtype=bool)
    return arrays

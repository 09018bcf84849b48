"""The inner loop (SPEC section 5): a shared start, then a short fine-tune per candidate theta.

1. **Shared start**: train from scratch with uniform sampling for ``E_s`` epochs (the first part
   of the normal schedule) and save the state once per search, with its SHA-256.
2. **Candidate score**: load the shared state; for each of ``E_o`` epochs recompute the
   features with the current weights, refit the transforms (``SwiftSampler.update``), train one
   epoch of n draws; return the validation score.

The learning rate follows the tail of the run's schedule. With ``schedule="tail"`` the
fine-tune runs epochs ``E_s .. E_s + E_o`` of it as they are; with ``schedule="compressed"``
(default) the whole tail ``E_s .. E`` is squeezed into the ``E_o`` epochs, so every candidate is
scored at the end of an annealed schedule (a local minimum near the shared start, the paper's
approximation of the fully trained network) rather than mid-way at a high learning rate. The
two coincide when ``E_o = E - E_s``.

Multi-fidelity: with a ``report`` callback the validation score is also measured after every
fine-tune epoch (or only at the steps in ``report_at``) and handed to it (an Optuna
intermediate value); when it answers True the candidate stops there (pruned) with that score.
With ``epoch_parts = P > 1`` a step is ``1/P`` of a fine-tune epoch (partial-epoch fidelity):
the epoch's draw is made once and trained in ``P`` consecutive parts on the matching slices of
its schedule window, so the batches and learning rates are those of the whole epoch (only the
order of random numbers drawn by the loader, e.g. dropout's, differs), and a candidate can be
scored, and stopped, after a fraction of its first epoch.

Cheaper feature refresh: with ``refresh_every = k > 1`` the features are recomputed (and the
transforms refitted) before fine-tune epochs ``0, k, 2k, ...`` only; in between the sampler
keeps its probabilities and draws a fresh set of indices per epoch. With the spec's
``refresh = "once"`` the features of the shared start are the only ones: the first epoch's
probabilities are kept for the whole fine-tune (as the final training keeps them).

Work shared between trials: every candidate starts from the same weights, so the features of
its first fine-tune epoch are the same for all; :meth:`InnerLoop.prepare_shared_features`
computes them once per search (or loads them from the run directory, checked against the
shared checkpoint's SHA-256) and every candidate reuses them.

Every candidate uses the same sampler seed (common random numbers): two thetas that give the
same probabilities give the same score, so differences between trials come from theta.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from torch.utils.data import Sampler

from swift_sampler.errors import ConfigError, InputDataError, NonFiniteError
from swift_sampler.family import SamplerSpec
from swift_sampler.sampler import SwiftSampler
from swift_sampler.search.clock import ZERO, Tick, now
from swift_sampler.train import Trainer, TrainState, load_checkpoint, save_checkpoint

__all__ = ["InnerLoop", "SharedStart", "TrialScore", "load_paused", "save_paused"]

logger = logging.getLogger(__name__)

ScheduleKind = Literal["compressed", "tail"]


@dataclass(frozen=True)
class SharedStart:
    """The saved shared-start checkpoint and what it cost."""

    path: Path
    sha256: str
    seconds: float  # the E_s training epochs and the save
    epochs: int
    epoch_seconds: float  # median seconds of one uniform training epoch (the cost unit)
    # Building the fresh model and optimiser: one-off per process (the first optimiser pulls
    # in lazy torch imports, ~1.6 s here), so it is counted apart from the shared start.
    setup_seconds: float = 0.0
    # The same on the process's CPU clock (``search.clock``): the cost counts epochs with these.
    cpu_seconds: float = 0.0
    epoch_cpu_seconds: float = 0.0
    setup_cpu_seconds: float = 0.0


@dataclass(frozen=True)
class TrialScore:
    """The validation score of one candidate and where its time went (seconds)."""

    score: float
    train_seconds: float
    feature_seconds: float
    eval_seconds: float
    load_seconds: float
    diverged: bool = False  # the model's outputs became NaN/inf; scored the worst score
    # fine-tune epochs trained (fewer than E_o when pruned or diverged; a fraction when a
    # candidate stopped inside an epoch with ``epoch_parts > 1``)
    epochs: float = 0
    pruned: bool = False  # stopped early by the ``report`` callback
    # CPU seconds of the process (``search.clock``) by part: finetune, features, eval (the
    # load of the shared state included).
    cpu: dict[str, float] = field(default_factory=dict)
    steps: int = 0  # steps done from the shared start (``epoch_parts`` per fine-tune epoch)
    # With ``stop_at``: the candidate's state there, to go on from (``resume_from``).
    paused: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def total_seconds(self) -> float:
        return self.train_seconds + self.feature_seconds + self.eval_seconds + self.load_seconds


class InnerLoop:
    """Scores sampler specs by fine-tuning a shared start.

    Args:
        trainer: the training recipe (data, model, schedule).
        shared_epochs: ``E_s``, uniform epochs of the shared start.
        finetune_epochs: ``E_o``, epochs per candidate.
        schedule: ``"compressed"`` or ``"tail"`` (see the module docstring).
        seed: seed of the shared start's weights and of every candidate's sampler.
        epoch_parts: ``P``, steps per fine-tune epoch seen by ``report`` (1: whole epochs).
        refresh_every: ``k``, recompute the features every ``k`` fine-tune epochs (1: every
            epoch, the paper's protocol).
    """

    def __init__(
        self,
        trainer: Trainer,
        *,
        shared_epochs: int,
        finetune_epochs: int,
        schedule: ScheduleKind = "compressed",
        seed: int = 0,
        epoch_parts: int = 1,
        refresh_every: int = 1,
    ) -> None:
        total = trainer.total_epochs
        if not 1 <= shared_epochs < total:
            raise ConfigError(
                f"shared_epochs must be in [1, {total - 1}] for a {total}-epoch schedule, "
                f"got {shared_epochs}"
            )
        if finetune_epochs < 1:
            raise ConfigError(f"finetune_epochs must be >= 1, got {finetune_epochs}")
        if schedule == "tail" and shared_epochs + finetune_epochs > total:
            raise ConfigError(
                f"with the 'tail' schedule, shared_epochs + finetune_epochs "
                f"({shared_epochs} + {finetune_epochs}) must not exceed the {total} epochs"
            )
        if schedule not in ("compressed", "tail"):
            raise ConfigError(f"unknown fine-tune schedule {schedule!r}")
        if epoch_parts < 1:
            raise ConfigError(f"epoch_parts must be >= 1, got {epoch_parts}")
        if refresh_every < 1:
            raise ConfigError(f"refresh_every must be >= 1, got {refresh_every}")
        self.epoch_parts = epoch_parts
        self.refresh_every = refresh_every
        self.trainer = trainer
        self.shared_epochs = shared_epochs
        self.finetune_epochs = finetune_epochs
        self.schedule = schedule
        self.seed = seed
        self._shared: dict[str, object] | None = None
        self._first_features: tuple[tuple[str, ...], np.ndarray] | None = None
        self._first_u: dict[tuple[str, tuple[str, ...]], np.ndarray] = {}

    def windows(self) -> list[tuple[float, float]]:
        """The schedule window (start, end), in epochs, of each fine-tune epoch."""
        start = float(self.shared_epochs)
        if self.schedule == "tail":
            return [(start + j, start + j + 1) for j in range(self.finetune_epochs)]
        width = (self.trainer.total_epochs - start) / self.finetune_epochs
        return [(start + j * width, start + (j + 1) * width) for j in range(self.finetune_epochs)]

    def train_shared_start(
        self, path: Path | None, *, on_epoch: Callable[[int], None] | None = None
    ) -> SharedStart:
        """Trains ``E_s`` uniform epochs from scratch and saves the state atomically.

        With ``path=None`` (ranks other than 0 under torch.distributed) the state is kept in
        memory only and the digest is empty.
        """
        start = now()
        state = self.trainer.new_state(self.seed)
        setup = now() - start
        start = now()
        epoch_seconds: list[Tick] = []
        for epoch in range(self.shared_epochs):
            t0 = now()
            self.trainer.train_epoch(state)
            epoch_seconds.append(now() - t0)
            if on_epoch is not None:
                on_epoch(epoch)
        digest = "" if path is None else save_checkpoint(self.trainer.state_dict(state), path)
        spent = now() - start
        self._shared = copy.deepcopy(self.trainer.state_dict(state))
        self._first_features, self._first_u = None, {}  # they belonged to another start
        logger.info(
            "shared start: %d epochs in %.1f s (set-up %.1f s), sha256 %s",
            self.shared_epochs,
            spent.wall,
            setup.wall,
            digest,
        )
        return SharedStart(
            path=Path() if path is None else path,
            sha256=digest,
            seconds=spent.wall,
            epochs=self.shared_epochs,
            epoch_seconds=float(np.median([t.wall for t in epoch_seconds])),
            setup_seconds=setup.wall,
            cpu_seconds=spent.cpu,
            epoch_cpu_seconds=float(np.median([t.cpu for t in epoch_seconds])),
            setup_cpu_seconds=setup.cpu,
        )

    def load_shared_start(self, path: Path, sha256: str) -> None:
        """Loads a saved shared start, refusing a file whose hash differs from ``sha256``.

        Raises:
            InputDataError: the file is not the one the study recorded (changed, replaced,
                truncated); the message says how to recover.
        """
        # Every trial so far was scored from the recorded file: only it, or a new search,
        # keeps the study's scores comparable.
        recover = (
            f"; restore the original {path.name} (the study records its SHA-256), or start the "
            "search over in a new run directory (`swift-sampler demo --fresh` for the demo)"
        )
        try:
            saved = load_checkpoint(path, expected_sha256=sha256)
        except InputDataError as err:
            raise InputDataError(f"{err}{recover}") from None
        if int(saved.get("epoch", -1)) != self.shared_epochs:
            raise ConfigError(
                f"shared checkpoint {path} is at epoch {saved.get('epoch')}, "
                f"expected {self.shared_epochs}{recover}"
            )
        self._shared = saved
        self._first_features = None
        self._first_u = {}

    def prepare_shared_features(
        self, columns: tuple[str, ...], path: Path | None, shared_sha256: str
    ) -> Tick:
        """Computes (or loads) the features of the shared start once for all candidates.

        Args:
            columns: the feature columns of the search's spec (``spec.columns``).
            path: an ``.npz`` cache next to the shared checkpoint; reused when it holds these
                columns for the checkpoint ``shared_sha256``, else (re)written. None: memory
                only.
            shared_sha256: the SHA-256 of the shared checkpoint the features belong to.

        Returns:
            Wall and CPU seconds spent computing them (``ZERO`` when loaded from ``path``).
        """
        from swift_sampler import distributed
        from swift_sampler.search.rundir import write_npz

        if distributed.world_size() > 1:  # a collective feature pass: every rank in step
            return ZERO
        if path is not None and path.exists():
            cached = _cached_features(path, columns, shared_sha256)
            if cached is not None:
                self._first_features = (tuple(columns), cached)
                self._first_u = {}
                logger.info("reusing the shared start's features %s", path)
                return ZERO
        t0 = now()
        features = self.trainer.features(self.shared_state(), columns)
        seconds = now() - t0
        self._first_features = (tuple(columns), features)
        self._first_u = {}
        if path is not None:
            write_npz(
                path,
                {
                    "features": features,
                    "columns": np.array(columns),
                    "shared_sha256": np.array(shared_sha256),
                },
            )
        return seconds

    def shared_state(self) -> TrainState:
        """A fresh copy of the shared-start state."""
        if self._shared is None:
            raise ConfigError("the shared start has not been trained or loaded")
        state = self.trainer.new_state(self.seed)
        # Deep copy: the optimiser would otherwise share (and update in place) the saved
        # momentum buffers, and the next candidate would start from a moved shared state.
        self.trainer.load_state_dict(state, copy.deepcopy(self._shared))
        return state

    def figure1(self, spec: SamplerSpec, noise_mask: np.ndarray | None) -> dict[str, np.ndarray]:
        """Figure 1's per-instance arrays for ``spec`` at the shared start."""
        from swift_sampler.search.final import figure1_arrays

        return figure1_arrays(self.trainer, self.shared_state(), spec, noise_mask)

    def _first_transformed(self, spec: SamplerSpec, features: np.ndarray) -> np.ndarray:
        """``(n, M)`` transformed shared-start features of ``spec``'s transform, fitted once."""
        key = (spec.transform, tuple(spec.features))
        if key not in self._first_u:
            self._first_u[key], _ = spec.transform_features(features)
        return self._first_u[key]

    def evaluate(
        self,
        spec: SamplerSpec,
        *,
        on_epoch: Callable[[int], None] | None = None,
        report: Callable[[int, float], bool] | None = None,
        report_at: Collection[int] | None = None,
        stop_at: int | None = None,
        resume_from: dict[str, Any] | None = None,
    ) -> TrialScore:
        """Fine-tunes a copy of the shared start under ``spec`` and scores it on validation.

        A candidate whose training diverges (NaN or inf model outputs) scores the trainer's
        ``worst_score`` (0 when it has none: the worst accuracy; a language model's is minus
        a uniform guess's perplexity), so the search records it and moves on instead of
        stopping. Scores below ``worst_score`` are raised to it: a candidate that trains but
        ends worse than the trainer's floor (a perplexity above a uniform guess's) must not
        rank below a diverged one, and the outer loop's model sees bounded values.

        Args:
            spec: the candidate sampler.
            on_epoch: called with the epoch index after each fine-tune epoch.
            report: called as ``report(steps_done, val_score)`` after each step (steps 1 ..
                ``E_o * epoch_parts``; a step is ``1/epoch_parts`` of a fine-tune epoch);
                returning True stops the candidate there (pruned). The score of a candidate
                that runs all steps is the same with or without it.
            report_at: the steps after which the validation score is measured and reported
                (the pruner's rungs); None: every step. The last step is always measured.
            stop_at: pause after this many steps (of all, counted from the shared start):
                the score is the validation score there and ``TrialScore.paused`` holds what
                :meth:`evaluate` needs to go on (``resume_from``). None: run to the end.
            resume_from: a ``paused`` state of this same ``spec``: go on from there instead
                of from the shared start. A paused and resumed candidate trains exactly
                what an uninterrupted one does (same weights, optimiser, sampler
                probabilities, epoch draw and schedule position).
        """
        t0 = now()
        state = self.shared_state()
        parts = self.epoch_parts
        last_step = self.finetune_epochs * parts
        start_step = 0
        sampler: SwiftSampler | None = None
        if resume_from is not None:
            self.trainer.load_state_dict(state, copy.deepcopy(resume_from["trainer"]))
            start_step = int(resume_from["steps"])
            # as drawn from: float32 or float64
            probabilities = _array(resume_from["probabilities"])
            sampler = SwiftSampler(
                probabilities, seed=self.seed, stratified=spec.draw == "stratified"
            )
            sampler.spec = spec
            if spec.history:  # the features' moving average goes on where it paused
                sampler.restore_history(_array(resume_from["history"]))
        end_step = last_step if stop_at is None else stop_at
        if not start_step <= end_step <= last_step:
            raise ConfigError(
                f"cannot fine-tune from step {start_step} to step {end_step} of {last_step}"
            )
        load = now() - t0
        train = features_spent = evaluation = ZERO
        steps, pruned, score = start_step, False, float("nan")
        first = self._first_features
        worst = float(getattr(self.trainer, "worst_score", 0.0))
        windows = self.windows()
        epoch_parts: list[tuple[Sampler[int], tuple[float, float]]] | None = None
        try:
            while steps < end_step:
                j, k = divmod(steps, parts)
                if k == 0 or epoch_parts is None:
                    t0 = now()
                    if k == 0 and j == 0 and first is not None and first[0] == tuple(spec.columns):
                        # The shared start's features and fitted transforms, made once per
                        # search; only theta's weights are this candidate's own.
                        u = self._first_transformed(spec, first[1])
                        tau = spec.weights(u)
                        sampler = SwiftSampler(
                            tau / tau.sum(), seed=self.seed, stratified=spec.draw == "stratified"
                        )
                        sampler.spec = spec
                        if spec.history:
                            sampler.restore_history(first[1])
                    elif sampler is None or (
                        k == 0 and j % self.refresh_every == 0 and spec.refresh == "every_epoch"
                    ):
                        features = self.trainer.features(state, spec.columns)
                        if sampler is None:
                            sampler = SwiftSampler.from_spec(spec, features, seed=self.seed)
                        else:
                            sampler.update(features)
                    epoch_parts = self._parts(state, sampler, windows[j])
                    features_spent += now() - t0
                part_sampler, part_window = epoch_parts[k]
                t1 = now()
                epoch = state.epoch
                self.trainer.train_epoch(state, part_sampler, schedule_window=part_window)
                steps += 1
                if steps % parts:
                    state.epoch = epoch  # a part of an epoch: the count moves once
                train += now() - t1
                if steps % parts == 0 and on_epoch is not None:
                    on_epoch(j)
                if report is not None and (
                    report_at is None or steps in report_at or steps == last_step
                ):
                    t0 = now()
                    score = max(float(self.trainer.score(state, "val")), worst)
                    evaluation += now() - t0
                    if report(steps, score) and steps < last_step:
                        pruned = True
                        break
            if report is None or (not pruned and steps < last_step):
                t0 = now()
                score = max(float(self.trainer.score(state, "val")), worst)
                evaluation += now() - t0
        except NonFiniteError as err:
            logger.warning("candidate diverged (%s); scored %g", err, worst)
            return TrialScore(
                worst,
                train.wall,
                features_spent.wall,
                evaluation.wall,
                load.wall,
                diverged=True,
                epochs=_epochs(steps - start_step, parts),
                cpu=_cpu(train, features_spent, evaluation + load),
                steps=steps,
            )
        paused = None
        if stop_at is not None and steps < last_step and not pruned:
            assert sampler is not None
            paused = {
                "trainer": self.trainer.state_dict(state),
                "probabilities": sampler.probabilities.copy(),
                "history": None if sampler.history is None else sampler.history.copy(),
                "steps": steps,
            }
        return TrialScore(
            score=score,
            train_seconds=train.wall,
            feature_seconds=features_spent.wall,
            eval_seconds=evaluation.wall,
            load_seconds=load.wall,
            epochs=_epochs(steps - start_step, parts),
            pruned=pruned,
            cpu=_cpu(train, features_spent, evaluation + load),
            steps=steps,
            paused=paused,
        )

    def _parts(
        self, state: TrainState, sampler: SwiftSampler, window: tuple[float, float]
    ) -> list[tuple[Sampler[int], tuple[float, float]]]:
        """One fine-tune epoch as ``epoch_parts`` (sampler, schedule window) pairs.

        The epoch's indices are drawn once (``set_epoch`` with the state's epoch, as the
        trainer would) and cut at batch boundaries, each part getting the slice of the window
        its batches cover: the parts train exactly the batches, at exactly the learning rates,
        of the whole epoch.
        """
        if self.epoch_parts == 1:
            return [(sampler, window)]
        sampler.set_epoch(state.epoch)
        indices = sampler.indices()
        config = getattr(self.trainer, "config", None)
        batch = max(1, int(getattr(config, "batch_size", 1)))
        batches = -(-len(indices) // batch)
        start, end = window
        out: list[tuple[Sampler[int], tuple[float, float]]] = []
        for k in range(self.epoch_parts):
            lo = k * batches // self.epoch_parts
            hi = (k + 1) * batches // self.epoch_parts
            out.append(
                (
                    _Slice(indices[lo * batch : hi * batch]),
                    (
                        start + (end - start) * lo / batches,
                        start + (end - start) * hi / batches,
                    ),
                )
            )
        return out


class _Slice(Sampler[int]):
    """A fixed run of indices: one part of an epoch's draw."""

    def __init__(self, indices: np.ndarray) -> None:
        self.indices = indices

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices.tolist())

    def __len__(self) -> int:
        return len(self.indices)


def save_paused(path: Path, paused: dict[str, Any]) -> str:
    """Saves a ``TrialScore.paused`` state (loadable with ``weights_only=True``); its SHA-256."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    state = dict(paused)
    for key in ("probabilities", "history"):
        if paused.get(key) is not None:
            state[key] = torch.from_numpy(np.array(paused[key]))
    return save_checkpoint(state, path)


def load_paused(path: Path, sha256: str) -> dict[str, Any] | None:
    """A state saved by :func:`save_paused`, or None when it is missing or not the file whose
    hash is ``sha256`` (the caller then fine-tunes the candidate again)."""
    if not sha256 or not path.exists():
        return None
    try:
        return load_checkpoint(path, expected_sha256=sha256)
    except InputDataError as err:
        logger.warning("%s; the candidate is fine-tuned again from the shared start", err)
        return None


def _cached_features(
    path: Path, columns: tuple[str, ...], shared_sha256: str
) -> np.ndarray | None:
    """The features ``shared_features.npz`` holds for ``columns`` of the shared checkpoint
    ``shared_sha256``; None (with a warning saying why) when it belongs to another shared
    start or is damaged: it is a cache, computed again then."""
    try:
        # The file is opened here, so it is closed whatever np.load makes of it; no pickles
        # (allow_pickle stays False).
        with path.open("rb") as file:
            saved = np.load(file)
            if not isinstance(saved, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            with saved:
                sha = str(saved["shared_sha256"])
                names = tuple(str(c) for c in saved["columns"])
                features = np.array(saved["features"])
    except Exception as err:  # a cache: any damage (zlib.error, BadZipFile...) recomputes it
        logger.warning("%s is damaged (%s: %s); computing it again", path, type(err).__name__, err)
        return None
    if (sha, names) != (shared_sha256, tuple(columns)):
        logger.warning("%s belongs to another shared start; computing it again", path)
        return None
    if (
        not np.issubdtype(features.dtype, np.floating)
        or features.ndim != 2
        or features.shape[1] != len(columns)
        or not np.isfinite(features).all()
    ):
        logger.warning(
            "%s is damaged (features of shape %s and dtype %s, or not finite); computing it again",
            path,
            features.shape,
            features.dtype,
        )
        return None
    return features


def _array(saved: Any) -> np.ndarray:
    """A saved array (a tensor after ``load_paused``) as numpy."""
    return saved.numpy() if hasattr(saved, "numpy") else np.asarray(saved)


def _epochs(steps: int, parts: int) -> float:
    """Steps as epochs: an int when whole."""
    return steps // parts if steps % parts == 0 else steps / parts


def _cpu(train: Tick, features: Tick, evaluation: Tick) -> dict[str, float]:
    return {"finetune": train.cpu, "features": features.cpu, "eval": evaluation.cpu}

"""Multi-fidelity trials: Optuna's pruners stop weak candidates between fine-tune epochs.

A candidate reports its validation score at the pruner's rungs (step = parts of a fine-tune
epoch done, ``search.epoch_parts`` per epoch; whole epochs by default) and after its last
step, as intermediate values of its trial: only there can the pruner decide, so only there is
the validation set scored. After each report, :meth:`Pruning.should_prune` asks an
Optuna pruner (``SuccessiveHalvingPruner`` or ``HyperbandPruner``) whether to stop it. The
pruner sees the persistent study's *finished* trials (COMPLETE and PRUNED), with their
intermediate values and the rung records the pruner left on them, copied into a throwaway
in-memory study, then the running trial last. Leaving out FAIL trials (a trial killed by
SIGKILL keeps the values it had reported) is what keeps a resumed search on the same path as
an uninterrupted one: with one trial at a time the pruner of slot k sees exactly the trials of
slots 0..k-1, numbered 0..k-1, whatever was killed and re-run (Hyperband's bracket of a trial
is a hash of its number in that study, so it is its slot). The rung records the pruner writes
for the running trial are copied back to the persistent trial.

A candidate is never pruned at its last epoch: that epoch is paid for, its score is final.

Every outer loop works with a pruner: the outer loops see pruned trials through
``search.study.outer_history`` (the last intermediate value, capped at the worst COMPLETE
score), so GP, TPE, CMA-ES, QMC, random and RL need nothing of their own. What is refused
(:func:`check_pruning`): Hyperband with parallel workers, synchronous halving with workers
on several machines, and any pruner under torchrun.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from swift_sampler.errors import ConfigError

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

    from swift_sampler.config import Config

__all__ = ["PRUNING_STUDY_NAME", "Pruning", "check_pruning", "rung_steps"]

logger = logging.getLogger(__name__)

PRUNING_STUDY_NAME = "swift-sampler-pruning"
"""Name of the in-memory study the pruner is asked on (Hyperband hashes it with the number)."""


def rung_steps(min_resource: int, reduction_factor: int, last: int) -> list[int]:
    """The rungs in steps: ``min_resource * eta**k`` below ``last``, then ``last``."""
    steps = []
    step = min_resource
    while step < last:
        steps.append(step)
        step *= reduction_factor
    return [*steps, last]


@dataclass(frozen=True)
class Pruning:
    """A pruner over ``max_resource`` fine-tune epochs.

    Steps are parts of a fine-tune epoch: ``epoch_parts`` per epoch (1: whole epochs).

    Attributes:
        kind: ``"successive_halving"``, ``"hyperband"`` (Optuna's, decided while a trial
            runs) or ``"synchronous_halving"`` (trials stop at the first rung; the promotion
            rounds come after the outer loop: ``search.halving``).
        max_resource: ``E_o * epoch_parts``, the steps of a candidate that is never stopped.
        min_resource: steps of the first rung.
        reduction_factor: ``eta``; about ``1/eta`` of a rung's candidates are promoted.
        bootstrap_count: the first ``bootstrap_count`` candidates to reach the first rung
            stop there (successive halving only). Optuna promotes a candidate that is alone
            at a rung: in a serial search the first trials (the uniform sampler, the first
            start-up points) would run their whole fine-tune without competition. Unlike
            Optuna's own ``bootstrap_count``, later rungs are left alone, so that a search
            always has candidates that run to the end.
    """

    kind: str
    max_resource: int
    min_resource: int = 1
    reduction_factor: int = 3
    bootstrap_count: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("successive_halving", "hyperband", "synchronous_halving"):
            raise ConfigError(f"unknown pruner {self.kind!r}")
        if not 1 <= self.min_resource < self.max_resource:
            raise ConfigError(
                f"min_resource must be in [1, {self.max_resource - 1}], got {self.min_resource}"
            )
        if self.reduction_factor < 2:
            raise ConfigError(f"reduction_factor must be >= 2, got {self.reduction_factor}")
        if self.bootstrap_count < 0:
            raise ConfigError(f"bootstrap_count must be >= 0, got {self.bootstrap_count}")
        if self.bootstrap_count and self.kind != "successive_halving":
            raise ConfigError(
                "bootstrap_count works with pruner = 'successive_halving' only (each Hyperband "
                "bracket has its own first rung; synchronous halving promotes nobody early)"
            )

    @classmethod
    def from_config(cls, config: Config) -> Pruning | None:
        """The config's pruning, or None for ``pruner = "none"`` (full fidelity)."""
        s = config.search
        if s.pruner == "none":
            return None
        return cls(
            s.pruner,
            max_resource=config.epochs_split[1] * s.epoch_parts,
            min_resource=s.min_resource,
            reduction_factor=s.reduction_factor,
            bootstrap_count=s.bootstrap_count,
        )

    def rung_steps(self) -> frozenset[int]:
        """The steps where a decision can be taken (``min_resource * eta**k`` below
        ``max_resource``, every bracket of Hyperband included) and the last one: the only
        steps whose validation score needs measuring."""
        return frozenset(rung_steps(self.min_resource, self.reduction_factor, self.max_resource))

    @property
    def synchronous(self) -> bool:
        """Trials stop at the first rung; the promotion rounds follow the outer loop."""
        return self.kind == "synchronous_halving"

    def pruner(self) -> optuna.pruners.BasePruner:
        """A fresh Optuna pruner (pruners keep state; one per decision keeps them pure)."""
        import optuna

        if self.synchronous:
            raise ConfigError("synchronous halving decides after the outer loop, not per step")
        if self.kind == "successive_halving":
            return optuna.pruners.SuccessiveHalvingPruner(
                min_resource=self.min_resource,
                reduction_factor=self.reduction_factor,
                min_early_stopping_rate=0,
            )
        return optuna.pruners.HyperbandPruner(
            min_resource=self.min_resource,
            max_resource=self.max_resource,
            reduction_factor=self.reduction_factor,
        )

    def should_prune(
        self, finished: Sequence[FrozenTrial], current: FrozenTrial
    ) -> tuple[bool, dict[str, Any]]:
        """Whether to stop ``current`` after its last reported step.

        Args:
            finished: the COMPLETE and PRUNED trials the decision is taken against, in order
                (serial search: one per earlier slot, by slot; workers: by trial number).
            current: the running trial, with its intermediate values so far.

        Returns:
            The decision, and system attributes the pruner recorded for ``current`` (its
            rungs) that are not on it yet: to be stored on the persistent trial.
        """
        import optuna
        from optuna.trial import TrialState

        step = current.last_step
        if step is None or step >= self.max_resource:
            return False, {}
        study = optuna.create_study(
            storage=optuna.storages.InMemoryStorage(),
            study_name=PRUNING_STUDY_NAME,
            direction="maximize",
            sampler=optuna.samplers.RandomSampler(seed=0),  # never asked; the default is TPE
        )
        for trial in finished:
            if trial.state not in (TrialState.COMPLETE, TrialState.PRUNED):
                raise ValueError(f"trial {trial.number} is {trial.state.name}, not finished")
            study.add_trial(_copy(trial, trial.state))
        study.add_trial(_copy(current, TrialState.RUNNING))
        mine = study.get_trials(deepcopy=False)[-1]
        prune = bool(self.pruner().prune(study, mine))
        if step == self.min_resource and self.bootstrap_count:
            arrived = sum(self.min_resource in t.intermediate_values for t in finished)
            prune = prune or arrived < self.bootstrap_count
        after = study._storage.get_trial_system_attrs(mine._trial_id)
        new = {k: v for k, v in after.items() if current.system_attrs.get(k, object()) != v}
        return prune, new


def _copy(trial: FrozenTrial, state: Any) -> FrozenTrial:
    import optuna
    from optuna.trial import TrialState

    return optuna.trial.create_trial(
        state=state,
        value=trial.value if state == TrialState.COMPLETE else None,
        params=trial.params,
        distributions=trial.distributions,
        system_attrs=dict(trial.system_attrs),
        intermediate_values=dict(trial.intermediate_values),
    )


def check_pruning(
    config: Config, *, workers: int = 1, world_size: int = 1, shared_study: bool = False
) -> None:
    """Refuses a pruner this run cannot use, with the reason.

    Raises:
        ConfigError: Hyperband with several workers (its brackets are drawn by trial number,
            which only one-at-a-time trials keep equal to the slot), or any pruner under
            torchrun (ranks fine-tune one candidate in step; a stop on rank 0 alone would
            leave the others waiting), or synchronous halving on a study that workers on
            several machines share (``shared_study``: its promotion rounds run in the one
            process that ends the search).
    """
    pruner = config.search.pruner
    if pruner == "none":
        return
    named = f"search.pruner = {pruner!r}" + (
        f" (from search.preset = {config.search.preset!r}, written or the default of a "
        "classifier's config without search keys of its own; preset = 'none' runs the full "
        "search without a pruner)"
        if config.search.preset
        else ""
    )
    if world_size > 1:
        raise ConfigError(
            f"{named} does not run under torchrun (the ranks train each "
            "candidate in step and would not see rank 0 stop it); set pruner = 'none' or "
            "search with one process per trial (--workers)"
        )
    if pruner == "synchronous_halving" and shared_study:
        raise ConfigError(
            f"{named} does not run with `swift-sampler worker` "
            "(its promotion rounds run after the last trial, in the one process that ends the "
            "search); use `swift-sampler search --workers N`, or pruner = 'successive_halving'"
        )
    if pruner == "hyperband" and workers > 1:
        raise ConfigError(
            "search.pruner = 'hyperband' needs one trial at a time (its brackets are drawn "
            "by trial number, which parallel workers do not keep equal to the slot); use "
            "pruner = 'successive_halving' with --workers, or one worker"
        )

"""An RL outer loop: a Gaussian policy over theta trained by REINFORCE.

Swift Sampler compares Bayesian optimisation with "a policy over theta trained by policy
gradient". This module is that policy. It is a diagonal Gaussian over ``z = logit(theta)``, so
every sample ``theta = sigmoid(z)`` lies inside the unit box without clipping or rejection.

The loop is stateless: a suggestion is a pure function of ``(seed, history, slot)``. The policy
is rebuilt on every call by replaying the finished trials, so a search that is killed and
resumed from its trial database asks for exactly the same thetas as one that never stopped,
and trials run in parallel (several slots asked before their results arrive) are also
reproducible. Replaying costs O(len(history) * dim), negligible next to one inner fine-tune.

Replay: the history is cut into consecutive batches of ``B = batch_size`` trials; after each
full batch of logits ``z_k`` and scores ``s_k``, one REINFORCE step. With advantages
``a_k = (s_k - b) / std_k(s_k - b)`` (the division skipped when the std is 0) and
``eps_k = (z_k - mu) / sigma``, the plain policy gradient of ``mean_k(a_k log N(z_k; mu, sigma))``
is::

    g_mu        = mean_k(a_k * eps_k) / sigma
    g_log_sigma = mean_k(a_k * (eps_k**2 - 1))

By default (``natural_gradient=True``) the step follows the natural gradient, the plain one
preconditioned by the inverse Fisher information of the Gaussian (``sigma**2`` for ``mu``, 1/2
for ``log_sigma``), as in natural evolution strategies and PGPE::

    mu        += lr * mean_k(a_k * (z_k - mu))
    log_sigma += lr * mean_k(a_k * (eps_k**2 - 1)) / 2          # if learn_sigma

The plain gradient's step on ``mu`` grows like ``1 / sigma``: with the default learning rate
and a learned sigma it overshoots, sigma then runs away, and on the 10-d quadratic of the tests
the final mean ends farther from the optimum than it started. The natural step is measured in
units of ``sigma`` and stays stable. ``natural_gradient=False`` keeps the plain step for
comparison. Both gradients are taken at the policy before the step; afterwards ``mu`` is kept
inside the logit range the history can express and ``sigma`` inside ``[sigma_min,
sigma_max]``. The baseline ``b`` starts at the first batch's mean score and then moves as
``b = decay * b + (1 - decay) * mean_k(s_k)`` after each step.

The sample ``z_k`` is the logit of the recorded theta, not a stored draw, so trials the policy
did not propose (a forced first uniform trial, a warm start) still count. A trailing partial
batch waits until it is full.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from swift_sampler.errors import ConfigError

__all__ = ["ReinforceConfig", "ReinforceOuterLoop"]

# theta is clipped to [_EPS, 1 - _EPS] before the logit, so |z| <= _Z_MAX ~ 13.8; the mean is
# kept in the same range, where the recorded logits can still tell it apart from its neighbours.
_EPS = 1e-6
_Z_MAX = math.log1p(-_EPS) - math.log(_EPS)


@dataclass(frozen=True)
class ReinforceConfig:
    """Hyper-parameters of the REINFORCE outer loop; every problem is reported in one error.

    Attributes:
        batch_size: finished trials per policy update.
        learning_rate: step size of the gradient ascent on the mean (logit space) and on
            log-sigma. The defaults of ``learning_rate``, ``sigma_init`` and ``batch_size``
            were chosen on synthetic noisy 10-d problems (``experiments/rl_step.py``), never
            on the benchmark the outer loops are compared on.
        sigma_init: initial standard deviation of the policy in logit space (every coordinate).
        sigma_min: floor of the standard deviation, so the policy never stops exploring.
        sigma_max: ceiling of the standard deviation; beyond ~4 in logit space nearly every
            sample sits at a face of the box.
        learn_sigma: also update log-sigma by its REINFORCE gradient; otherwise sigma stays
            ``sigma_init``.
        natural_gradient: step along the natural gradient (the plain one preconditioned by the
            inverse Fisher information); False takes the plain gradient, which is unstable
            with a learned sigma at the default learning rate (see the module docstring).
        baseline_decay: weight of the old value in the moving-average score baseline, in
            [0, 1). The baseline starts at the mean score of the first batch.
    """

    batch_size: int = 4
    learning_rate: float = 0.2  # with sigma_init and batch_size: experiments/rl_step.py
    sigma_init: float = 1.0
    sigma_min: float = 0.05
    learn_sigma: bool = True
    baseline_decay: float = 0.9
    sigma_max: float = 4.0
    natural_gradient: bool = True

    def __post_init__(self) -> None:
        problems = []
        b = self.batch_size
        if isinstance(b, bool) or not isinstance(b, int | np.integer) or b < 1:
            problems.append(f"batch_size must be a positive integer, got {b!r}")
        positive = ("learning_rate", "sigma_min", "sigma_init", "sigma_max")
        for name in positive:
            value = getattr(self, name)
            if not _is_real(value) or not math.isfinite(value) or value <= 0:
                problems.append(f"{name} must be a finite number > 0, got {value!r}")
        sigmas = [getattr(self, name) for name in positive[1:]]
        if all(_is_real(v) for v in sigmas) and not sigmas[0] <= sigmas[1] <= sigmas[2]:
            problems.append(
                "sigma_min <= sigma_init <= sigma_max must hold, got "
                f"{sigmas[0]!r}, {sigmas[1]!r}, {sigmas[2]!r}"
            )
        for name in ("learn_sigma", "natural_gradient"):
            value = getattr(self, name)
            if not isinstance(value, bool | np.bool_):
                problems.append(f"{name} must be a bool, got {value!r}")
        d = self.baseline_decay
        if not _is_real(d) or not 0 <= d < 1:
            problems.append(f"baseline_decay must be in [0, 1), got {d!r}")
        if problems:
            raise ConfigError("invalid REINFORCE config: " + "; ".join(problems))


class ReinforceOuterLoop:
    """Suggests thetas in ``[0, 1]^dim`` from a Gaussian policy trained by REINFORCE.

    Stateless between calls: the object only holds ``dim``, ``seed``, the config and the initial
    mean; ``suggest`` and ``policy`` replay the history they are given.

    Args:
        dim: number of parameters (10 for the Swift Sampler family).
        seed: root of the random streams; slot ``k`` draws from
            ``SeedSequence([seed, k])``.
        config: hyper-parameters; ``ReinforceConfig()`` when None.
        init_mean: ``(dim,)`` initial policy mean in theta space, inside [0, 1]; 0.5 everywhere
            when None. Entries are clipped to ``[1e-6, 1 - 1e-6]`` before the logit.

    Raises:
        ConfigError: if ``dim`` is not a positive integer, ``seed`` is not a non-negative
            integer, or ``init_mean`` has the wrong shape or leaves [0, 1].

    Example:
        >>> loop = ReinforceOuterLoop(2, seed=0)
        >>> history = []
        >>> for slot in range(8):
        ...     theta = loop.suggest(history, slot)
        ...     history.append((theta, -float(((theta - 0.3) ** 2).sum())))
        >>> loop.suggest(history, 8).shape
        (2,)
    """

    def __init__(
        self,
        dim: int,
        *,
        seed: int = 0,
        config: ReinforceConfig | None = None,
        init_mean: npt.ArrayLike | None = None,
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int | np.integer) or dim < 1:
            raise ConfigError(f"dim must be a positive integer, got {dim!r}")
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
        if config is not None and not isinstance(config, ReinforceConfig):
            raise ConfigError(f"config must be a ReinforceConfig, got {type(config).__name__}")
        self.dim = int(dim)
        self.seed = int(seed)
        self.config = config if config is not None else ReinforceConfig()
        if init_mean is None:
            mean = np.full(self.dim, 0.5)
        else:
            mean = _check_theta(init_mean, self.dim, "init_mean")
        self._mu0 = _logit(mean)
        self._mu0.flags.writeable = False

    def __repr__(self) -> str:
        return f"ReinforceOuterLoop(dim={self.dim}, seed={self.seed}, config={self.config!r})"

    def policy(
        self, history: Sequence[tuple[npt.ArrayLike, float]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """The policy after replaying ``history``.

        Args:
            history: ``(theta, score)`` of every finished trial, in order; each theta is
                ``(dim,)`` inside [0, 1] and each score a finite number (higher is better).

        Returns:
            ``(mu, sigma)``, both ``(dim,)`` float64, in logit space: the policy is
            ``z ~ N(mu, diag(sigma**2))`` and ``theta = sigmoid(z)``. Fresh arrays.

        Raises:
            ConfigError: if a theta has the wrong shape, is not finite or leaves [0, 1], or a
                score is not a finite number.
        """
        zs, scores = self._check_history(history)
        return self._replay(zs, scores)

    def suggest(self, history: Sequence[tuple[npt.ArrayLike, float]], slot: int) -> np.ndarray:
        """The theta to evaluate in trial ``slot``, given the finished trials.

        Args:
            history: ``(theta, score)`` of every finished trial, in order (see ``policy``).
            slot: index of the trial being asked, >= 0; ``len(history)`` in a sequential
                search, possibly more when trials run in parallel. It only picks the random
                stream, so the same ``(seed, history, slot)`` always gives the same theta.

        Returns:
            ``(dim,)`` float64 theta inside [0, 1].

        Raises:
            ConfigError: on a bad history (see ``policy``) or a negative or non-integer slot.
        """
        if isinstance(slot, bool) or not isinstance(slot, int | np.integer) or slot < 0:
            raise ConfigError(f"slot must be a non-negative integer, got {slot!r}")
        mu, sigma = self.policy(history)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, int(slot)]))
        z = mu + sigma * rng.standard_normal(self.dim)
        return _sigmoid(z)

    def _check_history(
        self, history: Sequence[tuple[npt.ArrayLike, float]]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Validates the history; returns ``(t, dim)`` logits and ``(t,)`` scores."""
        # suggest() replays the whole history on every call, so the check is one array pass;
        # the entry-by-entry scan below only runs to name the culprit of a bad array.
        thetas = []
        scores = np.empty(len(history))
        for i, entry in enumerate(history):
            try:
                theta, score = entry
            except (TypeError, ValueError):
                raise ConfigError(
                    f"history entries must be (theta, score) pairs, but entry {i} is {entry!r}"
                ) from None
            if not _is_real(score) or not math.isfinite(score):
                raise ConfigError(
                    f"history scores must be finite numbers, but entry {i} has score {score!r}"
                )
            thetas.append(theta)
            scores[i] = float(score)
        if not thetas:
            return np.empty((0, self.dim)), scores
        try:
            t = np.asarray(thetas, dtype=np.float64)
        except (TypeError, ValueError):
            t = None
        if t is None or t.shape != (len(thetas), self.dim) or not _inside_box(t):
            for i, theta in enumerate(thetas):
                _check_theta(theta, self.dim, f"history[{i}] theta")
            raise AssertionError("unreachable: a bad history passed the per-entry check")
        return _logit(t), scores

    def _replay(self, zs: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Runs the REINFORCE step of every full batch; see the module docstring."""
        cfg = self.config
        lr = cfg.learning_rate
        mu = self._mu0.copy()
        log_sigma = np.full(self.dim, math.log(cfg.sigma_init))
        log_sigma_range = (math.log(cfg.sigma_min), math.log(cfg.sigma_max))
        baseline: float | None = None
        for start in range(0, len(scores) - cfg.batch_size + 1, cfg.batch_size):
            z = zs[start : start + cfg.batch_size]  # (batch, dim)
            s = scores[start : start + cfg.batch_size]  # (batch,)
            if baseline is None:
                # A zero start would make every early advantage negative: unbiased, but noisy.
                baseline = float(s.mean())
            adv = s - baseline
            spread = float(adv.std())
            if spread > 0:
                adv = adv / spread
            sigma = np.exp(log_sigma)
            eps = (z - mu) / sigma  # (batch, dim) standardised samples
            step_mu = (adv[:, None] * eps).mean(axis=0)  # the gradient times sigma
            step_log_sigma = (adv[:, None] * (eps**2 - 1.0)).mean(axis=0)
            if cfg.natural_gradient:
                step_mu = step_mu * sigma  # inverse Fisher: sigma**2
                step_log_sigma = step_log_sigma / 2.0  # inverse Fisher: 1/2
            else:
                step_mu = step_mu / sigma
            mu = np.clip(mu + lr * step_mu, -_Z_MAX, _Z_MAX)
            if cfg.learn_sigma:
                log_sigma = np.clip(log_sigma + lr * step_log_sigma, *log_sigma_range)
            d = cfg.baseline_decay
            baseline = d * baseline + (1.0 - d) * float(s.mean())
        return mu, np.exp(log_sigma)


def _is_real(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(
        value, int | float | np.integer | np.floating
    )


def _inside_box(t: np.ndarray) -> bool:
    return bool(np.all((t >= 0) & (t <= 1)))  # NaN fails both comparisons


def _check_theta(theta: npt.ArrayLike, dim: int, what: str) -> np.ndarray:
    """Returns ``theta`` as a ``(dim,)`` float64 array, or raises ConfigError naming ``what``."""
    try:
        t = np.asarray(theta, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{what} must be an array of numbers, got {theta!r}") from None
    if t.shape != (dim,):
        raise ConfigError(f"{what} must have shape ({dim},), got {t.shape}")
    bad = np.flatnonzero(~(np.isfinite(t) & (t >= 0) & (t <= 1)))
    if bad.size:
        j = int(bad[0])
        raise ConfigError(
            f"{what} must be finite and inside [0, 1], but entry {j} is {float(t[j])!r}"
        )
    return t


def _logit(theta: np.ndarray) -> np.ndarray:
    t = np.clip(theta, _EPS, 1.0 - _EPS)
    return np.log(t) - np.log1p(-t)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # The tanh form never overflows and stays inside [0, 1] for every finite z.
    return 0.5 * (1.0 + np.tanh(0.5 * z))

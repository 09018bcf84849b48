"""Data-parallel training inside a trial with ``torch.distributed`` (``torchrun``).

Under ``torchrun --nproc_per_node=N swift-sampler ...`` every rank builds the same data and
model; rank 0 alone talks to the study and writes files, the other ranks follow it: each call
of the inner loop on rank 0 (train the shared start, score a candidate...) is broadcast and
executed on every rank, so the collectives inside training line up. Inside a call:

- training is ``DistributedDataParallel`` over the ranks, each rank taking its stripe of one
  global draw (``SwiftSampler`` or a seeded permutation), with ``batch_size / N`` per rank, so
  a step sees the same instances as the single-process step;
- a feature pass computes rank r's rows ``r::N`` and gathers them, so every rank holds the
  same full table and, from it, the same probabilities;
- a score counts correct predictions on each rank's shard and sums them.

gloo on CPU, NCCL on GPU (``init_from_env`` picks it).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any, NoReturn

import numpy as np
import torch

from swift_sampler.errors import ConfigError, SwiftSamplerError

__all__ = [
    "Lockstep",
    "broadcast_object",
    "exit_process",
    "gather_rows",
    "init_from_env",
    "is_distributed",
    "joined",
    "leave",
    "rank",
    "release_followers",
    "released_failed",
    "sum_across",
    "uses_cuda",
    "world_size",
]

logger = logging.getLogger(__name__)

_joined = False
"""Whether :func:`init_from_env` joined a process group in this process (even one since left)."""


def is_distributed() -> bool:
    """True inside an initialised process group of more than one rank."""
    return (
        torch.distributed.is_available()
        and torch.distributed.is_initialized()
        and torch.distributed.get_world_size() > 1
    )


def world_size() -> int:
    return torch.distributed.get_world_size() if is_distributed() else 1


def rank() -> int:
    return torch.distributed.get_rank() if is_distributed() else 0


def _device() -> torch.device:
    # NCCL moves CUDA tensors only; gloo takes CPU tensors.
    if torch.distributed.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def init_from_env() -> bool:
    """Joins the process group ``torchrun`` describes in the environment, if any.

    Returns:
        True when this process is one rank of several (``WORLD_SIZE`` > 1).

    Raises:
        ConfigError: on a malformed ``WORLD_SIZE`` / ``RANK``.
    """
    raw = os.environ.get("WORLD_SIZE")
    if raw is None:
        return False
    try:
        size = int(raw)
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))  # this machine's GPU
    except ValueError:
        raise ConfigError(
            f"WORLD_SIZE / LOCAL_RANK must be integers, got {raw!r} / "
            f"{os.environ.get('LOCAL_RANK')!r}"
        ) from None
    if size < 1:
        raise ConfigError(f"WORLD_SIZE must be >= 1, got {size}")
    # Joined even with one rank: the backend (NCCL) is what selects the GPU.
    if not torch.distributed.is_initialized():
        backend = "gloo"
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank)
            backend = "nccl"
        # Followers wait in a broadcast while rank 0 talks to the study (or waits for another
        # worker's shared start): allow long waits; torchrun stops every rank if one dies.
        torch.distributed.init_process_group(backend=backend, timeout=timedelta(hours=12))
        global _joined
        _joined = True
        logger.info(
            "rank %d of %d (%s)",
            torch.distributed.get_rank(),
            size,
            torch.distributed.get_backend(),
        )
    return size > 1


def leave(*, wait: bool) -> None:
    """Leaves the process group this process joined, if any.

    Without a ``DistributedDataParallel`` wrapper this also joins the backend's threads; with
    one, torch keeps gloo's threads alive (see :func:`exit_process`, which a finished process
    calls next).

    Args:
        wait: meet the other ranks first (a barrier), so none is still reading this rank's
            last message; False after an error (the other ranks may never come).
    """
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return
    if wait:
        torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def joined() -> bool:
    """Whether :func:`init_from_env` joined a process group in this process, left or not."""
    return _joined


def exit_process(code: int) -> NoReturn:
    """Ends this process with ``code``: if it joined a process group (:func:`joined`), without
    the interpreter's teardown, after flushing standard output, standard error and logging;
    else with ``sys.exit(code)``, the ordinary exit. Call it last, after :func:`leave`, from a
    script's top level, never from code that others import and call (a test runner, say).

    Why: once ``DistributedDataParallel`` has wrapped a model, torch 2.13 keeps gloo's threads
    running after ``destroy_process_group`` (measured: a ``Linear`` wrapped, deleted and
    collected still leaves its ``pt_gloo_runloop`` threads alive, where without the wrapper
    they end), so :func:`leave` cannot join them. Destroyed at the interpreter's exit, they
    race it, and about one run in fifty under load aborts a rank with "terminate called
    without an active exception" (SIGABRT) after its work is done; torchrun then reports the
    whole job failed. ``os._exit`` skips that teardown. Nothing that matters is lost: every
    file this package writes is written and closed (atomically) before, and ``atexit``
    handlers do not run, so call it only when the process has nothing left to clean up. If
    standard output cannot be flushed (its reader is gone), a ``code`` of 0 becomes 120, as
    in Python's own exit.
    """
    if not _joined:  # no gloo threads to race: the ordinary exit, which runs atexit handlers
        sys.exit(code)
    try:
        sys.stdout.flush()
        if sys.__stdout__ is not None and sys.__stdout__ is not sys.stdout:
            sys.__stdout__.flush()  # a follower's report went to os.devnull
    except (OSError, ValueError):  # as Python's own exit says, with 120, that output was lost
        code = code or 120
    with contextlib.suppress(OSError, ValueError):  # nothing more can be said there
        sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def uses_cuda() -> bool:
    """True in a process group on NCCL: models and batches then live on this rank's GPU."""
    return torch.distributed.is_initialized() and torch.distributed.get_backend() == "nccl"


def gather_rows(local: np.ndarray, total: int) -> np.ndarray:
    """The full ``(total, ...)`` array from each rank's rows ``rank::world``.

    Args:
        local: this rank's rows, ``len(range(rank, total, world))`` of them, in order.
        total: the number of rows of the full array.

    Returns:
        The same full array on every rank: row ``i`` comes from rank ``i % world``.
    """
    world, me = world_size(), rank()
    if world == 1:
        return local
    expected = len(range(me, total, world))
    if local.shape[0] != expected:
        raise ValueError(f"rank {me} holds {local.shape[0]} rows, expected {expected}")
    count = -(-total // world)  # rows per rank after padding
    padded = np.zeros((count, *local.shape[1:]), dtype=local.dtype)
    padded[: local.shape[0]] = local
    device = _device()
    mine = torch.from_numpy(padded).to(device)
    parts = [torch.empty_like(mine) for _ in range(world)]
    torch.distributed.all_gather(parts, mine)
    full = np.empty((total, *local.shape[1:]), dtype=local.dtype)
    for r, part in enumerate(parts):
        rows = len(range(r, total, world))
        full[r::world] = part[:rows].cpu().numpy()
    return full


def sum_across(values: list[float]) -> list[float]:
    """Element-wise sum of ``values`` over the ranks (float64), the same on every rank."""
    if world_size() == 1:
        return list(values)
    tensor = torch.tensor(values, dtype=torch.float64, device=_device())
    torch.distributed.all_reduce(tensor)
    return [float(v) for v in tensor.cpu()]


def broadcast_object(obj: Any = None) -> Any:
    """Rank 0's ``obj`` on every rank (picklable objects between our own ranks only)."""
    if world_size() == 1:
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=0, device=_device())
    return box[0]


class Lockstep:
    """Runs an object's methods on every rank: rank 0 calls, the others follow.

    On rank 0, ``Lockstep(target).method(*args)`` broadcasts ``(method, args)`` and then runs
    it on the local target; the other ranks sit in :meth:`follow`, running each broadcast
    call on their own target until rank 0 calls :func:`release_followers`.
    The targets' methods must do the same collectives on every rank, and their arguments
    must be picklable. Results stay on each rank.
    """

    def __init__(
        self,
        target: Any,
        *,
        adjust: Callable[[str, tuple[Any, ...]], tuple[Any, ...]] | None = None,
    ) -> None:
        self._target = target
        self._adjust = adjust

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr) or world_size() == 1:
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            # Callbacks (progress bars) stay on rank 0.
            shared = {k: v for k, v in kwargs.items() if not callable(v)}
            broadcast_object((name, args, shared))
            try:
                return attr(*args, **kwargs)
            except SwiftSamplerError:
                raise  # raised on every rank alike (the inputs are the same): still in step
            except BaseException:
                # The followers may be inside a collective this rank will never join: a
                # release broadcast would deadlock. Exit instead; when this process ends,
                # torchrun stops the others.
                global _released
                _released = True
                raise

        return call

    def follow(self) -> bool:
        """Follower ranks: runs rank 0's calls until it releases them.

        Returns:
            Whether rank 0 failed (``release_followers(failed=True)``): a follower then leaves
            without meeting the others, as rank 0 does after an error.
        """
        while True:
            name, args, kwargs = broadcast_object()
            if name is None:  # release_followers
                return released_failed(args)
            if self._adjust is not None:
                args = self._adjust(name, args)
            try:
                getattr(self._target, name)(*args, **kwargs)
            except SwiftSamplerError as err:  # rank 0 meets (and handles) the same error
                logger.debug("rank %d: %s", rank(), err)


_released = False


def release_followers(*, failed: bool = False) -> None:
    """Rank 0, once at the end of a command: lets the follower ranks return.

    Ends a follower waiting for the first broadcast (an inner loop's config) as well as one in
    :meth:`Lockstep.follow`: both read ``None`` in first position, then ``(failed,)``.

    Args:
        failed: rank 0 is leaving on an error; the followers then leave without the final
            barrier too (one waiting there for a rank that will not come would end on a
            "connection reset" of its own, after rank 0's message).
    """
    global _released
    if world_size() > 1 and rank() == 0 and not _released:
        broadcast_object((None, (failed,), {}))
        _released = True


def released_failed(args: Any) -> bool:
    """Whether a release message's arguments say rank 0 failed."""
    return bool(args[0]) if isinstance(args, tuple) and args else False

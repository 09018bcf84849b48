"""Wall and CPU seconds, measured together, for the search's cost accounting.

The cost of a search is stated in epochs of uniform training (``cost.total_epochs``). Counted
in wall seconds, that ratio moves with whatever else the machine runs: a trial scored while
another job holds the cores looks several times dearer than the shared start's epochs it is
divided by. Counted in the process's CPU seconds (``time.process_time``: every thread of the
process, torch's included; nothing of other processes), it measures the work itself, so the
search's cost in trainings is the same on a busy machine as on an idle one. Wall seconds stay
in the cost as what the run took.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Tick:
    """A moment on both clocks; ``later - earlier`` is a ``Tick`` of elapsed seconds."""

    wall: float
    cpu: float

    def __sub__(self, other: Tick) -> Tick:
        return Tick(self.wall - other.wall, self.cpu - other.cpu)

    def __add__(self, other: Tick) -> Tick:
        return Tick(self.wall + other.wall, self.cpu + other.cpu)


ZERO = Tick(0.0, 0.0)


def now() -> Tick:
    """The current wall time (``perf_counter``) and CPU time of this process."""
    return Tick(time.perf_counter(), time.process_time())

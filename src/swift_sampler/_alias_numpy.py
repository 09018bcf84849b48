"""The alias table in Python and NumPy: the fallback for ``_draw.c`` where it was not compiled.

Same two functions, same arguments, and the same results bit for bit: the same table from the
same weights and the same indices from the same table and seed words. ``swift_sampler.draw``
uses it only when the extension failed to build (a machine without a C compiler).

* ``build_alias`` classifies the buckets with NumPy and runs Vose's pairing loop in Python,
  with the C code's operations in its order and its rounding (``(rest + p) - 1`` in double; a
  threshold rounded to the record's float type once), so it builds the identical table. A
  large bucket that takes many small ones continues in ``np.add.accumulate``, which performs
  the same additions in the same order. The loop is O(number of large buckets) Python steps:
  the slow part of the fallback.
* ``draw_alias`` runs the same xoshiro256** stream as the C code on many lanes at once. The
  generator's step is linear over GF(2), so lane ``j`` starts ``j * STEPS`` outputs into the
  stream by a jump matrix (the step's 256 x 256 bit matrix to the power ``STEPS``) and then
  every lane advances together, one vectorised step at a time. The bucket and the coin come
  from the 128-bit product ``x * n`` as in C, computed from 32-bit halves.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["build_alias", "draw_alias"]

_MASK32 = np.uint64(0xFFFFFFFF)
_TWO_M64 = 5.421010862427522e-20  # 2^-64
# Draws are generated in chunks of LANES * STEPS: LANES lanes, each STEPS consecutive outputs.
_STEPS = 256
_MAX_LANES = 4096


def build_alias(weights: np.ndarray, table: np.ndarray, work: np.ndarray, total: float, /) -> None:
    """Fills ``table`` (records ``{prob, alias}``) exactly as ``_draw.build_alias`` does.

    ``weights`` are ``(n,)`` float32 or float64, >= 0, with sum ``total`` > 0 (checked by the
    caller); ``work`` is unused (the C build's scratch list).
    """
    del work
    n = weights.size
    # (w / total) * n in double, as the C build computes it.
    v = (weights.astype(np.float64) / total) * float(n)
    small = v < 1.0
    prob = table["prob"]
    alias = table["alias"]
    alias[:] = np.arange(n, dtype=alias.dtype)
    prob[:] = np.where(small, v, 1.0)  # rounded to the record's float type
    # C takes the large buckets from the largest index down, and pops the small ones from a
    # stack: the largest index first.
    larges = np.flatnonzero(~small)[::-1]
    count = larges.size
    if count == 0:
        return
    order = np.flatnonzero(small)[::-1]
    q_array = prob[order].astype(np.float64)  # their thresholds, as C reads them back
    q = q_array.tolist()
    rest_of = v[larges].tolist()
    narrow = prob.dtype == np.float32
    to_float32 = np.float32
    num_small = len(q)

    # Large bucket a takes the small ones order[ends[a-1]:ends[a]], preceded (a > 0) by large
    # bucket a - 1, which C pushes on the stack when its rest falls below 1 and pops next.
    ends: list[int] = []
    thresholds: list[float] = []  # of the large buckets whose rest fell below 1, in order
    j = 0
    a = 0
    rest = rest_of[0]
    while True:
        steps = 0
        while rest >= 1.0 and j < num_small:
            rest = rest + q[j] - 1.0  # (rest + p) - 1, as C: less rounding than rest - (1 - p)
            j += 1
            steps += 1
            if steps == 16 and rest >= 1.0:  # a long run: on in NumPy, same operations
                rest, j = _long_run(rest, q_array, j)
                break
        if rest >= 1.0:  # the small buckets are used up: this and later larges stay whole
            ends.append(j)
            break
        threshold = rest if rest > 0.0 else 0.0
        if narrow:
            threshold = float(to_float32(threshold))
        ends.append(j)
        thresholds.append(threshold)
        a += 1
        if a == count:
            break
        rest = rest_of[a] + threshold - 1.0

    taken = np.diff(np.asarray([0, *ends]))
    alias[order[:j]] = np.repeat(larges[: len(ends)], taken)
    demoted = len(thresholds)
    linked = min(demoted, count - 1)
    alias[larges[:linked]] = larges[1 : linked + 1]
    prob[larges[:demoted]] = thresholds
    if demoted == count:  # C stopped with buckets left on its stack: they stay whole
        prob[larges[-1]] = 1.0
        prob[order[j:]] = 1.0


def _long_run(rest: float, q: np.ndarray, j: int) -> tuple[float, int]:
    """Continues one large bucket's run over the small buckets ``q[j:]`` with
    ``np.add.accumulate`` over ``rest, q[j], -1, q[j+1], -1, ...``: the same sequence of double
    additions as the loop, so the same rests. Returns the rest and the next small bucket."""
    width = 64
    while j < q.size:
        chunk = q[j : j + width]
        seq = np.empty(2 * chunk.size + 1)
        seq[0] = rest
        seq[1::2] = chunk
        seq[2::2] = -1.0
        after = np.add.accumulate(seq)[2::2]  # the rest after each small bucket
        below = np.flatnonzero(after < 1.0)
        if below.size:
            return float(after[below[0]]), j + int(below[0]) + 1
        rest = float(after[-1])
        j += chunk.size
        width *= 4
    return rest, j


def draw_alias(
    table: np.ndarray, n: int, out: np.ndarray, s0: int, s1: int, s2: int, s3: int, /
) -> None:
    """Fills ``out`` (int64) with draws from ``table`` exactly as ``_draw.draw_alias`` does,
    from the four 64-bit seed words ``s0 .. s3``."""
    k = out.size
    if k == 0:
        return
    state = np.array([s0, s1, s2, s3], dtype=np.uint64).reshape(1, 4)
    if not state.any():
        state[0, 0] = np.uint64(0x9E3779B97F4A7C15)  # xoshiro's state must not be all zero
    prob = table["prob"]
    alias = table["alias"]
    chunk = _MAX_LANES * _STEPS
    for begin in range(0, k, chunk):
        size = min(chunk, k - begin)
        lanes = -(-size // _STEPS)
        starts = _lane_starts(state[0], lanes)
        x = _run_lanes(starts, _STEPS)  # (lanes, STEPS): lane j holds outputs j*STEPS + t
        # The next chunk starts where the last lane ended (only its first state matters).
        state = _jump(starts[-1:], _STEPS)
        x = x.reshape(-1)[:size]
        bucket, low = _mul_high_low(x, n)
        coin = low.astype(np.float64) * _TWO_M64
        keep = coin < prob[bucket].astype(np.float64)
        out[begin : begin + size] = np.where(keep, bucket.astype(np.int64), alias[bucket])


def _rotl(x: np.ndarray, k: int) -> np.ndarray:
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


def _step(s: np.ndarray) -> np.ndarray:
    """One xoshiro256** step on every row of ``s`` (rows, 4) in place; returns the outputs."""
    s0, s1, s2, s3 = s[:, 0], s[:, 1], s[:, 2], s[:, 3]
    result = _rotl(s1 * np.uint64(5), 7) * np.uint64(9)
    t = s1 << np.uint64(17)
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s[:, 3] = _rotl(s3, 45)
    return result


def _run_lanes(starts: np.ndarray, steps: int) -> np.ndarray:
    s = np.ascontiguousarray(starts.T).copy()  # (4, lanes): each word contiguous
    out = np.empty((steps, s.shape[1]), dtype=np.uint64)
    s0, s1, s2, s3 = s
    five, nine, seventeen = np.uint64(5), np.uint64(9), np.uint64(17)
    for t in range(steps):
        out[t] = _rotl(s1 * five, 7) * nine
        tmp = s1 << seventeen
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= tmp
        s3[:] = _rotl(s3, 45)
    return out.T


def _mul_high_low(x: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The high and low 64-bit words of the 128-bit products ``x * n``."""
    n_lo, n_hi = np.uint64(n & 0xFFFFFFFF), np.uint64(n >> 32)
    x_lo, x_hi = x & _MASK32, x >> np.uint64(32)
    ll, lh = x_lo * n_lo, x_lo * n_hi
    hl, hh = x_hi * n_lo, x_hi * n_hi
    shift = np.uint64(32)
    mid = (ll >> shift) + (lh & _MASK32) + (hl & _MASK32)
    high = hh + (lh >> shift) + (hl >> shift) + (mid >> shift)
    low = x * np.uint64(n)  # wraps modulo 2^64
    return high, low


@functools.cache
def _step_matrix() -> np.ndarray:
    """The xoshiro step as a (256, 256) 0/1 float32 matrix: ``bits(next) = M @ bits(s) mod 2``,
    bit ``64 w + b`` being bit ``b`` of word ``w``."""
    basis = np.zeros((256, 4), dtype=np.uint64)
    for i in range(256):
        basis[i, i // 64] = np.uint64(1) << np.uint64(i % 64)
    _step(basis)
    return _bits(basis).T.astype(np.float32)


@functools.cache
def _power(exponent: int) -> np.ndarray:
    """The step matrix to the power ``exponent`` (a power of two), transposed for row states."""
    if exponent == 1:
        return np.ascontiguousarray(_step_matrix().T)
    half = _power(exponent // 2)
    return np.remainder(half @ half, 2.0).astype(np.float32)


def _bits(states: np.ndarray) -> np.ndarray:
    little = np.ascontiguousarray(states, dtype="<u8").view(np.uint8)
    return np.unpackbits(little, axis=1, bitorder="little")


def _from_bits(bits: np.ndarray) -> np.ndarray:
    packed = np.packbits(bits.astype(np.uint8), axis=1, bitorder="little")
    return packed.view("<u8").astype(np.uint64)


def _jump(states: np.ndarray, exponent: int) -> np.ndarray:
    """Each row state advanced by ``exponent`` (a power of two) steps."""
    product = _bits(states).astype(np.float32) @ _power(exponent)
    return _from_bits(np.remainder(product, 2.0))


def _lane_starts(state: np.ndarray, lanes: int) -> np.ndarray:
    """(lanes, 4): row j is ``state`` advanced by ``j * STEPS`` steps."""
    starts = state.reshape(1, 4).copy()
    jump = _STEPS
    while starts.shape[0] < lanes:
        starts = np.concatenate([starts, _jump(starts, jump)])
        jump *= 2
    return starts[:lanes]

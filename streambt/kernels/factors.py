"""Kernels of the user's factors: range, trendiness, returns, log returns, z-score.

The definitions are in ``docs/factors.md``. Two shared rules:

- NaN: an output is NaN while a NaN is among the rows it reads. That is the
  SQL rule of the Ibis forms (a window of ``n`` needs ``n`` non-null values)
  and, for leading NaNs (an indicator of an indicator), TA-Lib's rule of
  starting at the first number.
- Rolling sums (here and in the VWAP kernel) are kept as an unevaluated sum
  ``hi + lo`` of two doubles updated with Knuth's TwoSum, so adding and
  later subtracting a large value leaves no residue: a running sum in one
  double would keep ``eps * |large|`` of error for good, which is a large
  relative error once only small values remain (a volume spike leaving a
  quiet window). Whether a sum is zero is decided by counting its nonzero
  terms, exactly, not by comparing a rounded sum with 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from streambt.kernels._jit import jit
from streambt.kernels.base import Columns, Kernel, State, check_int_param, scalar
from streambt.kernels.channels import channel_state, channel_step

__all__ = [
    "EfficiencyRatioKernel",
    "LogReturnsKernel",
    "PriceRangeKernel",
    "ReturnsKernel",
    "RollingZScoreKernel",
    "dd_add",
]


@jit
def dd_add(hi: float, lo: float, x: float) -> tuple[float, float]:
    """``(hi, lo) + x`` for a sum kept as two doubles; returns the renormalized pair."""
    s = hi + x
    bp = s - hi
    err = (hi - (s - bp)) + (x - bp)
    lo += err
    # renormalize (Fast2Sum): hi carries the sum, lo only what rounding left out of it
    hi = s + lo
    lo -= hi - s
    return hi, lo


class PriceRangeKernel(Kernel):
    """``max(high) - min(low)`` over the last ``window`` rows.

    The rolling max and min are the Donchian kernel's, so the value equals
    ``talib.MAX(high, window) - talib.MIN(low, window)`` bit for bit; the first
    ``window - 1`` rows are NaN.

    Parameters
    ----------
    window : int
        Number of rows, >= 1 (1: the row's own ``high - low``).

    Examples
    --------
    >>> k = PriceRangeKernel(window=2)
    >>> k.step(k.init(), {"high": np.array([3.0, 5.0, 4.0]), "low": np.array([1.0, 2.0, 3.0])})[1]["value"]
    array([nan,  4.,  3.])
    """

    inputs = ("high", "low")
    outputs = ("value",)

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("PriceRange", "window", window, 1)

    def init(self) -> State:
        return channel_state(self.window)

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        upper, lower = channel_step(state, cols["high"], cols["low"], self.window)
        return state, {"value": upper - lower}


@jit
def _er_run(
    x: np.ndarray,
    out: np.ndarray,
    xs: np.ndarray,
    ds: np.ndarray,
    counts: np.ndarray,
    sums: np.ndarray,
    window: int,
) -> None:
    # xs: ring of the last window + 1 values; ds: ring of the last window |changes|
    seen, xpos, dpos, nans, nonzero = counts[0], counts[1], counts[2], counts[3], counts[4]
    hi, lo = sums[0], sums[1]
    span = window + 1
    for i in range(x.shape[0]):
        v = x[i]
        if seen >= 1:
            prev = xs[xpos - 1 if xpos > 0 else window]
            d = abs(v - prev)
            if seen > window:
                old = ds[dpos]
                if not np.isnan(old):
                    hi, lo = dd_add(hi, lo, -old)
                    if old != 0.0:
                        nonzero -= 1
            ds[dpos] = d
            dpos += 1
            if dpos == window:
                dpos = 0
            if not np.isnan(d):
                hi, lo = dd_add(hi, lo, d)
                if d != 0.0:
                    nonzero += 1
        if seen >= span and np.isnan(xs[xpos]):
            nans -= 1
        xs[xpos] = v
        xpos += 1
        if xpos == span:
            xpos = 0
        if np.isnan(v):
            nans += 1
        seen += 1
        if seen < span or nans > 0:
            out[i] = np.nan
        elif nonzero == 0:
            out[i] = 0.0
        else:
            # xs[xpos] is now the oldest value, x[t - window]
            out[i] = abs(v - xs[xpos]) / hi
    counts[0], counts[1], counts[2], counts[3], counts[4] = seen, xpos, dpos, nans, nonzero
    sums[0], sums[1] = hi, lo


class EfficiencyRatioKernel(Kernel):
    """Trendiness: ``|x[t] - x[t-N]| / sum(|x[i] - x[i-1]|)`` over ``N = window`` changes.

    NaN for the first ``window`` rows and while a NaN is among the
    ``window + 1`` values read; 0.0 when every change in the window is 0.
    The path length is a compensated rolling sum (see the module notes).

    Parameters
    ----------
    window : int
        Number of changes, >= 1.

    Examples
    --------
    >>> k = EfficiencyRatioKernel(window=2)
    >>> k.step(k.init(), {"x": np.array([1.0, 2.0, 3.0, 2.0, 2.0, 2.0])})[1]["value"]
    array([nan, nan,  1.,  0.,  1.,  0.])
    """

    inputs = ("x",)
    outputs = ("value",)

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("EfficiencyRatio", "window", window, 1)

    def init(self) -> State:
        return {
            "xs": np.full(self.window + 1, np.nan),
            "ds": np.full(self.window, np.nan),
            # values seen, value ring position, change ring position, NaNs in the
            # value ring, nonzero changes in the change ring
            "counts": np.zeros(5, np.int64),
            "sums": np.zeros(2),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        out = np.empty_like(x)
        _er_run(x, out, state["xs"], state["ds"], state["counts"], state["sums"], self.window)
        return state, {"value": out}


@jit
def _ratio_run(
    x: np.ndarray, out: np.ndarray, ring: np.ndarray, pos: np.ndarray, log: bool
) -> None:
    # out = x[t] / x[t - window], NaN where the return is undefined. The ring holds
    # the last `window` values of earlier chunks, NaN before the first row, which
    # makes the warm-up NaN with no count; later rows read x itself.
    window = ring.shape[0]
    n = x.shape[0]
    p = pos[0]
    for i in range(n):
        if i < window:
            slot = p + i
            if slot >= window:
                slot -= window
            prev = ring[slot]
        else:
            prev = x[i - window]
        if prev == 0.0:
            out[i] = np.nan
        else:
            r = x[i] / prev
            # log: the ratio must be positive (NaN fails the test too)
            out[i] = np.nan if (log and not r > 0.0) else r
    for i in range(max(0, n - window), n):
        ring[p] = x[i]
        p += 1
        if p == window:
            p = 0
    pos[0] = p


class ReturnsKernel(Kernel):
    """Simple return ``x[t] / x[t-N] - 1`` with ``N = window``.

    NaN for the first ``window`` rows, when either value is NaN, and when
    ``x[t-N] == 0``. On nonzero prices it equals ``talib.ROCR(x, N) - 1`` bit
    for bit (TA-Lib's ROCR returns 0 for a zero denominator instead).

    Parameters
    ----------
    window : int
        How many rows back, >= 1.

    Examples
    --------
    >>> k = ReturnsKernel(window=1)
    >>> k.step(k.init(), {"x": np.array([4.0, 5.0, 4.0])})[1]["value"]
    array([  nan,  0.25, -0.2 ])
    """

    inputs = ("x",)
    outputs = ("value",)
    log = False

    def __init__(self, window: int = 1) -> None:
        super().__init__(window=window)
        self.window = check_int_param(
            type(self).__name__.removesuffix("Kernel"), "window", window, 1
        )

    def init(self) -> State:
        return {"ring": np.full(self.window, np.nan), "pos": scalar(0, np.int64)}

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        out = np.empty_like(x)
        _ratio_run(x, out, state["ring"], state["pos"], self.log)
        # numpy's vectorized log (NaN stays NaN): 3x numba's scalar one, and
        # the same function with the JIT on or off
        return state, {
            "value": np.log(out, out=out) if self.log else np.subtract(out, 1.0, out=out)
        }


class LogReturnsKernel(ReturnsKernel):
    """Log return ``ln(x[t] / x[t-N])`` with ``N = window``.

    NaN for the first ``window`` rows, when either value is NaN, and when the
    ratio is not positive (``x[t-N] == 0`` or a change of sign).

    Parameters
    ----------
    window : int
        How many rows back, >= 1.

    Examples
    --------
    >>> k = LogReturnsKernel(window=1)
    >>> k.step(k.init(), {"x": np.array([1.0, np.e, -1.0])})[1]["value"]
    array([nan,  1., nan])
    """

    log = True


@jit
def _zscore_run(
    x: np.ndarray,
    out: np.ndarray,
    buf: np.ndarray,
    counts: np.ndarray,
    window: int,
) -> None:
    # counts: values seen (capped), ring position, NaNs in the ring, length of
    # the current run of equal values (capped)
    seen, p, nans, run = counts[0], counts[1], counts[2], counts[3]
    for i in range(x.shape[0]):
        v = x[i]
        last = buf[p - 1 if p > 0 else window - 1]
        if seen >= window and np.isnan(buf[p]):
            nans -= 1
        if np.isnan(v):
            nans += 1
        # a run needs seen >= 1; NaN != NaN keeps NaN out of runs
        run = min(run + 1, window) if (seen >= 1 and v == last) else 1
        buf[p] = v
        p += 1
        if p == window:
            p = 0
        seen = min(seen + 1, window)
        if seen < window or nans > 0 or run >= window:
            out[i] = np.nan
            continue
        # two passes, the mean then the squared deviations, each oldest to
        # newest: the ring from p to its end, then from 0 to p (unsigned
        # indexes: numba then skips its negative-index checks)
        s = 0.0
        for j in range(p, window):
            s += buf[np.uint64(j)]
        for j in range(p):
            s += buf[np.uint64(j)]
        mean = s / window
        q = 0.0
        for j in range(p, window):
            d = buf[np.uint64(j)] - mean
            q += d * d
        for j in range(p):
            d = buf[np.uint64(j)] - mean
            q += d * d
        out[i] = (v - mean) / math.sqrt(q / window)
    counts[0], counts[1], counts[2], counts[3] = seen, p, nans, run


class RollingZScoreKernel(Kernel):
    """``(x - mean) / std`` of the last ``window`` values, population std.

    NaN for the first ``window - 1`` rows, while a NaN is in the window, and
    when the window's values are all equal (std 0). The mean and the variance
    are two passes over the window in row order (O(window) per row): no
    running sums whose cancellation would shift a z-score near 0.

    Parameters
    ----------
    window : int
        Number of values, >= 2.

    Examples
    --------
    >>> k = RollingZScoreKernel(window=2)
    >>> k.step(k.init(), {"x": np.array([1.0, 3.0, 3.0, 2.0])})[1]["value"]
    array([nan,  1., nan, -1.])
    """

    inputs = ("x",)
    outputs = ("value",)

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("RollingZScore", "window", window, 2)

    def init(self) -> State:
        return {"buf": np.full(self.window, np.nan), "counts": np.zeros(4, np.int64)}

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        out = np.empty_like(x)
        _zscore_run(x, out, state["buf"], state["counts"], self.window)
        return state, {"value": out}

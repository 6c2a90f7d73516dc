"""Volatility kernels: rolling population standard deviation, equal to TA-Lib.

TA-Lib 0.8 no longer computes the variance as ``mean(x^2) - mean(x)^2`` over
raw running sums (that cancels catastrophically on prices far from zero). It
keeps the running sums of ``x - shift``, where ``shift`` starts at the first
value, and re-anchors (``shift`` = the window's mean, sums rebuilt from the
window) when the result looks cancelled, when the value leaving the window
dwarfs what remains, and every ``32 * window`` rows. This kernel mirrors that
schedule exactly, so it gives the same bits as ``talib.STDDEV`` in any chunking.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from streambt.kernels._jit import jit
from streambt.kernels.base import Columns, Kernel, State, check_int_param, scalar

__all__ = ["StandardDeviationKernel"]

# TA-Lib 0.8 ta_VAR.c thresholds (read from the library's machine code).
_CANCEL_RATIO = 1e-6
_DWARF_RATIO = 1e6
_ZERO_RATIO = 1e-12
_REANCHOR_EVERY = 32


@jit
def _stddev_run(
    x: np.ndarray,
    out: np.ndarray,
    buf: np.ndarray,
    pos: np.ndarray,
    count: np.ndarray,
    shift: np.ndarray,
    sum1: np.ndarray,
    sum2: np.ndarray,
    countdown: np.ndarray,
    window: int,
    nbdev: float,
) -> None:
    inv = 1.0 / window
    p = pos[0]
    n = count[0]
    c = shift[0]
    s1 = sum1[0]
    s2 = sum2[0]
    left = countdown[0]
    for i in range(x.shape[0]):
        v = x[i]
        if n == 0:
            if np.isnan(v):
                out[i] = np.nan
                continue
            c = v
        buf[p] = v
        p += 1
        if p == window:
            p = 0
        d = v - c
        s1 += d
        s2 += d * d
        if n < window:
            n += 1
        if n < window:
            out[i] = np.nan
            continue
        m1 = inv * s1
        var = inv * s2 - m1 * m1
        # after the ring advanced, buf[p] is the oldest value of this window
        o = buf[p] - c
        o2 = o * o
        rest = s2 - o2
        reanchor = (inv * rest) * _CANCEL_RATIO > var or o2 > rest * _DWARF_RATIO
        if not reanchor:
            left -= 1
            reanchor = left == 0
        if reanchor:
            t = 0.0
            for j in range(window):
                t += buf[(p + j) % window]
            c = t * inv
            s1 = 0.0
            s2 = 0.0
            for j in range(window):
                d = buf[(p + j) % window] - c
                s1 += d
                s2 += d * d
            m1 = inv * s1
            m2 = inv * s2
            var = m2 - m1 * m1
            if var < m2 * _ZERO_RATIO:
                var = 0.0
            o = buf[p] - c
            s1 -= o
            s2 -= o * o
            left = _REANCHOR_EVERY * window
        else:
            s1 -= o
            s2 = rest
        # TA-Lib takes sqrt without a guard: a (rare) negative variance is NaN
        out[i] = math.sqrt(var) * nbdev if var >= 0.0 else np.nan
    pos[0] = p
    count[0] = n
    shift[0] = c
    sum1[0] = s1
    sum2[0] = s2
    countdown[0] = left


class StandardDeviationKernel(Kernel):
    """Population standard deviation of the last ``window`` values, times ``nbdev``.

    Equal to ``talib.STDDEV(x, window, nbdev)``: the first ``window - 1`` rows
    after the first number are NaN. A NaN inside the window gives NaN, and
    TA-Lib's periodic re-anchoring brings the values back within
    ``32 * window`` rows after the NaN has left the window (SMA and EMA stay
    NaN for good). ``talib.STDDEV`` rejects ``window=1``; this kernel
    returns ``sqrt(talib.VAR(x, 1))`` there, i.e. 0.0.

    Parameters
    ----------
    window : int
        Number of rows, >= 1.
    nbdev : float
        Factor applied to the deviation (TA-Lib's ``nbdev``), default 1.0.

    Examples
    --------
    >>> k = StandardDeviationKernel(window=2)
    >>> k.step(k.init(), {"x": np.array([1.0, 3.0, 3.0, 7.0])})[1]["value"]
    array([nan,  1.,  0.,  2.])
    """

    inputs = ("x",)
    outputs = ("value",)

    def __init__(self, window: int, nbdev: float = 1.0) -> None:
        super().__init__(window=window, nbdev=nbdev)
        self.window = check_int_param("StandardDeviation", "window", window, 1)
        self.nbdev = float(nbdev)

    def init(self) -> State:
        return {
            "buf": np.full(self.window, np.nan),
            "pos": scalar(0, np.int64),
            "count": scalar(0, np.int64),
            "shift": scalar(0.0),
            "sum1": scalar(0.0),
            "sum2": scalar(0.0),
            "countdown": scalar(_REANCHOR_EVERY * self.window, np.int64),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        out = np.empty_like(x)
        _stddev_run(
            x,
            out,
            state["buf"],
            state["pos"],
            state["count"],
            state["shift"],
            state["sum1"],
            state["sum2"],
            state["countdown"],
            self.window,
            self.nbdev,
        )
        return state, {"value": out}

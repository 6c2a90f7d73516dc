"""Rolling-statistics kernels: the slope of the least-squares line, equal to TA-Lib.

TA-Lib 0.8 computes ``LINEARREG_SLOPE`` from two sums slid from row to row
(``sum(y)`` and ``sum(i * y)`` with ``i`` the age of ``y`` in bars), not from
a fresh pass over the window as its older C source did. It rebuilds both from
the window every ``32 * window`` rows and whenever the value leaving the
window outweighs it (``|window * y_old| > 100 * sum(|y|)``, a third running
sum kept for that test). The slope is a difference of two large products, so
the schedule moves its value by up to ~1e-8 relative; this kernel follows it
exactly and gives TA-Lib's bits in any chunking. Leading NaNs are skipped,
as TA-Lib's Python wrapper does.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from streambt.kernels._jit import jit
from streambt.kernels.base import Columns, Kernel, State, check_int_param

__all__ = ["LinearRegressionSlopeKernel"]

# TA-Lib 0.8 ta_LINEARREG_SLOPE thresholds (read from the library's machine code).
_REBUILD_EVERY = 32
_OUTLIER_RATIO = 100.0


@jit
def _window_sums(buf: np.ndarray, oldest: int) -> tuple[float, float, float]:
    """sum(age * y), sum(y), sum(|y|) over the ring ``buf`` whose oldest value is at ``oldest``.

    Kept out of the row loop: inlined there, it slows every row (measured).
    """
    window = buf.shape[0]
    sxy = 0.0
    sy = 0.0
    sabs = 0.0
    age = float(window - 1)
    q = oldest
    for _ in range(window):
        y = buf[q]
        sy += y
        sabs += abs(y)
        sxy += y * age
        age -= 1.0
        q = q + 1 if q + 1 < window else 0
    return sxy, sy, sabs


@jit
def _slope_run(
    x: np.ndarray,
    out: np.ndarray,
    buf: np.ndarray,
    ints: np.ndarray,
    sums: np.ndarray,
    window: int,
) -> None:
    p = ints[0]
    n = ints[1]
    left = ints[2]
    sxy = sums[0]  # sum(age * y), age 0 for the newest value
    sy = sums[1]
    sabs = sums[2]  # sum(|y|), only for the outlier test
    oldest = sums[3]
    fw = float(window)
    sum_x = (float(window - 1) * fw) * 0.5
    divisor = sum_x * sum_x - (float(2 * window - 1) * (float(window - 1) * fw)) / 6.0 * fw
    for i in range(x.shape[0]):
        v = x[i]
        if n == 0 and np.isnan(v):
            out[i] = np.nan
            continue
        buf[p] = v
        p += 1
        if p == window:
            p = 0
        if n < window - 1:
            n += 1
            out[i] = np.nan
            continue
        rebuild = n == window - 1
        if rebuild:
            n = window
        else:
            left -= 1
            rebuild = left == 0
            if not rebuild:
                gone = fw * oldest
                sabs = (sabs - abs(oldest)) + abs(v)
                rebuild = abs(gone) > sabs * _OUTLIER_RATIO
                if not rebuild:
                    sxy = (sxy + sy) - gone
                    sy = (sy - oldest) + v
        if rebuild:
            left = _REBUILD_EVERY * window
            sxy, sy, sabs = _window_sums(buf, p)
        oldest = buf[p]
        out[i] = (fw * sxy - sum_x * sy) / divisor
    ints[0] = p
    ints[1] = n
    ints[2] = left
    sums[0] = sxy
    sums[1] = sy
    sums[2] = sabs
    sums[3] = oldest


class LinearRegressionSlopeKernel(Kernel):
    """Slope of the least-squares line over the last ``window`` rows, equal to ``talib.LINEARREG_SLOPE``.

    The slope is per row: a series rising by 1 a row has slope 1. The first
    ``window - 1`` rows after the first number are NaN. A NaN inside the
    window makes the sums NaN until the next rebuild (at most
    ``32 * window`` rows later), exactly as in TA-Lib.

    Parameters
    ----------
    window : int
        Number of rows fitted, >= 2 (TA-Lib's minimum).

    Examples
    --------
    >>> k = LinearRegressionSlopeKernel(window=3)
    >>> k.step(k.init(), {"x": np.array([1.0, 2.0, 3.0, 5.0])})[1]["value"]
    array([nan, nan, 1. , 1.5])
    """

    inputs = ("x",)
    outputs = ("value",)

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("LinearRegressionSlope", "window", window, 2)

    def init(self) -> State:
        return {
            "buf": np.full(self.window, np.nan),
            # position in buf, rows seen, rows left before the sums are rebuilt
            "ints": np.zeros(3, dtype=np.int64),
            # sum(age * y), sum(y), sum(|y|), the value leaving the window next
            "sums": np.zeros(4),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        out = np.empty_like(x)
        _slope_run(x, out, state["buf"], state["ints"], state["sums"], self.window)
        return state, {"value": out}

"""Momentum kernels: Wilder's relative strength index (RSI), equal to TA-Lib.

The arithmetic mirrors the TA-Lib C library (0.8) step for step, so the
kernel returns the same bits as ``talib.RSI`` whether it is fed whole, row by
row or in chunks. Leading NaNs are skipped, as TA-Lib's Python wrapper does.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from streambt.kernels._jit import jit
from streambt.kernels.base import Columns, Kernel, State, check_int_param, scalar

__all__ = ["RelativeStrengthIndexKernel"]


@jit
def _rsi_run(
    x: np.ndarray,
    out: np.ndarray,
    count: np.ndarray,
    prev_x: np.ndarray,
    gain: np.ndarray,
    loss: np.ndarray,
    window: int,
    inv: float,
    keep: float,
) -> None:
    n = count[0]
    px = prev_x[0]
    g = gain[0]
    lo = loss[0]
    for i in range(x.shape[0]):
        v = x[i]
        if n == 0:
            if not np.isnan(v):
                px = v
                n = 1
            out[i] = np.nan
            continue
        d = v - px
        px = v
        # TA-Lib's branch-free split: a NaN change adds 0 to the gain and NaN
        # to the loss, so the RSI is 0.0 (not NaN) from then on.
        up = d if d > 0.0 else 0.0
        if n <= window:
            g += up
            lo += up - d
            n += 1
            if n <= window:
                out[i] = np.nan
                continue
            g *= inv
            lo *= inv
        else:
            g = (g * keep + up) * inv
            lo = ((up - d) + lo * keep) * inv
        s = lo + g
        out[i] = (g / s) * 100.0 if s > 0.0 else 0.0
    count[0] = n
    prev_x[0] = px
    gain[0] = g
    loss[0] = lo


class RelativeStrengthIndexKernel(Kernel):
    """Wilder's RSI, equal to ``talib.RSI(x, window)``.

    The first ``window`` changes are averaged, then both averages follow
    Wilder's smoothing ``avg = (avg * (window - 1) + change) / window``; the
    division is a multiplication by ``1 / window`` as in TA-Lib 0.8. The first
    ``window`` rows after the first number are NaN. When ``gain + loss`` is not
    positive (a flat stretch, or NaN after a NaN input) the value is 0.0, as in
    TA-Lib. TA-Lib rejects ``window < 2``, and so does this kernel.

    Parameters
    ----------
    window : int
        Smoothing period, >= 2.

    Examples
    --------
    >>> k = RelativeStrengthIndexKernel(window=2)
    >>> k.step(k.init(), {"x": np.array([1.0, 2.0, 3.0, 2.0])})[1]["value"]
    array([ nan,  nan, 100.,  50.])
    """

    inputs = ("x",)
    outputs = ("value",)

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("RelativeStrengthIndex", "window", window, 2)

    def init(self) -> State:
        return {
            "count": scalar(0, np.int64),
            "prev_x": scalar(np.nan),
            "gain": scalar(0.0),
            "loss": scalar(0.0),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        out = np.empty_like(x)
        _rsi_run(
            x,
            out,
            state["count"],
            state["prev_x"],
            state["gain"],
            state["loss"],
            self.window,
            1.0 / self.window,
            float(self.window - 1),
        )
        return state, {"value": out}

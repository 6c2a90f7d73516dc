"""Row transforms of one key's series: the lag (shift by N rows)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from streambt.kernels._jit import jit
from streambt.kernels.base import Columns, Kernel, State, check_int_param, scalar

__all__ = ["LagKernel"]


@jit
def _lag_run(
    x: np.ndarray,
    out: np.ndarray,
    buf: np.ndarray,
    pos: np.ndarray,
    count: np.ndarray,
    periods: int,
) -> None:
    p = pos[0]
    n = count[0]
    for i in range(x.shape[0]):
        if n < periods:
            out[i] = np.nan
            n += 1
        else:
            out[i] = buf[p]
        buf[p] = x[i]
        p += 1
        if p == periods:
            p = 0
    pos[0] = p
    count[0] = n


class LagKernel(Kernel):
    """The value ``periods`` rows earlier in the same key (SQL ``LAG``).

    The first ``periods`` rows are NaN; NaNs in the input are shifted like
    any other value. The state is a ring buffer of the last ``periods`` values.

    Parameters
    ----------
    periods : int
        How many rows back, >= 1.

    Examples
    --------
    >>> k = LagKernel(periods=2)
    >>> k.step(k.init(), {"x": np.arange(4.0)})[1]["value"]
    array([nan, nan,  0.,  1.])
    """

    inputs = ("x",)
    outputs = ("value",)

    def __init__(self, periods: int = 1) -> None:
        super().__init__(periods=periods)
        self.periods = check_int_param("Lag", "periods", periods, 1)

    def init(self) -> State:
        return {
            "buf": np.full(self.periods, np.nan),
            "pos": scalar(0, np.int64),
            "count": scalar(0, np.int64),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        out = np.empty_like(x)
        _lag_run(x, out, state["buf"], state["pos"], state["count"], self.periods)
        return state, {"value": out}

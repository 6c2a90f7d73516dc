"""Moving-average kernels: simple (SMA) and exponential (EMA), equal to TA-Lib.

Both mirror the arithmetic of the TA-Lib C library (0.8) operation for
operation, so a kernel run gives the same bits as ``talib.SMA``/``talib.EMA``
on the same array, whether it is fed whole, row by row or in chunks.

Like TA-Lib's Python wrapper, the kernels skip leading NaNs: the computation
starts at the first number of the key. A NaN after that enters the arithmetic
as TA-Lib's does (SMA's running sum and EMA's recursion stay NaN from then on).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

import numpy as np

from streambt.kernels._jit import JIT_DISABLED, jit
from streambt.kernels.base import Columns, Kernel, State, check_int_param, scalar

__all__ = ["ExponentialMovingAverageKernel", "SimpleMovingAverageKernel"]


# TA-Lib's EMA step is C's fma(): one rounding of (x - prev) * k + prev. Numba
# gets LLVM's fma intrinsic; plain Python 3.11 has no math.fma, so the
# interpreted form rounds the exact rational result once, which is the same.
if JIT_DISABLED:

    def _fma(a: float, b: float, c: float) -> float:
        if not (math.isfinite(a) and math.isfinite(b) and math.isfinite(c)):
            return a * b + c
        exact = Fraction(a) * Fraction(b) + Fraction(c)
        if exact == 0:
            # an exact zero needs IEEE's sign rules; a*b is exact in that case
            return a * b + c
        try:
            return float(exact)
        except OverflowError:
            return math.inf if exact > 0 else -math.inf

else:
    from llvmlite import ir
    from numba.core import types
    from numba.extending import intrinsic

    @intrinsic
    def _llvm_fma(typingctx, a, b, c):
        sig = types.float64(types.float64, types.float64, types.float64)

        def codegen(context, builder, signature, args):
            f64 = ir.DoubleType()
            fn = builder.module.declare_intrinsic(
                "llvm.fma", [f64], ir.FunctionType(f64, [f64] * 3)
            )
            return builder.call(fn, args)

        return sig, codegen

    @jit
    def _fma(a: float, b: float, c: float) -> float:
        return _llvm_fma(a, b, c)  # type: ignore[call-arg]


@jit
def _sma_run(
    x: np.ndarray,
    out: np.ndarray,
    buf: np.ndarray,
    pos: np.ndarray,
    count: np.ndarray,
    total: np.ndarray,
    window: int,
) -> None:
    p = pos[0]
    n = count[0]
    t = total[0]
    for i in range(x.shape[0]):
        v = x[i]
        if n == 0 and np.isnan(v):
            out[i] = np.nan
            continue
        t += v
        buf[p] = v
        p += 1
        if p == window:
            p = 0
        if n < window:
            n += 1
        if n < window:
            out[i] = np.nan
        else:
            out[i] = t / window
            # buf[p] is the oldest value of the window that ends at x[i]
            t -= buf[p]
    pos[0] = p
    count[0] = n
    total[0] = t


@jit
def _ema_run(
    x: np.ndarray,
    out: np.ndarray,
    count: np.ndarray,
    total: np.ndarray,
    prev: np.ndarray,
    window: int,
    k: float,
) -> None:
    n = count[0]
    s = total[0]
    m = prev[0]
    for i in range(x.shape[0]):
        v = x[i]
        if n == 0 and np.isnan(v):
            out[i] = np.nan
            continue
        if n < window:
            s += v
            n += 1
            if n == window:
                m = s / window
                out[i] = m
            else:
                out[i] = np.nan
        else:
            m = _fma(v - m, k, m)
            out[i] = m
    count[0] = n
    total[0] = s
    prev[0] = m


class SimpleMovingAverageKernel(Kernel):
    """Mean of the last ``window`` values, equal to ``talib.SMA(x, window)``.

    TA-Lib keeps a running sum (add the new value, subtract the oldest), so
    the sum, not the window, carries rounding from row to row; the state
    keeps that sum and a ring buffer of the window. The first ``window - 1``
    rows after the first number are NaN. ``window=1`` returns ``x`` until
    the first NaN, and NaN from then on, as TA-Lib does.

    Parameters
    ----------
    window : int
        Number of rows averaged, >= 1.

    Examples
    --------
    >>> k = SimpleMovingAverageKernel(window=3)
    >>> k.step(k.init(), {"x": np.arange(5.0)})[1]["value"]
    array([nan, nan,  1.,  2.,  3.])
    """

    inputs = ("x",)
    outputs = ("value",)

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("SimpleMovingAverage", "window", window, 1)

    def init(self) -> State:
        return {
            "buf": np.full(self.window, np.nan),
            "pos": scalar(0, np.int64),
            "count": scalar(0, np.int64),
            "total": scalar(0.0),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        out = np.empty_like(x)
        _sma_run(x, out, state["buf"], state["pos"], state["count"], state["total"], self.window)
        return state, {"value": out}


class ExponentialMovingAverageKernel(Kernel):
    """Exponential moving average, equal to ``talib.EMA(x, window)``.

    Seeded with the mean of the first ``window`` values (so the first
    ``window - 1`` rows are NaN), then ``prev = fma(x - prev, k, prev)`` with
    ``k = 2 / (window + 1)``: TA-Lib 0.8 rounds that step once (C ``fma``),
    and so does this kernel. ``window=1`` returns ``x`` unchanged, NaNs
    included, which is TA-Lib's special case too.

    Parameters
    ----------
    window : int
        Period of the average, >= 1.

    Examples
    --------
    >>> k = ExponentialMovingAverageKernel(window=3)
    >>> k.step(k.init(), {"x": np.arange(6.0)})[1]["value"]
    array([nan, nan,  1.,  2.,  3.,  4.])
    """

    inputs = ("x",)
    outputs = ("value",)

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("ExponentialMovingAverage", "window", window, 1)
        self.k = 2.0 / (self.window + 1)

    def init(self) -> State:
        return {"count": scalar(0, np.int64), "total": scalar(0.0), "prev": scalar(np.nan)}

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        if self.window == 1:
            return state, {"value": x.copy()}
        out = np.empty_like(x)
        _ema_run(x, out, state["count"], state["total"], state["prev"], self.window, self.k)
        return state, {"value": out}

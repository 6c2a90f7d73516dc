"""Moving-average kernels: SMA, EMA, WMA, TRIMA, DEMA, TEMA and KAMA, equal to TA-Lib.

Each mirrors the arithmetic of the TA-Lib C library (0.8) operation for
operation, so a kernel run gives the same bits as ``talib.SMA``, ``EMA``,
``WMA``, ... on the same array, whether it is fed whole, row by row or in
chunks. The installed 0.8 library is not its older public C source: EMA,
DEMA, TEMA and KAMA fuse their steps (C ``fma``), WMA rebuilds its running
totals every ``8 * window`` rows, KAMA caps the efficiency ratio and resets
its path length after a flat window; each kernel's docstring says what it
follows, all found by experiment against the library and its machine code.

Like TA-Lib's Python wrapper, the kernels skip leading NaNs: the computation
starts at the first number of the key. A NaN after that enters the arithmetic
as TA-Lib's does (SMA's running sum and EMA's recursion stay NaN from then on).

The row loops keep their state in locals and, once a window lies inside the
chunk, read it from the input instead of the ring buffer; the rare rebuilds
of running sums live in separate functions (inlined, they slow every row).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction

import numpy as np

from streambt.kernels._jit import JIT_DISABLED, jit
from streambt.kernels.base import Columns, Kernel, State, check_int_param, scalar

__all__ = [
    "DoubleExponentialMovingAverageKernel",
    "ExponentialMovingAverageKernel",
    "KaufmanAdaptiveMovingAverageKernel",
    "SimpleMovingAverageKernel",
    "TriangularMovingAverageKernel",
    "TripleExponentialMovingAverageKernel",
    "WeightedMovingAverageKernel",
]


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


# -- WMA --------------------------------------------------------------------
# TA-Lib 0.8 rebuilds WMA's two running totals from the window every
# 8 * window rows (its fix of the drift of the totals): the same schedule here.
_WMA_REANCHOR_EVERY = 8


@jit
def _wma_sums(a: np.ndarray, start: int, window: int) -> tuple[float, float]:
    """(weighted sum, plain sum) of ``window`` values of ``a`` from ``start`` on, wrapping.

    Kept out of the row loops: inlined there, it slows every row (measured).
    """
    plain = 0.0
    total = 0.0
    q = start
    for j in range(window):
        w = a[q]
        plain += w
        total += w * (j + 1)
        q = q + 1 if q + 1 < a.shape[0] else 0
    return total, plain


@jit
def _wma_run(
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
    total = sums[0]  # the weighted sum, TA-Lib's periodSum
    plain = sums[1]  # the window's sum, TA-Lib's periodSub
    trailing = sums[2]
    divider = float(window) * (window + 1) / 2.0
    m = x.shape[0]
    i = 0
    # row by row through the ring buffer until the whole window lies in this chunk
    while i < m and (i < window - 1 or n < window):
        v = x[i]
        i += 1
        if n == 0 and np.isnan(v):
            out[i - 1] = np.nan
            continue
        buf[p] = v
        p = p + 1 if p + 1 < window else 0
        if n < window - 1:
            n += 1
            plain += v
            total += v * n
            out[i - 1] = np.nan
            continue
        n = window
        plain += v
        plain -= trailing
        total += v * window
        left -= 1
        if left <= 0:
            left = _WMA_REANCHOR_EVERY * window
            total, plain = _wma_sums(buf, p, window)
        # buf[p] is the oldest value of the window that ends at x[i - 1]
        trailing = buf[p]
        out[i - 1] = total / divider
        total -= plain
    if i < m:
        for t in range(i, m):
            v = x[t]
            plain += v
            plain -= trailing
            total += v * window
            left -= 1
            if left <= 0:
                left = _WMA_REANCHOR_EVERY * window
                total, plain = _wma_sums(x, t - window + 1, window)
            trailing = x[t - window + 1]
            out[t] = total / divider
            total -= plain
        # the ring restarts at 0 holding the chunk's last window values
        buf[:] = x[m - window :]
        p = 0
    ints[0] = p
    ints[1] = n
    ints[2] = left
    sums[0] = total
    sums[1] = plain
    sums[2] = trailing


class WeightedMovingAverageKernel(Kernel):
    """Linearly weighted moving average, equal to ``talib.WMA(x, window)``.

    TA-Lib keeps the weighted sum and the plain sum of the window from row to
    row and rebuilds both from the window every ``8 * window`` rows; the
    state holds both sums, the countdown and a ring buffer of the window.
    The first ``window - 1`` rows after the first number are NaN;
    ``window=1`` returns ``x`` (NaNs included), TA-Lib's special case.

    Parameters
    ----------
    window : int
        Number of rows weighted, >= 1.

    Examples
    --------
    >>> k = WeightedMovingAverageKernel(window=3)
    >>> k.step(k.init(), {"x": np.array([1.0, 2.0, 3.0, 6.0])})[1]["value"]
    array([       nan,        nan, 2.33333333, 4.33333333])
    """

    inputs = ("x",)
    outputs = ("value",)

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("WeightedMovingAverage", "window", window, 1)

    def init(self) -> State:
        return {
            "buf": np.full(self.window, np.nan),
            # position in buf, rows seen, rows left before the totals are rebuilt
            "ints": np.array([0, 0, _WMA_REANCHOR_EVERY * self.window], dtype=np.int64),
            # weighted sum, plain sum, value leaving the window next
            "sums": np.zeros(3),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        if self.window == 1:
            return state, {"value": x.copy()}
        out = np.empty_like(x)
        _wma_run(x, out, state["buf"], state["ints"], state["sums"], self.window)
        return state, {"value": out}


# -- TRIMA ------------------------------------------------------------------
@jit
def _trima_run(
    x: np.ndarray,
    out: np.ndarray,
    buf: np.ndarray,
    ints: np.ndarray,
    sums: np.ndarray,
    window: int,
    half: int,
    factor: float,
) -> None:
    p = ints[0]
    n = ints[1]
    num = sums[0]
    sub = sums[1]  # the older half of the window, TA-Lib's numeratorSub
    add = sums[2]  # the newer half, TA-Lib's numeratorAdd
    carried = sums[3]  # the value that left the window at the previous row
    odd = window % 2 == 1
    # the window's middle value is x[t - half]: buf index p - 1 - half
    mid_back = half + 1
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
        if n == window - 1:
            n = window
            # TA-Lib's first output: both halves summed from the window, the
            # older half from its middle back to its oldest value
            middle = half if odd else half - 1
            num = 0.0
            sub = 0.0
            for j in range(middle, -1, -1):
                q = p + j
                if q >= window:
                    q -= window
                sub += buf[q]
                num += sub
            add = 0.0
            for j in range(middle + 1, window):
                q = p + j
                if q >= window:
                    q -= window
                add += buf[q]
                num += add
        else:
            num -= sub
            sub -= carried
            q = p - mid_back
            if q < 0:
                q += window
            m = buf[q]
            sub += m
            if odd:
                num += add
                add -= m
            else:
                add -= m
                num += add
            add += v
            num += v
        carried = buf[p]
        out[i] = num * factor
    ints[0] = p
    ints[1] = n
    sums[0] = num
    sums[1] = sub
    sums[2] = add
    sums[3] = carried


class TriangularMovingAverageKernel(Kernel):
    """Triangular moving average, equal to ``talib.TRIMA(x, window)``.

    TA-Lib carries the triangular weighted sum as three running totals (the
    older half, the newer half and the whole) and never rebuilds them, so
    their rounding accumulates over the history; this kernel carries the same
    totals, with a ring buffer of the window. The first ``window - 1`` rows
    after the first number are NaN.

    Parameters
    ----------
    window : int
        Number of rows, >= 1.

    Examples
    --------
    >>> k = TriangularMovingAverageKernel(window=3)
    >>> k.step(k.init(), {"x": np.array([1.0, 2.0, 3.0, 6.0])})[1]["value"]
    array([nan, nan, 2. , 3.5])
    """

    inputs = ("x",)
    outputs = ("value",)

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("TriangularMovingAverage", "window", window, 1)
        self.half = self.window >> 1
        weights = (self.half + 1) ** 2 if self.window % 2 else self.half * (self.half + 1)
        self.factor = 1.0 / weights

    def init(self) -> State:
        return {
            "buf": np.full(self.window, np.nan),
            "ints": np.zeros(2, dtype=np.int64),  # position in buf, rows seen
            "sums": np.zeros(4),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        out = np.empty_like(x)
        _trima_run(
            x,
            out,
            state["buf"],
            state["ints"],
            state["sums"],
            self.window,
            self.half,
            self.factor,
        )
        return state, {"value": out}


# -- DEMA and TEMA ----------------------------------------------------------
@jit
def _ema_chain_run(
    x: np.ndarray,
    out: np.ndarray,
    count: np.ndarray,
    seed: np.ndarray,
    ema: np.ndarray,
    window: int,
    k: float,
    depth: int,
) -> None:
    """DEMA (depth 2) or TEMA (depth 3): TA-Lib's lockstep chain of EMAs.

    EMA number ``d`` (0-based) is seeded with the mean of the first
    ``window`` values of EMA ``d - 1`` (of ``x`` for ``d = 0``), summed from
    0.0 as they are produced, so it starts at row ``(d + 1) * (window - 1)``.
    """
    n = count[0]
    last = window - 1
    i = 0
    while i < x.shape[0]:
        v = x[i]
        if n == 0 and np.isnan(v):
            out[i] = np.nan
            i += 1
            continue
        if n > depth * last:
            break
        # which EMAs are running: EMA d has been seeded once n > (d + 1) * last
        level = v
        for d in range(depth):
            start = (d + 1) * last
            if n > start:
                ema[d] = _fma(level - ema[d], k, ema[d])
                level = ema[d]
                continue
            seed[d] += level
            if n == start:
                ema[d] = seed[d] / window
                level = ema[d]
                # the next EMA's seed sums from 0.0, starting with this value
                continue
            break
        n += 1
        if n <= depth * last:
            out[i] = np.nan
        elif depth == 2:
            out[i] = 2.0 * ema[0] - ema[1]
        else:
            out[i] = ema[2] + (3.0 * ema[0] - 3.0 * ema[1])
        i += 1
    # every EMA runs: the plain lockstep loop, on locals
    e1 = ema[0]
    e2 = ema[1]
    e3 = ema[2] if depth == 3 else 0.0
    if depth == 2:
        for j in range(i, x.shape[0]):
            e1 = _fma(x[j] - e1, k, e1)
            e2 = _fma(e1 - e2, k, e2)
            out[j] = 2.0 * e1 - e2
    else:
        for j in range(i, x.shape[0]):
            e1 = _fma(x[j] - e1, k, e1)
            e2 = _fma(e1 - e2, k, e2)
            e3 = _fma(e2 - e3, k, e3)
            out[j] = e3 + (3.0 * e1 - 3.0 * e2)
    if i < x.shape[0]:
        n += x.shape[0] - i
        ema[0] = e1
        ema[1] = e2
        if depth == 3:
            ema[2] = e3
    count[0] = n


class _EmaChainKernel(Kernel, register=False):
    depth = 2
    op = ""

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param(self.op, "window", window, 1)
        self.k = 2.0 / (self.window + 1)

    def init(self) -> State:
        return {
            "count": scalar(0, np.int64),
            "seed": np.zeros(self.depth),
            "ema": np.zeros(self.depth),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        if self.window == 1:
            return state, {"value": x.copy()}
        out = np.empty_like(x)
        _ema_chain_run(
            x, out, state["count"], state["seed"], state["ema"], self.window, self.k, self.depth
        )
        return state, {"value": out}


class DoubleExponentialMovingAverageKernel(_EmaChainKernel):
    """DEMA ``2 * EMA - EMA(EMA)``, equal to ``talib.DEMA(x, window)``.

    TA-Lib 0.8 runs both EMAs in one lockstep pass: the second is seeded with
    the mean of the first ``window`` values of the first, and each step is
    ``fma(x - prev, k, prev)`` as in EMA. The first ``2 * (window - 1)`` rows
    after the first number are NaN; ``window=1`` returns ``x``.

    Parameters
    ----------
    window : int
        Period of both EMAs, >= 1.

    Examples
    --------
    >>> k = DoubleExponentialMovingAverageKernel(window=2)
    >>> k.step(k.init(), {"x": np.array([1.0, 2.0, 3.0, 4.0])})[1]["value"]
    array([nan, nan,  3.,  4.])
    """

    inputs = ("x",)
    outputs = ("value",)
    depth = 2
    op = "DoubleExponentialMovingAverage"


class TripleExponentialMovingAverageKernel(_EmaChainKernel):
    """TEMA ``3 * EMA - 3 * EMA(EMA) + EMA(EMA(EMA))``, equal to ``talib.TEMA(x, window)``.

    Three EMAs in TA-Lib's lockstep pass, each seeded with the mean of the
    first ``window`` values of the one before; the output keeps TA-Lib's
    grouping ``e3 + (3 * e1 - 3 * e2)``. The first ``3 * (window - 1)`` rows
    after the first number are NaN; ``window=1`` returns ``x``.

    Parameters
    ----------
    window : int
        Period of the three EMAs, >= 1.

    Examples
    --------
    >>> k = TripleExponentialMovingAverageKernel(window=2)
    >>> k.step(k.init(), {"x": np.arange(1.0, 7.0)})[1]["value"]
    array([nan, nan, nan,  4.,  5.,  6.])
    """

    inputs = ("x",)
    outputs = ("value",)
    depth = 3
    op = "TripleExponentialMovingAverage"


# -- KAMA -------------------------------------------------------------------
_KAMA_FAST = 2.0 / (2.0 + 1.0)
_KAMA_SLOW = 2.0 / (30.0 + 1.0)


@jit
def _kama_factor(change: float, path: float) -> float:
    # TA-Lib 0.8: efficiency 1 when the path is not positive or the change
    # reaches it, else |change / path| capped at 1; both steps fused (fma)
    if path <= 0.0 or change >= path:
        er = 1.0
    else:
        er = abs(change / path)
        # written so that a NaN ratio stays NaN, like the library's minsd
        er = 1.0 if er > 1.0 else er
    sc = _fma(er, _KAMA_FAST - _KAMA_SLOW, _KAMA_SLOW)
    return sc * sc


@jit
def _kama_next(
    v: float,
    prev: float,
    back: float,
    gone: float,
    window: int,
    path: float,
    flat: int,
    kama: float,
) -> tuple[float, float, int]:
    """One KAMA step from x[t], x[t-1], x[t-window], x[t-window-1]: (kama, path, flat run)."""
    d = v - prev
    if d == 0.0:
        flat += 1
        # a flat window: TA-Lib resets the path to an exact 0 (no residue)
        if flat >= window:
            return _fma(_kama_factor(0.0, 0.0), v - kama, kama), 0.0, window
    else:
        flat = 0
    path = abs(d) + (path - abs(gone - back))
    return _fma(_kama_factor(v - back, path), v - kama, kama), path, flat


@jit
def _kama_run(
    x: np.ndarray,
    out: np.ndarray,
    buf: np.ndarray,
    ints: np.ndarray,
    sums: np.ndarray,
    window: int,
) -> None:
    size = buf.shape[0]  # window + 2: x[t - window - 1] .. x[t]
    m = x.shape[0]
    p = ints[0]
    n = ints[1]
    flat = ints[2]  # consecutive zero one-bar changes
    path = sums[0]  # sum of |one-bar change| over the window
    kama = sums[1]
    i = 0
    # row by row through the ring buffer until x[t - window - 1] lies in this chunk
    while i < m and (i <= window or n <= window):
        v = x[i]
        if n == 0 and np.isnan(v):
            out[i] = np.nan
            i += 1
            continue
        prev = buf[p - 1 if p > 0 else size - 1]  # x[t - 1]
        buf[p] = v
        p = p + 1 if p + 1 < size else 0
        q = p - 1 - window
        q = q if q >= 0 else q + size
        back = buf[q]  # x[t - window]
        if n <= window:
            # the first window changes, oldest first, make the path
            if n > 0:
                d = prev - v
                path += abs(d)
                flat = flat + 1 if d == 0.0 else 0
            out[i] = np.nan
            if n == window:
                # the first KAMA starts from yesterday's value
                kama = _fma(_kama_factor(v - back, path), v - prev, prev)
                out[i] = kama
            n += 1
        else:
            gone = buf[q - 1 if q > 0 else size - 1]  # x[t - window - 1]
            kama, path, flat = _kama_next(v, prev, back, gone, window, path, flat, kama)
            out[i] = kama
        i += 1
    if i < m:
        for j in range(i, m):
            kama, path, flat = _kama_next(
                x[j], x[j - 1], x[j - window], x[j - window - 1], window, path, flat, kama
            )
            out[j] = kama
        # the ring restarts at 0 holding the chunk's last window + 2 values
        buf[:] = x[m - size :]
        p = 0
    ints[0] = p
    ints[1] = n
    ints[2] = flat
    sums[0] = path
    sums[1] = kama


class KaufmanAdaptiveMovingAverageKernel(Kernel):
    """Kaufman's adaptive moving average, equal to ``talib.KAMA(x, window)``.

    ``kama += sc * (x - kama)`` with ``sc = (er * (2/3 - 2/31) + 2/31) ** 2``
    and ``er`` the efficiency ratio over ``window`` bars, seeded with the
    previous value. It mirrors TA-Lib 0.8, which differs from the older C
    source: both steps are ``fma``, ``er`` is capped at 1, a path that is not
    positive counts as ``er = 1``, and the running path length is reset to
    an exact 0 once ``window`` consecutive changes are 0. The first
    ``window`` rows after the first number are NaN; ``window=1`` returns
    ``x``, TA-Lib's special case.

    Parameters
    ----------
    window : int
        Efficiency-ratio period, >= 1.

    Examples
    --------
    >>> k = KaufmanAdaptiveMovingAverageKernel(window=2)
    >>> k.step(k.init(), {"x": np.array([1.0, 2.0, 3.0, 3.0])})[1]["value"]
    array([       nan,        nan, 2.44444444, 2.69135802])
    """

    inputs = ("x",)
    outputs = ("value",)

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("KaufmanAdaptiveMovingAverage", "window", window, 1)

    def init(self) -> State:
        return {
            "buf": np.full(self.window + 2, np.nan),
            # position in buf, rows seen, run of zero changes
            "ints": np.zeros(3, dtype=np.int64),
            "sums": np.zeros(2),  # path length, KAMA
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        if self.window == 1:
            return state, {"value": x.copy()}
        out = np.empty_like(x)
        _kama_run(x, out, state["buf"], state["ints"], state["sums"], self.window)
        return state, {"value": out}

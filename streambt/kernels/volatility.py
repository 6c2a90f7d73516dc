"""Volatility kernels: standard deviation, true range, ATR, NATR and Bollinger Bands, equal to TA-Lib.

TA-Lib 0.8 no longer computes the variance as ``mean(x^2) - mean(x)^2`` over
raw running sums (that cancels catastrophically on prices far from zero). It
keeps the running sums of ``x - shift``, where ``shift`` starts at the first
value, and re-anchors (``shift`` = the window's mean, sums rebuilt from the
window) when the result looks cancelled, when the value leaving the window
dwarfs what remains, and every ``32 * window`` rows. This kernel mirrors that
schedule exactly, so it gives the same bits as ``talib.STDDEV`` in any chunking.

The range kernels (TRANGE, ATR, NATR) read ``high``, ``low`` and ``close``
and, like TA-Lib's Python wrapper, start at the first row where all three are
numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from streambt.kernels._jit import jit
from streambt.kernels.averages import _fma, _sma_run
from streambt.kernels.base import Columns, Kernel, State, check_int_param, scalar

__all__ = [
    "AverageTrueRangeKernel",
    "BollingerBandsKernel",
    "NormalizedAverageTrueRangeKernel",
    "StandardDeviationKernel",
    "TrueRangeKernel",
]

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


# --- true range, ATR, NATR, Bollinger Bands ---------------------------------
#
# The installed TA-Lib picks its ATR/NATR code at load time by CPU (an ifunc):
# on a CPU with FMA, Wilder's step is ``fma(atr, k, tr * (1 - k))`` with
# ``k = (window - 1) / window``, not the C source's ``(atr * (window - 1) + tr)
# / window``; the kernels mirror the FMA build (as EMA's kernel does).


@jit
def _true_range(h: float, lo: float, prev_close: float) -> float:
    # TA-Lib's comparison order, so that a NaN previous close yields high - low
    g = h - lo
    v = abs(prev_close - h)
    if v > g:
        g = v
    v = abs(prev_close - lo)
    if v > g:
        g = v
    return g


@jit
def _atr_run(
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    out: np.ndarray,
    count: np.ndarray,
    prev_close: np.ndarray,
    total: np.ndarray,
    atr: np.ndarray,
    window: int,
    mode: int,
) -> None:
    """``mode`` 0: true range; 1: ATR; 2: NATR (percent of the close)."""
    n = count[0]
    pc = prev_close[0]
    t = total[0]
    a = atr[0]
    k = (window - 1) / window
    w = 1.0 - k
    for i in range(h.shape[0]):
        if n == 0:
            out[i] = np.nan
            if not (np.isnan(h[i]) or np.isnan(lo[i]) or np.isnan(c[i])):
                pc = c[i]
                n = 1
            continue
        tr = _true_range(h[i], lo[i], pc)
        pc = c[i]
        if mode == 0:
            out[i] = tr
            continue
        if n <= window:
            t += tr
            n += 1
            if n <= window:
                out[i] = np.nan
                continue
            a = t / window
        else:
            a = _fma(a, k, tr * w)
        # TA-Lib's NATR with window 1 is its ATR, not normalized
        if mode == 1 or window == 1:
            out[i] = a
        else:
            out[i] = a / c[i] * 100.0 if c[i] != 0.0 else 0.0
    count[0] = n
    prev_close[0] = pc
    total[0] = t
    atr[0] = a


class _RangeKernel(Kernel, register=False):
    inputs = ("high", "low", "close")
    outputs = ("value",)
    mode = 1
    window = 1

    def init(self) -> State:
        return {
            "count": scalar(0, np.int64),
            "prev_close": scalar(np.nan),
            "total": scalar(0.0),
            "atr": scalar(np.nan),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        h, lo, c = (np.ascontiguousarray(cols[f], dtype=np.float64) for f in self.inputs)
        out = np.empty_like(c)
        _atr_run(
            h,
            lo,
            c,
            out,
            state["count"],
            state["prev_close"],
            state["total"],
            state["atr"],
            self.window,
            self.mode,
        )
        return state, {"value": out}


class TrueRangeKernel(_RangeKernel):
    """True range, equal to ``talib.TRANGE(high, low, close)``.

    ``max(high - low, |prev_close - high|, |prev_close - low|)``; the first
    row (no previous close) is NaN.

    Examples
    --------
    >>> k = TrueRangeKernel()
    >>> cols = {"high": np.array([2.0, 3.0, 6.0]), "low": np.array([1.0, 2.5, 5.0]),
    ...         "close": np.array([1.5, 2.5, 5.5])}
    >>> k.step(k.init(), cols)[1]["value"]
    array([nan, 1.5, 3.5])
    """

    mode = 0

    def __init__(self) -> None:
        super().__init__()


class AverageTrueRangeKernel(_RangeKernel):
    """Wilder's average true range, equal to ``talib.ATR(high, low, close, window)``.

    Seeded with the mean of the first ``window`` true ranges (the first
    ``window`` rows are NaN), then ``atr = fma(atr, k, tr * (1 - k))`` with
    ``k = (window - 1) / window``, which is what TA-Lib 0.8 runs on a CPU with
    FMA. With ``window=1`` that is the true range (NaN for good after a NaN,
    as TA-Lib).

    Parameters
    ----------
    window : int
        Smoothing period, >= 1.

    Examples
    --------
    >>> k = AverageTrueRangeKernel(window=2)
    >>> cols = {"high": np.array([2.0, 3.0, 6.0, 6.0]), "low": np.array([1.0, 2.5, 5.0, 5.0]),
    ...         "close": np.array([1.5, 2.5, 5.5, 5.5])}
    >>> k.step(k.init(), cols)[1]["value"]
    array([ nan,  nan, 2.5 , 1.75])
    """

    mode = 1

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("AverageTrueRange", "window", window, 1)


class NormalizedAverageTrueRangeKernel(_RangeKernel):
    """ATR as a percentage of the close, equal to ``talib.NATR(high, low, close, window)``.

    ``100 * atr / close`` (0.0 where the close is 0). TA-Lib's ``NATR`` with
    ``window=1`` returns ``ATR(1)``, the true range itself, not normalized,
    and so does this kernel.

    Parameters
    ----------
    window : int
        Smoothing period, >= 1.

    Examples
    --------
    >>> k = NormalizedAverageTrueRangeKernel(window=2)
    >>> cols = {"high": np.array([2.0, 3.0, 6.0]), "low": np.array([1.0, 2.5, 5.0]),
    ...         "close": np.array([1.5, 2.5, 5.0])}
    >>> k.step(k.init(), cols)[1]["value"]
    array([nan, nan, 50.])
    """

    mode = 2

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("NormalizedAverageTrueRange", "window", window, 1)


class BollingerBandsKernel(Kernel):
    """Bollinger Bands, equal to ``talib.BBANDS(x, window, nbdev, nbdev, MA_Type.SMA)``.

    The middle band is TA-Lib's SMA and the deviation is TA-Lib's ``STDDEV``
    (the installed library calls both, bit for bit; the public C source's
    inline sum-of-squares variant is not what it runs), so this kernel runs
    the SMA and standard-deviation kernels side by side. Then, as TA-Lib:
    ``d = stddev * nbdev``, ``upper = middle + d``, ``lower = middle - d``.

    Parameters
    ----------
    window : int
        Number of rows, >= 2 (TA-Lib's range).
    nbdev : float
        Width of the bands in standard deviations, default 2.0.

    Examples
    --------
    >>> k = BollingerBandsKernel(window=2, nbdev=2.0)
    >>> out = k.step(k.init(), {"x": np.array([1.0, 3.0, 3.0])})[1]
    >>> out["upper"], out["middle"], out["lower"]
    (array([nan,  4.,  3.]), array([nan,  2.,  3.]), array([nan,  0.,  3.]))
    """

    inputs = ("x",)
    outputs = ("upper", "middle", "lower")

    def __init__(self, window: int, nbdev: float = 2.0) -> None:
        super().__init__(window=window, nbdev=nbdev)
        self.window = check_int_param("BollingerBands", "window", window, 2)
        self.nbdev = float(nbdev)

    def init(self) -> State:
        sd = StandardDeviationKernel(self.window, 1.0).init()
        return {
            "sma_buf": np.full(self.window, np.nan),
            "sma_pos": scalar(0, np.int64),
            "sma_count": scalar(0, np.int64),
            "sma_total": scalar(0.0),
            **{f"sd_{name}": value for name, value in sd.items()},
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        middle = np.empty_like(x)
        sd = np.empty_like(x)
        _sma_run(
            x,
            middle,
            state["sma_buf"],
            state["sma_pos"],
            state["sma_count"],
            state["sma_total"],
            self.window,
        )
        _stddev_run(
            x,
            sd,
            state["sd_buf"],
            state["sd_pos"],
            state["sd_count"],
            state["sd_shift"],
            state["sd_sum1"],
            state["sd_sum2"],
            state["sd_countdown"],
            self.window,
            1.0,
        )
        d = sd * self.nbdev
        return state, {"upper": middle + d, "middle": middle, "lower": middle - d}

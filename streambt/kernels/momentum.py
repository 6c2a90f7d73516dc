"""Momentum kernels: RSI, MACD, ROC and MOM, equal to TA-Lib.

The arithmetic mirrors the TA-Lib C library (0.8) step for step, so each
kernel returns the same bits as ``talib.RSI``, ``MACD``, ``ROC`` and ``MOM``
whether it is fed whole, row by row or in chunks. Leading NaNs are skipped,
as TA-Lib's Python wrapper does.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from streambt.kernels._jit import jit
from streambt.kernels.averages import _fma
from streambt.kernels.base import Columns, Kernel, State, check_int_param, scalar

__all__ = [
    "MomentumKernel",
    "MovingAverageConvergenceDivergenceKernel",
    "RateOfChangeKernel",
    "RelativeStrengthIndexKernel",
]


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


# -- MACD -------------------------------------------------------------------
@jit
def _macd_run(
    x: np.ndarray,
    macd: np.ndarray,
    signal: np.ndarray,
    hist: np.ndarray,
    count: np.ndarray,
    state: np.ndarray,
    fast: int,
    slow: int,
    sig: int,
    kf: float,
    ks: float,
    kg: float,
) -> None:
    # state: slow seed sum, fast EMA (its seed sum first), slow EMA, signal EMA (its seed sum first)
    n = count[0]
    total = state[0]
    ef = state[1]
    es = state[2]
    eg = state[3]
    only_slow = slow - fast
    first = slow - 1  # the row of the first MACD-line value
    out_from = first + sig - 1
    for i in range(x.shape[0]):
        v = x[i]
        if n == 0 and np.isnan(v):
            macd[i] = np.nan
            signal[i] = np.nan
            hist[i] = np.nan
            continue
        m = np.nan
        if n < first:
            # both EMAs are seeded with the mean of the first values; the fast
            # window is the tail of the slow one
            if n >= only_slow:
                ef += v
            total += v
        elif n == first:
            if n >= only_slow:
                ef += v
            total += v
            es = total / slow
            ef = ef / fast
            m = ef - es
            eg = 0.0 + m
        else:
            ef = _fma(v - ef, kf, ef)
            es = _fma(v - es, ks, es)
            m = ef - es
            if n <= out_from:
                eg += m
            else:
                # a signal period of 1 copies the line, as TA-Lib does
                eg = _fma(m - eg, kg, eg) if sig > 1 else m
        if n == out_from:
            eg = eg / sig
        n += 1
        if n <= out_from:
            macd[i] = np.nan
            signal[i] = np.nan
            hist[i] = np.nan
        else:
            macd[i] = m
            signal[i] = eg
            hist[i] = m - eg
    count[0] = n
    state[0] = total
    state[1] = ef
    state[2] = es
    state[3] = eg


class MovingAverageConvergenceDivergenceKernel(Kernel):
    """MACD line, signal and histogram, equal to ``talib.MACD(x, fast, slow, signal)``.

    TA-Lib 0.8 computes the three EMAs in one lockstep pass: the fast and the
    slow EMA are seeded with the means of their first periods, both windows
    ending on the same row (row ``slow - 1``), the signal EMA with the mean of
    the first ``signal`` MACD values; every step is ``fma(x - prev, k, prev)``
    and a signal period of 1 copies the MACD line. ``slow < fast`` is swapped,
    as in TA-Lib. The first ``slow + signal - 2`` rows after the first number
    are NaN.

    Parameters
    ----------
    fast, slow : int
        EMA periods, >= 2.
    signal : int
        Period of the signal EMA, >= 1.

    Examples
    --------
    >>> k = MovingAverageConvergenceDivergenceKernel(fast=2, slow=3, signal=2)
    >>> out = k.step(k.init(), {"x": np.array([1.0, 2.0, 4.0, 8.0, 8.0])})[1]
    >>> out["macd"].round(4)
    array([   nan,    nan,    nan, 1.1667, 0.8611])
    >>> out["signal"].round(4)
    array([   nan,    nan,    nan, 0.9167, 0.8796])
    """

    inputs = ("x",)
    outputs = ("macd", "signal", "hist")

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        super().__init__(fast=fast, slow=slow, signal=signal)
        op = "MovingAverageConvergenceDivergence"
        fast = check_int_param(op, "fast", fast, 2)
        slow = check_int_param(op, "slow", slow, 2)
        self.signal = check_int_param(op, "signal", signal, 1)
        self.fast, self.slow = min(fast, slow), max(fast, slow)

    def init(self) -> State:
        return {"count": scalar(0, np.int64), "ema": np.zeros(4)}

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        macd, signal, hist = np.empty_like(x), np.empty_like(x), np.empty_like(x)
        _macd_run(
            x,
            macd,
            signal,
            hist,
            state["count"],
            state["ema"],
            self.fast,
            self.slow,
            self.signal,
            2.0 / (self.fast + 1),
            2.0 / (self.slow + 1),
            2.0 / (self.signal + 1),
        )
        return state, {"macd": macd, "signal": signal, "hist": hist}


# -- ROC and MOM ------------------------------------------------------------
@jit
def _change(v: float, old: float, rate: bool) -> float:
    if not rate:
        return v - old
    if old != 0.0:
        return (v / old - 1.0) * 100.0
    return 0.0


@jit
def _change_run(
    x: np.ndarray, out: np.ndarray, buf: np.ndarray, ints: np.ndarray, window: int, rate: bool
) -> None:
    p = ints[0]
    n = ints[1]
    size = x.shape[0]
    i = 0
    # row by row through the ring buffer until x[t - window] lies in this chunk
    while i < size and (i < window or n < window):
        v = x[i]
        if n == 0 and np.isnan(v):
            out[i] = np.nan
            i += 1
            continue
        old = buf[p]  # x[t - window] once the buffer is full
        buf[p] = v
        p += 1
        if p == window:
            p = 0
        if n < window:
            n += 1
            out[i] = np.nan
        else:
            out[i] = _change(v, old, rate)
        i += 1
    if i == size:
        ints[0] = p
        ints[1] = n
        return
    if rate:
        for j in range(i, size):
            out[j] = _change(x[j], x[j - window], True)
    else:
        # MOM: the plain difference, as TA-Lib computes it
        for j in range(i, size):
            out[j] = x[j] - x[j - window]
    # the ring restarts at 0 holding the chunk's last window values
    buf[:] = x[size - window :]
    ints[0] = 0
    ints[1] = n


class _ChangeKernel(Kernel, register=False):
    rate = False
    op = ""

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param(self.op, "window", window, 1)

    def init(self) -> State:
        # the last window values, position in the ring and rows seen
        return {"buf": np.full(self.window, np.nan), "ints": np.zeros(2, dtype=np.int64)}

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        out = np.empty_like(x)
        _change_run(x, out, state["buf"], state["ints"], self.window, self.rate)
        return state, {"value": out}


class RateOfChangeKernel(_ChangeKernel):
    """``(x[t] / x[t-N] - 1) * 100``, equal to ``talib.ROC(x, window)`` (0.0 where ``x[t-N]`` is 0).

    Parameters
    ----------
    window : int
        Distance in rows, >= 1.

    Examples
    --------
    >>> k = RateOfChangeKernel(window=1)
    >>> k.step(k.init(), {"x": np.array([0.0, 2.0, 3.0])})[1]["value"]
    array([nan,  0., 50.])
    """

    inputs = ("x",)
    outputs = ("value",)
    rate = True
    op = "RateOfChange"


class MomentumKernel(_ChangeKernel):
    """``x[t] - x[t-N]``, equal to ``talib.MOM(x, window)``.

    Parameters
    ----------
    window : int
        Distance in rows, >= 1.

    Examples
    --------
    >>> k = MomentumKernel(window=2)
    >>> k.step(k.init(), {"x": np.array([1.0, 2.0, 4.0, 8.0])})[1]["value"]
    array([nan, nan,  3.,  6.])
    """

    inputs = ("x",)
    outputs = ("value",)
    op = "Momentum"

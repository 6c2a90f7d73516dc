"""Volume kernels: OBV, A/D line, Chaikin oscillator (equal to TA-Lib) and a rolling VWAP.

OBV, AD and ADOSC mirror the TA-Lib C library (0.8) operation for operation,
so a kernel run gives the same bits as ``talib.OBV``/``AD``/``ADOSC`` in any
chunking. Like TA-Lib's Python wrapper, they start at the first row where
every input is a number (leading NaNs are skipped); a NaN after that enters
the arithmetic as in TA-Lib (the running totals stay NaN from then on).

The installed TA-Lib computes ADOSC's averages as
``fma(1 - k, ema, k * ad)``: the C source's ``k * ad + (1 - k) * ema``
with the second product fused (the compiler's contraction), which is what
this kernel does through the shared ``_fma`` of the EMA kernel. The plain
expression and EMA's ``fma(ad - ema, k, ema)`` both differ in the last bits.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from streambt.kernels._jit import jit
from streambt.kernels.averages import _fma
from streambt.kernels.base import Columns, Kernel, State, check_int_param, scalar
from streambt.kernels.factors import dd_add

__all__ = [
    "AccumulationDistributionKernel",
    "ChaikinOscillatorKernel",
    "OnBalanceVolumeKernel",
    "VolumeWeightedAveragePriceKernel",
]


@jit
def _obv_run(
    close: np.ndarray,
    volume: np.ndarray,
    out: np.ndarray,
    started: np.ndarray,
    prev_close: np.ndarray,
    total: np.ndarray,
) -> None:
    go = started[0]
    pc = prev_close[0]
    t = total[0]
    for i in range(close.shape[0]):
        c = close[i]
        v = volume[i]
        if go == 0:
            if np.isnan(c) or np.isnan(v):
                out[i] = np.nan
                continue
            # TA-Lib seeds the total with the first volume, whatever the close did
            go = 1
            pc = c
            t = v
            out[i] = t
            continue
        if c > pc:
            t += v
        elif c < pc:
            t -= v
        out[i] = t
        pc = c
    started[0] = go
    prev_close[0] = pc
    total[0] = t


@jit
def _ad_step(h: float, lo: float, c: float, v: float, ad: float) -> float:
    rng = h - lo
    if rng > 0.0:
        ad += (((c - lo) - (h - c)) / rng) * v
    return ad


@jit
def _ad_run(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    out: np.ndarray,
    started: np.ndarray,
    total: np.ndarray,
) -> None:
    go = started[0]
    ad = total[0]
    for i in range(high.shape[0]):
        h, lo, c, v = high[i], low[i], close[i], volume[i]
        if go == 0:
            if np.isnan(h) or np.isnan(lo) or np.isnan(c) or np.isnan(v):
                out[i] = np.nan
                continue
            go = 1
        ad = _ad_step(h, lo, c, v, ad)
        out[i] = ad
    started[0] = go
    total[0] = ad


@jit
def _adosc_run(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    out: np.ndarray,
    count: np.ndarray,
    values: np.ndarray,
    lookback: int,
    fast_k: float,
    slow_k: float,
) -> None:
    # count: rows since the start, capped at lookback (then the loop below has no checks)
    n = count[0]
    ad, fast, slow = values[0], values[1], values[2]
    fast_keep = 1.0 - fast_k
    slow_keep = 1.0 - slow_k
    size = high.shape[0]
    i = 0
    while i < size and n < lookback:
        h, lo, c, v = high[i], low[i], close[i], volume[i]
        out[i] = np.nan
        i += 1
        if n == 0:
            if np.isnan(h) or np.isnan(lo) or np.isnan(c) or np.isnan(v):
                continue
            ad = _ad_step(h, lo, c, v, ad)
            fast = ad
            slow = ad
        else:
            ad = _ad_step(h, lo, c, v, ad)
            fast = _fma(fast_keep, fast, fast_k * ad)
            slow = _fma(slow_keep, slow, slow_k * ad)
        n += 1
    # Views from i: indexes from 0 let numba drop its negative-index checks,
    # which otherwise cost half the speed of this loop.
    hs, ls, cs, vs, os = high[i:], low[i:], close[i:], volume[i:], out[i:]
    for j in range(hs.shape[0]):
        ad = _ad_step(hs[j], ls[j], cs[j], vs[j], ad)
        fast = _fma(fast_keep, fast, fast_k * ad)
        slow = _fma(slow_keep, slow, slow_k * ad)
        os[j] = fast - slow
    count[0] = n
    values[0], values[1], values[2] = ad, fast, slow


class OnBalanceVolumeKernel(Kernel):
    """On-balance volume, equal to ``talib.OBV(close, volume)``.

    The first value is the first volume; then the volume is added when the
    close rises, subtracted when it falls, and nothing happens when it is
    unchanged.

    Examples
    --------
    >>> k = OnBalanceVolumeKernel()
    >>> cols = {"close": np.array([1.0, 2.0, 2.0, 1.0]), "volume": np.array([5.0, 3.0, 4.0, 1.0])}
    >>> k.step(k.init(), cols)[1]["value"]
    array([5., 8., 8., 7.])
    """

    inputs = ("close", "volume")
    outputs = ("value",)

    def init(self) -> State:
        return {
            "started": scalar(0, np.int64),
            "prev_close": scalar(np.nan),
            "total": scalar(0.0),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        close = np.ascontiguousarray(cols["close"], dtype=np.float64)
        volume = np.ascontiguousarray(cols["volume"], dtype=np.float64)
        out = np.empty_like(close)
        _obv_run(close, volume, out, state["started"], state["prev_close"], state["total"])
        return state, {"value": out}


class AccumulationDistributionKernel(Kernel):
    """Chaikin's A/D line, equal to ``talib.AD(high, low, close, volume)``.

    Adds ``((close - low) - (high - close)) / (high - low) * volume`` per row,
    nothing when ``high == low``; no warm-up.

    Examples
    --------
    >>> k = AccumulationDistributionKernel()
    >>> cols = {"high": np.array([4.0, 4.0]), "low": np.array([2.0, 4.0]),
    ...         "close": np.array([3.5, 4.0]), "volume": np.array([10.0, 7.0])}
    >>> k.step(k.init(), cols)[1]["value"]
    array([5., 5.])
    """

    inputs = ("high", "low", "close", "volume")
    outputs = ("value",)

    def init(self) -> State:
        return {"started": scalar(0, np.int64), "total": scalar(0.0)}

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        h, lo, c, v = (np.ascontiguousarray(cols[f], dtype=np.float64) for f in self.inputs)
        out = np.empty_like(h)
        _ad_run(h, lo, c, v, out, state["started"], state["total"])
        return state, {"value": out}


class ChaikinOscillatorKernel(Kernel):
    """EMA(fast) - EMA(slow) of the A/D line, equal to ``talib.ADOSC``.

    Both EMAs (``k = 2 / (period + 1)``) start at the first A/D value; the
    first ``max(fast, slow) - 1`` rows are NaN. TA-Lib accepts ``fast >=
    slow`` too; periods below 2 are rejected, as by TA-Lib.

    Parameters
    ----------
    fast, slow : int
        EMA periods, >= 2 (defaults 3 and 10, TA-Lib's).

    Examples
    --------
    >>> k = ChaikinOscillatorKernel(fast=2, slow=3)
    >>> cols = {"high": np.full(4, 4.0), "low": np.full(4, 2.0),
    ...         "close": np.array([4.0, 4.0, 2.0, 2.0]), "volume": np.full(4, 3.0)}
    >>> np.round(k.step(k.init(), cols)[1]["value"], 4)
    array([    nan,     nan, -0.0833, -0.6528])
    """

    inputs = ("high", "low", "close", "volume")
    outputs = ("value",)

    def __init__(self, fast: int = 3, slow: int = 10) -> None:
        super().__init__(fast=fast, slow=slow)
        self.fast = check_int_param("ChaikinOscillator", "fast", fast, 2)
        self.slow = check_int_param("ChaikinOscillator", "slow", slow, 2)

    def init(self) -> State:
        # values: A/D total, fast EMA, slow EMA
        return {"count": scalar(0, np.int64), "values": np.array([0.0, np.nan, np.nan])}

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        h, lo, c, v = (np.ascontiguousarray(cols[f], dtype=np.float64) for f in self.inputs)
        out = np.empty_like(h)
        _adosc_run(
            h,
            lo,
            c,
            v,
            out,
            state["count"],
            state["values"],
            max(self.fast, self.slow) - 1,
            2.0 / (self.fast + 1),
            2.0 / (self.slow + 1),
        )
        return state, {"value": out}


@jit
def _vwap_run(
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    out: np.ndarray,
    pv_buf: np.ndarray,
    v_buf: np.ndarray,
    counts: np.ndarray,
    sums: np.ndarray,
    window: int,
) -> None:
    # counts: rows seen (capped), ring position, NaNs in the ring, nonzero volumes in the ring
    seen, p, nans, nonzero = counts[0], counts[1], counts[2], counts[3]
    num_hi, num_lo, den_hi, den_lo = sums[0], sums[1], sums[2], sums[3]
    for i in range(high.shape[0]):
        pv = (high[i] + low[i] + close[i]) / 3.0 * volume[i]
        v = volume[i]
        if seen == window:
            old_pv = pv_buf[p]
            old_v = v_buf[p]
            if np.isnan(old_pv):
                nans -= 1
            else:
                num_hi, num_lo = dd_add(num_hi, num_lo, -old_pv)
                den_hi, den_lo = dd_add(den_hi, den_lo, -old_v)
                if old_v != 0.0:
                    nonzero -= 1
        else:
            seen += 1
        pv_buf[p] = pv
        v_buf[p] = v
        p += 1
        if p == window:
            p = 0
        if np.isnan(pv):
            nans += 1
        else:
            num_hi, num_lo = dd_add(num_hi, num_lo, pv)
            den_hi, den_lo = dd_add(den_hi, den_lo, v)
            if v != 0.0:
                nonzero += 1
        if seen < window or nans > 0 or nonzero == 0:
            out[i] = np.nan
        else:
            out[i] = num_hi / den_hi
    counts[0], counts[1], counts[2], counts[3] = seen, p, nans, nonzero
    sums[0], sums[1], sums[2], sums[3] = num_hi, num_lo, den_hi, den_lo


class VolumeWeightedAveragePriceKernel(Kernel):
    """Rolling VWAP: ``sum(tp * volume) / sum(volume)`` over the last ``window`` rows.

    ``tp = (high + low + close) / 3``. NaN for the first ``window - 1`` rows,
    while a NaN (e.g. a missing volume) is in the window, and when every
    volume in the window is 0. Both sums are compensated rolling sums
    (``kernels.factors``), so a volume spike leaving the window leaves no
    error behind.

    Parameters
    ----------
    window : int
        Number of rows, >= 1.

    Examples
    --------
    >>> k = VolumeWeightedAveragePriceKernel(window=2)
    >>> cols = {"high": np.array([3.0, 6.0, 9.0]), "low": np.array([3.0, 6.0, 9.0]),
    ...         "close": np.array([3.0, 6.0, 9.0]), "volume": np.array([1.0, 2.0, 0.0])}
    >>> k.step(k.init(), cols)[1]["value"]
    array([nan,  5.,  6.])
    """

    inputs = ("high", "low", "close", "volume")
    outputs = ("value",)

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("VolumeWeightedAveragePrice", "window", window, 1)

    def init(self) -> State:
        return {
            "pv_buf": np.full(self.window, np.nan),
            "v_buf": np.full(self.window, np.nan),
            "counts": np.zeros(4, np.int64),
            # numerator hi/lo, denominator hi/lo
            "sums": np.zeros(4),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        h, lo, c, v = (np.ascontiguousarray(cols[f], dtype=np.float64) for f in self.inputs)
        out = np.empty_like(h)
        _vwap_run(
            h,
            lo,
            c,
            v,
            out,
            state["pv_buf"],
            state["v_buf"],
            state["counts"],
            state["sums"],
            self.window,
        )
        return state, {"value": out}

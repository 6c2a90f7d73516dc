"""Trend kernels: directional movement (+DI, -DI, ADX) and the parabolic SAR, equal to TA-Lib.

Each mirrors the installed TA-Lib C library (0.8) operation for operation, so
a kernel run gives the same bits as the TA-Lib function in any chunking. Like
TA-Lib's Python wrapper, a kernel starts at the first row where every input
is a number. Differences from the public C source, found by comparing
variants and reading the library's machine code:

- +DI/-DI/ADX test the smoothed true range with ``> 0`` and the DI sum with a
  ``1e-14`` absolute tolerance (the C source's ``TA_IS_ZERO`` is ``1e-8``);
- SAR's step ``sar + af * (ep - sar)`` is one ``fma`` in the build TA-Lib
  selects on a CPU with FMA (it dispatches by CPU at load time), and this
  kernel mirrors that build.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from streambt.kernels._jit import jit
from streambt.kernels.averages import _fma
from streambt.kernels.base import Columns, Kernel, State, check_int_param
from streambt.kernels.volatility import _true_range

__all__ = [
    "AverageDirectionalIndexKernel",
    "MinusDirectionalIndicatorKernel",
    "ParabolicSARKernel",
    "PlusDirectionalIndicatorKernel",
]

_DI_ZERO = 1e-14

# what a directional kernel emits
_PLUS_DI = 0
_MINUS_DI = 1
_ADX = 2


@jit
def _dm_run(
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    out: np.ndarray,
    count: np.ndarray,
    vals: np.ndarray,
    window: int,
    what: int,
) -> None:
    """+DI, -DI or ADX; ``vals`` = previous high, low, close, +DM, -DM, TR, DX sum, ADX."""
    n = count[0]
    ph, pl, pc = vals[0], vals[1], vals[2]
    pdm, mdm, tr_sum, dx_sum, adx = vals[3], vals[4], vals[5], vals[6], vals[7]
    p = float(window)
    for i in range(h.shape[0]):
        if n == 0:
            out[i] = np.nan
            if not (np.isnan(h[i]) or np.isnan(lo[i]) or np.isnan(c[i])):
                ph, pl, pc = h[i], lo[i], c[i]
                n = 1
            continue
        up = h[i] - ph
        dn = pl - lo[i]
        tr = _true_range(h[i], lo[i], pc)
        ph, pl, pc = h[i], lo[i], c[i]
        plus = up > 0.0 and up > dn
        minus = dn > 0.0 and dn > up
        if window == 1:
            # TA-Lib's DI over one bar is a ratio, not a percentage; -DI mirrors +DI
            move, hit = (up, plus) if what == _PLUS_DI else (dn, minus)
            out[i] = (0.0 if tr <= 0.0 else move / tr) if hit else 0.0
            n += 1
            continue
        if n < window:
            # the first window - 1 moves are summed
            if plus:
                pdm += up
            if minus:
                mdm += dn
            tr_sum += tr
            out[i] = np.nan
            n += 1
            continue
        pdm -= pdm / p
        mdm -= mdm / p
        if plus:
            pdm += up
        if minus:
            mdm += dn
        tr_sum = tr_sum - tr_sum / p + tr
        if what != _ADX:
            dm = pdm if what == _PLUS_DI else mdm
            out[i] = dm / tr_sum * 100.0 if tr_sum > 0.0 else 0.0
        else:
            has_dx = False
            dx = 0.0
            if tr_sum > 0.0:
                mdi = mdm / tr_sum * 100.0
                pdi = pdm / tr_sum * 100.0
                s = mdi + pdi
                if not (-_DI_ZERO < s < _DI_ZERO):
                    dx = abs(mdi - pdi) / s
                    has_dx = True
            if n < 2 * window - 1:
                if has_dx:
                    dx_sum += dx * 100.0
                out[i] = np.nan
            elif n == 2 * window - 1:
                if has_dx:
                    dx_sum += dx * 100.0
                adx = dx_sum / p
                out[i] = adx
            else:
                # a row without a DX keeps the previous ADX, as TA-Lib does
                if has_dx:
                    adx = (adx * (p - 1.0) + dx * 100.0) / p
                out[i] = adx
        n += 1
    count[0] = n
    vals[0], vals[1], vals[2] = ph, pl, pc
    vals[3], vals[4], vals[5], vals[6], vals[7] = pdm, mdm, tr_sum, dx_sum, adx


class _DirectionalKernel(Kernel, register=False):
    inputs = ("high", "low", "close")
    outputs = ("value",)
    what = _PLUS_DI
    minimum = 1

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        name = type(self).__name__.removesuffix("Kernel")
        self.window = check_int_param(name, "window", window, self.minimum)

    def init(self) -> State:
        vals = np.zeros(8)
        vals[:3] = np.nan
        return {"count": np.zeros(1, dtype=np.int64), "vals": vals}

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        h, lo, c = (np.ascontiguousarray(cols[f], dtype=np.float64) for f in self.inputs)
        out = np.empty_like(c)
        _dm_run(h, lo, c, out, state["count"], state["vals"], self.window, self.what)
        return state, {"value": out}


class PlusDirectionalIndicatorKernel(_DirectionalKernel):
    """+DI, equal to ``talib.PLUS_DI(high, low, close, window)``.

    Wilder-smoothed +DM over Wilder-smoothed true range, in percent (0.0 when
    the range is 0). The first ``window`` rows are NaN. With ``window=1``
    TA-Lib returns the one-bar ratio ``+DM / TR`` (not times 100), and so
    does this kernel.

    Parameters
    ----------
    window : int
        Smoothing period, >= 1.

    Examples
    --------
    >>> k = PlusDirectionalIndicatorKernel(window=2)
    >>> cols = {"high": np.array([2.0, 3.0, 4.0]), "low": np.array([1.0, 2.0, 3.0]),
    ...         "close": np.array([1.5, 2.5, 3.5])}
    >>> k.step(k.init(), cols)[1]["value"]
    array([        nan,         nan, 66.66666667])
    """

    what = _PLUS_DI


class MinusDirectionalIndicatorKernel(_DirectionalKernel):
    """-DI, equal to ``talib.MINUS_DI(high, low, close, window)``.

    The mirror of :class:`PlusDirectionalIndicatorKernel` (the same
    ``window``, the same one-bar ratio at ``window=1``) with the downward move
    ``previous low - low``: -DI of bars turned upside down is their +DI.

    Examples
    --------
    >>> cols = {"high": np.array([2.0, 3.0, 4.0]), "low": np.array([1.0, 2.0, 3.0]),
    ...         "close": np.array([1.5, 2.5, 3.5])}
    >>> flipped = {"high": -cols["low"], "low": -cols["high"], "close": -cols["close"]}
    >>> k = MinusDirectionalIndicatorKernel(window=2)
    >>> k.step(k.init(), flipped)[1]["value"]  # PlusDirectionalIndicatorKernel's, on cols
    array([        nan,         nan, 66.66666667])
    """

    what = _MINUS_DI


class AverageDirectionalIndexKernel(_DirectionalKernel):
    """Wilder's ADX, equal to ``talib.ADX(high, low, close, window)``.

    ``DX = 100 * |+DI - -DI| / (+DI + -DI)``; the first ADX (row
    ``2 * window - 1``) is the mean of ``window`` DX values, then
    ``adx = (adx * (window - 1) + dx) / window``. A row whose DI sum is
    (within 1e-14 of) zero keeps the previous ADX. ``window`` >= 2.

    Parameters
    ----------
    window : int
        Smoothing period, >= 2.

    Examples
    --------
    >>> k = AverageDirectionalIndexKernel(window=2)
    >>> cols = {"high": np.array([2.0, 3.0, 4.0, 5.0]), "low": np.array([1.0, 2.0, 3.0, 4.0]),
    ...         "close": np.array([1.5, 2.5, 3.5, 4.5])}
    >>> k.step(k.init(), cols)[1]["value"]
    array([ nan,  nan,  nan, 100.])
    """

    what = _ADX
    minimum = 2


@jit
def _sar_run(
    h: np.ndarray,
    lo: np.ndarray,
    out: np.ndarray,
    ints: np.ndarray,
    vals: np.ndarray,
    acceleration: float,
    maximum: float,
) -> None:
    """``ints`` = rows seen, long?; ``vals`` = af, ep, sar, last high, last low."""
    n = ints[0]
    long = ints[1] == 1
    af, ep, sar, new_high, new_low = vals[0], vals[1], vals[2], vals[3], vals[4]
    for i in range(h.shape[0]):
        if n == 0:
            out[i] = np.nan
            if not (np.isnan(h[i]) or np.isnan(lo[i])):
                new_high = h[i]
                new_low = lo[i]
                n = 1
            continue
        if n == 1:
            # TA-Lib's start: short if the second bar's -DM(1) is positive
            up = h[i] - new_high
            dn = new_low - lo[i]
            long = not (dn > 0.0 and dn > up)
            af = acceleration
            if long:
                ep = h[i]
                sar = new_low
            else:
                ep = lo[i]
                sar = new_high
            new_high = h[i]
            new_low = lo[i]
        prev_high = new_high
        prev_low = new_low
        new_high = h[i]
        new_low = lo[i]
        if long:
            if new_low <= sar:
                long = False
                sar = ep
                if sar < prev_high:
                    sar = prev_high
                if sar < new_high:
                    sar = new_high
                out[i] = sar
                af = acceleration
                ep = new_low
                sar = _fma(af, ep - sar, sar)
                if sar < prev_high:
                    sar = prev_high
                if sar < new_high:
                    sar = new_high
            else:
                out[i] = sar
                if new_high > ep:
                    ep = new_high
                    af += acceleration
                    if af > maximum:
                        af = maximum
                sar = _fma(af, ep - sar, sar)
                if sar > prev_low:
                    sar = prev_low
                if sar > new_low:
                    sar = new_low
        else:
            if new_high >= sar:
                long = True
                sar = ep
                if sar > prev_low:
                    sar = prev_low
                if sar > new_low:
                    sar = new_low
                out[i] = sar
                af = acceleration
                ep = new_high
                sar = _fma(af, ep - sar, sar)
                if sar > prev_low:
                    sar = prev_low
                if sar > new_low:
                    sar = new_low
            else:
                out[i] = sar
                if new_low < ep:
                    ep = new_low
                    af += acceleration
                    if af > maximum:
                        af = maximum
                sar = _fma(af, ep - sar, sar)
                if sar < prev_high:
                    sar = prev_high
                if sar < new_high:
                    sar = new_high
        n += 1
    ints[0] = n
    ints[1] = 1 if long else 0
    vals[0], vals[1], vals[2], vals[3], vals[4] = af, ep, sar, new_high, new_low


class ParabolicSARKernel(Kernel):
    """Wilder's parabolic stop-and-reverse, equal to ``talib.SAR(high, low, acceleration, maximum)``.

    The first row is NaN. The trend starts long unless the second bar's
    downward move beats its upward move; the acceleration factor starts at
    ``acceleration``, grows by it at each new extreme up to ``maximum``
    (``acceleration`` is capped at ``maximum``, as TA-Lib does), and resets on
    a reversal.

    Parameters
    ----------
    acceleration : float
        Step of the acceleration factor, >= 0; default 0.02.
    maximum : float
        Cap of the acceleration factor, >= 0; default 0.2.

    Examples
    --------
    >>> k = ParabolicSARKernel()
    >>> out = k.step(k.init(), {"high": np.array([2.0, 3.0, 4.0]), "low": np.array([1.0, 2.0, 3.0])})[1]
    >>> out["value"]
    array([ nan, 1.  , 1.04])
    """

    inputs = ("high", "low")
    outputs = ("value",)

    def __init__(self, acceleration: float = 0.02, maximum: float = 0.2) -> None:
        super().__init__(acceleration=acceleration, maximum=maximum)
        self.maximum = float(maximum)
        self.acceleration = min(float(acceleration), self.maximum)

    def init(self) -> State:
        return {"ints": np.zeros(2, dtype=np.int64), "vals": np.zeros(5)}

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        h = np.ascontiguousarray(cols["high"], dtype=np.float64)
        lo = np.ascontiguousarray(cols["low"], dtype=np.float64)
        out = np.empty_like(h)
        _sar_run(h, lo, out, state["ints"], state["vals"], self.acceleration, self.maximum)
        return state, {"value": out}

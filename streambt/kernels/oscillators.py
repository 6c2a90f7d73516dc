"""Oscillator kernels: CCI, Williams %R, stochastics, stochastic RSI, Aroon and MFI, equal to TA-Lib.

Each mirrors the installed TA-Lib C library (0.8) operation for operation, so
a kernel run gives the same bits as the TA-Lib function whether it is fed
whole, row by row or in chunks. Like TA-Lib's Python wrapper, a kernel starts
at the first row where every input is a number.

The installed library is not the public C source in a few places, found by
comparing against variants and reading its machine code:

- WILLR, STOCH and STOCHF treat a window as flat when
  ``|hh - ll| <= 1e-14 * (|hh| + |ll|)`` (value 0.0), not only when
  ``hh == ll``; WILLR clamps its result to [-100, 0];
- CCI's zero tests are relative too: ``|tp - mean|`` or the mean deviation
  within ``1e-14 * |mean|`` gives 0.0;
- MFI decides "typical price unchanged" with the same relative tolerance,
  clamps the positive flow to [0, total], and resets both sums to exactly 0
  after ``window`` rows in a row without money flow, so a flat stretch does
  not leave rounding residue behind.

STOCH and STOCHRSI smooth with TA-Lib's SMA (a running sum; the SMA kernel's
core is reused) and, as TA-Lib, show ``k`` only from the row where ``d``
starts. The rolling highest/lowest of WILLR, STOCH and STOCHRSI come from a
branch-free block algorithm rather than TA-Lib's rescans: a max is exact, so
the values are the same (a NaN inside the window, impossible in validated
bars, is the one place where the two can differ).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from streambt.kernels._jit import jit
from streambt.kernels.averages import _sma_run
from streambt.kernels.base import Columns, Kernel, State, check_int_param, scalar
from streambt.kernels.momentum import _rsi_run

__all__ = [
    "AroonKernel",
    "CommodityChannelIndexKernel",
    "MoneyFlowIndexKernel",
    "StochasticKernel",
    "StochasticRSIKernel",
    "WilliamsRKernel",
]

# The installed TA-Lib's relative "is zero" tolerance (read from its machine code).
_FLAT = 1e-14


@jit
def _range_run(
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    out: np.ndarray,
    hi_block: np.ndarray,
    lo_block: np.ndarray,
    hi_suffix: np.ndarray,
    lo_suffix: np.ndarray,
    meta: np.ndarray,
    ext: np.ndarray,
    willr: bool,
) -> None:
    """Williams %R (``willr``) or the fast %K over the last ``len(hi_block)`` rows.

    The highest high and lowest low come from van Herk / Gil-Werman: rows
    fall in blocks of ``span``; a window is the tail of the previous block
    (its suffix extremes, computed when it closed) and the head of the current
    one (a running extreme). No data-dependent branch, so several times faster
    than TA-Lib's rescans, and a max is exact either way. Starts at the first
    row where ``h``, ``lo`` and ``c`` are numbers. ``meta`` = rows seen, offset
    in the block; ``ext`` = the current block's running highest and lowest.
    """
    span = hi_block.shape[0]
    n, at = meta[0], meta[1]
    top, bottom = ext[0], ext[1]
    for i in range(h.shape[0]):
        vh = h[i]
        vl = lo[i]
        if n == 0 and (np.isnan(vh) or np.isnan(vl) or np.isnan(c[i])):
            out[i] = np.nan
            continue
        hi_block[at] = vh
        lo_block[at] = vl
        if at == 0:
            top = vh
            bottom = vl
        else:
            top = vh if vh > top else top
            bottom = vl if vl < bottom else bottom
        hh = top
        ll = bottom
        if at < span - 1:
            t = hi_suffix[at + 1]
            b = lo_suffix[at + 1]
            hh = t if t > hh else hh
            ll = b if b < ll else ll
        n += 1
        at += 1
        if at == span:
            # the block is complete: its suffix extremes serve the next block
            t = hi_block[span - 1]
            b = lo_block[span - 1]
            for j in range(span - 1, -1, -1):
                t = hi_block[j] if hi_block[j] > t else t
                b = lo_block[j] if lo_block[j] < b else b
                hi_suffix[j] = t
                lo_suffix[j] = b
            at = 0
        if n < span:
            out[i] = np.nan
            continue
        r = hh - ll
        if (abs(hh) + abs(ll)) * _FLAT >= abs(r):
            out[i] = 0.0
        elif not willr:
            out[i] = (c[i] - ll) / r * 100.0
        else:
            v = (hh - c[i]) / r * -100.0
            if v > 0.0:
                out[i] = 0.0
            else:
                out[i] = -100.0 if v < -100.0 else v
    meta[0], meta[1] = n, at
    ext[0], ext[1] = top, bottom


def _range_state(span: int) -> State:
    return {
        "hi_block": np.full(span, np.nan),
        "lo_block": np.full(span, np.nan),
        "hi_suffix": np.full(span, np.nan),
        "lo_suffix": np.full(span, np.nan),
        # rows seen, offset in the current block
        "meta": np.zeros(2, dtype=np.int64),
        # the current block's running highest and lowest
        "ext": np.full(2, np.nan),
    }


def _range_step(state: State, cols: Mapping[str, np.ndarray], willr: bool) -> np.ndarray:
    h, lo, c = (np.ascontiguousarray(cols[f], dtype=np.float64) for f in ("high", "low", "close"))
    out = np.empty_like(c)
    _range_run(
        h,
        lo,
        c,
        out,
        state["hi_block"],
        state["lo_block"],
        state["hi_suffix"],
        state["lo_suffix"],
        state["meta"],
        state["ext"],
        willr,
    )
    return out


def _sma_state(window: int, prefix: str) -> State:
    return {
        prefix + "buf": np.full(window, np.nan),
        prefix + "pos": scalar(0, np.int64),
        prefix + "count": scalar(0, np.int64),
        prefix + "total": scalar(0.0),
    }


def _sma_step(state: State, x: np.ndarray, window: int, prefix: str) -> np.ndarray:
    # TA-Lib's STOCH/STOCHF smooth through TA_MA, which copies for a period
    # of 1 (a NaN does not stick, unlike TA_SMA's running sum)
    if window == 1:
        return x.copy()
    out = np.empty_like(x)
    _sma_run(
        x,
        out,
        state[prefix + "buf"],
        state[prefix + "pos"],
        state[prefix + "count"],
        state[prefix + "total"],
        window,
    )
    return out


def _row_numbers(valid: np.ndarray, seen: int) -> np.ndarray:
    """Each row's number counted from the kernel's first row (negative before it).

    ``seen`` is the count of rows since the start before this chunk (0: not
    started; then the first ``valid`` row, all inputs numbers, starts).
    """
    if seen == 0:
        hits = np.flatnonzero(valid)
        start = int(hits[0]) if hits.size else valid.shape[0]
        return np.arange(valid.shape[0], dtype=np.int64) - start
    return np.arange(seen, seen + valid.shape[0], dtype=np.int64)


# --- kernels -----------------------------------------------------------------


@jit
def _cci_run(
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    out: np.ndarray,
    ring: np.ndarray,
    count: np.ndarray,
) -> None:
    window = ring.shape[0]
    n = count[0]
    for i in range(h.shape[0]):
        if n == 0 and (np.isnan(h[i]) or np.isnan(lo[i]) or np.isnan(c[i])):
            out[i] = np.nan
            continue
        tp = (h[i] + lo[i] + c[i]) / 3.0
        ring[n % window] = tp
        n += 1
        if n < window:
            out[i] = np.nan
            continue
        # TA-Lib sums the circular buffer in slot order, not in time order
        mean = 0.0
        for j in range(window):
            mean += ring[j]
        mean /= window
        dev = 0.0
        for j in range(window):
            dev += abs(ring[j] - mean)
        diff = tp - mean
        tol = abs(mean) * _FLAT
        if tol >= abs(diff):
            out[i] = 0.0
            continue
        dev /= window
        if tol >= abs(dev):
            out[i] = 0.0
            continue
        den = dev * 0.015
        out[i] = diff / den if den != 0.0 else 0.0
    count[0] = n


class CommodityChannelIndexKernel(Kernel):
    """Commodity Channel Index, equal to ``talib.CCI(high, low, close, window)``.

    ``(tp - mean(tp)) / (0.015 * mean(|tp - mean(tp)|))`` over the last
    ``window`` typical prices ``tp = (high + low + close) / 3``; 0.0 where
    either the numerator or the mean deviation is within ``1e-14 * |mean|`` of
    zero. The first ``window - 1`` rows are NaN; ``window`` >= 2.

    Parameters
    ----------
    window : int
        Number of rows, >= 2.

    Examples
    --------
    >>> k = CommodityChannelIndexKernel(window=2)
    >>> cols = {"high": np.array([3.0, 6.0]), "low": np.array([3.0, 6.0]), "close": np.array([3.0, 6.0])}
    >>> k.step(k.init(), cols)[1]["value"]
    array([        nan, 66.66666667])
    """

    inputs = ("high", "low", "close")
    outputs = ("value",)

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("CommodityChannelIndex", "window", window, 2)

    def init(self) -> State:
        return {"ring": np.full(self.window, np.nan), "count": scalar(0, np.int64)}

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        h, lo, c = (np.ascontiguousarray(cols[f], dtype=np.float64) for f in self.inputs)
        out = np.empty_like(c)
        _cci_run(h, lo, c, out, state["ring"], state["count"])
        return state, {"value": out}


class WilliamsRKernel(Kernel):
    """Williams %R in [-100, 0], equal to ``talib.WILLR(high, low, close, window)``.

    ``-100 * (hh - close) / (hh - ll)`` with ``hh``/``ll`` the highest high
    and lowest low of the last ``window`` rows, 0.0 on a flat window. The
    first ``window - 1`` rows are NaN; ``window`` >= 2.

    Parameters
    ----------
    window : int
        Number of rows, >= 2.

    Examples
    --------
    >>> k = WilliamsRKernel(window=2)
    >>> cols = {"high": np.array([4.0, 6.0]), "low": np.array([2.0, 3.0]), "close": np.array([3.0, 5.0])}
    >>> k.step(k.init(), cols)[1]["value"]
    array([ nan, -25.])
    """

    inputs = ("high", "low", "close")
    outputs = ("value",)

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("WilliamsR", "window", window, 2)

    def init(self) -> State:
        return _range_state(self.window)

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        return state, {"value": _range_step(state, cols, willr=True)}


class StochasticKernel(Kernel):
    """Slow stochastic, equal to ``talib.STOCH(high, low, close, fastk, slowk, SMA, slowd, SMA)``.

    Fast %K is ``100 * (close - ll) / (hh - ll)`` over the last ``fastk``
    rows (0.0 on a flat window); ``k`` is its ``slowk``-row SMA and ``d`` the
    ``slowd``-row SMA of ``k``. Both outputs start at row
    ``fastk + slowk + slowd - 3`` (TA-Lib hides ``k`` until ``d`` exists).

    Parameters
    ----------
    fastk, slowk, slowd : int
        Periods, each >= 1.

    Examples
    --------
    >>> k = StochasticKernel(fastk=2, slowk=1, slowd=1)
    >>> cols = {"high": np.array([4.0, 6.0]), "low": np.array([2.0, 3.0]), "close": np.array([3.0, 5.0])}
    >>> k.step(k.init(), cols)[1]["k"]
    array([nan, 75.])
    """

    inputs = ("high", "low", "close")
    outputs = ("k", "d")

    def __init__(self, fastk: int = 5, slowk: int = 3, slowd: int = 3) -> None:
        super().__init__(fastk=fastk, slowk=slowk, slowd=slowd)
        self.fastk = check_int_param("Stochastic", "fastk", fastk, 1)
        self.slowk = check_int_param("Stochastic", "slowk", slowk, 1)
        self.slowd = check_int_param("Stochastic", "slowd", slowd, 1)

    def init(self) -> State:
        return {
            **_range_state(self.fastk),
            **_sma_state(self.slowk, "k_"),
            **_sma_state(self.slowd, "d_"),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        seen = int(state["meta"][0])
        fast = _range_step(state, cols, willr=False)
        k = _sma_step(state, fast, self.slowk, "k_")
        d = _sma_step(state, k, self.slowd, "d_")
        valid = ~(np.isnan(cols["high"]) | np.isnan(cols["low"]) | np.isnan(cols["close"]))
        # TA-Lib shows k from d's first row on
        k[_row_numbers(valid, seen) < self.fastk + self.slowk + self.slowd - 3] = np.nan
        return state, {"k": k, "d": d}


class StochasticRSIKernel(Kernel):
    """Stochastic RSI, equal to ``talib.STOCHRSI(x, window, fastk, fastd, SMA)``.

    TA-Lib's fast stochastic applied to ``RSI(x, window)`` (its high, low and
    close all being the RSI): ``k = 100 * (rsi - min) / (max - min)`` over the
    last ``fastk`` RSI values (0.0 on a flat window), ``d`` its ``fastd``-row
    SMA. Both outputs start at row ``window + fastk + fastd - 2`` after the
    first number.

    Parameters
    ----------
    window : int
        RSI period, >= 2.
    fastk, fastd : int
        Stochastic periods, each >= 1.

    Examples
    --------
    >>> k = StochasticRSIKernel(window=2, fastk=2, fastd=1)
    >>> k.step(k.init(), {"x": np.array([1.0, 2.0, 3.0, 2.0, 4.0])})[1]["k"]
    array([ nan,  nan,  nan,   0., 100.])
    """

    inputs = ("x",)
    outputs = ("k", "d")

    def __init__(self, window: int = 14, fastk: int = 5, fastd: int = 3) -> None:
        super().__init__(window=window, fastk=fastk, fastd=fastd)
        self.window = check_int_param("StochasticRSI", "window", window, 2)
        self.fastk = check_int_param("StochasticRSI", "fastk", fastk, 1)
        self.fastd = check_int_param("StochasticRSI", "fastd", fastd, 1)

    def init(self) -> State:
        return {
            "rsi_count": scalar(0, np.int64),
            "rsi_prev_x": scalar(np.nan),
            "rsi_gain": scalar(0.0),
            "rsi_loss": scalar(0.0),
            **_range_state(self.fastk),
            **_sma_state(self.fastd, "d_"),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        x = np.ascontiguousarray(cols["x"], dtype=np.float64)
        rsi = np.empty_like(x)
        _rsi_run(
            x,
            rsi,
            state["rsi_count"],
            state["rsi_prev_x"],
            state["rsi_gain"],
            state["rsi_loss"],
            self.window,
            1.0 / self.window,
            float(self.window - 1),
        )
        seen = int(state["meta"][0])
        k = _range_step(state, {"high": rsi, "low": rsi, "close": rsi}, willr=False)
        d = _sma_step(state, k, self.fastd, "d_")
        k[_row_numbers(~np.isnan(rsi), seen) < self.fastk + self.fastd - 2] = np.nan
        return state, {"k": k, "d": d}


@jit
def _aroon_run(
    h: np.ndarray,
    lo: np.ndarray,
    up: np.ndarray,
    down: np.ndarray,
    hi_ring: np.ndarray,
    lo_ring: np.ndarray,
    meta: np.ndarray,
    ext: np.ndarray,
) -> None:
    """Aroon over the last ``len(hi_ring)`` rows (``window + 1``), as TA-Lib tracks it.

    Keep the highest (lowest) and its row; when that row leaves the window,
    rescan the window, else compare with the new value. Ties go to the latest
    row (TA-Lib's ``>=``), which is the row AROON counts from; the rescans
    also give TA-Lib's results around a NaN. The window lives in a ring whose
    oldest slot is ``pos`` once the row is written. ``meta`` = rows seen,
    next ring slot, row of the highest, row of the lowest; ``ext`` = highest,
    lowest.
    """
    span = hi_ring.shape[0]
    window = span - 1
    factor = 100.0 / window
    n, pos, hr, lr = meta[0], meta[1], meta[2], meta[3]
    eh, el = ext[0], ext[1]
    for i in range(h.shape[0]):
        vh = h[i]
        vl = lo[i]
        if n == 0 and (np.isnan(vh) or np.isnan(vl)):
            up[i] = np.nan
            down[i] = np.nan
            continue
        hi_ring[pos] = vh
        lo_ring[pos] = vl
        pos += 1
        if pos == span:
            pos = 0
        if n < window:
            n += 1
            up[i] = np.nan
            down[i] = np.nan
            continue
        trailing = n - span + 1
        if hr < trailing:
            # two straight runs over the ring, oldest first, instead of a modulo per slot
            eh = hi_ring[pos]
            hr = trailing
            j = trailing
            for s in range(pos + 1, span):
                j += 1
                if hi_ring[s] >= eh:
                    eh = hi_ring[s]
                    hr = j
            for s in range(pos):
                j += 1
                if hi_ring[s] >= eh:
                    eh = hi_ring[s]
                    hr = j
        elif vh >= eh:
            eh = vh
            hr = n
        if lr < trailing:
            el = lo_ring[pos]
            lr = trailing
            j = trailing
            for s in range(pos + 1, span):
                j += 1
                if lo_ring[s] <= el:
                    el = lo_ring[s]
                    lr = j
            for s in range(pos):
                j += 1
                if lo_ring[s] <= el:
                    el = lo_ring[s]
                    lr = j
        elif vl <= el:
            el = vl
            lr = n
        up[i] = factor * float(window - (n - hr))
        down[i] = factor * float(window - (n - lr))
        n += 1
    meta[0], meta[1], meta[2], meta[3] = n, pos, hr, lr
    ext[0], ext[1] = eh, el


def _aroon_state(span: int) -> State:
    return {
        "hi_ring": np.full(span, np.nan),
        "lo_ring": np.full(span, np.nan),
        # rows seen, next ring slot, row of the highest, row of the lowest
        "meta": np.array([0, 0, -1, -1], dtype=np.int64),
        # highest, lowest
        "ext": np.full(2, np.nan),
    }


class AroonKernel(Kernel):
    """Aroon up and down, equal to ``talib.AROON(high, low, window)`` (which returns down, up).

    ``up = 100 / window * (window - rows since the highest high)`` over the
    last ``window + 1`` rows, ties going to the latest row; ``down`` likewise
    with the lowest low. The first ``window`` rows are NaN; ``window`` >= 2.

    Parameters
    ----------
    window : int
        Look-back period, >= 2.

    Examples
    --------
    >>> k = AroonKernel(window=2)
    >>> out = k.step(k.init(), {"high": np.array([3.0, 5.0, 4.0]), "low": np.array([1.0, 2.0, 3.0])})[1]
    >>> out["up"], out["down"]
    (array([nan, nan, 50.]), array([nan, nan,  0.]))
    """

    inputs = ("high", "low")
    outputs = ("up", "down")

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("Aroon", "window", window, 2)

    def init(self) -> State:
        return _aroon_state(self.window + 1)

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        h = np.ascontiguousarray(cols["high"], dtype=np.float64)
        lo = np.ascontiguousarray(cols["low"], dtype=np.float64)
        up = np.empty_like(h)
        down = np.empty_like(h)
        _aroon_run(h, lo, up, down, state["hi_ring"], state["lo_ring"], state["meta"], state["ext"])
        return state, {"up": up, "down": down}


@jit
def _mfi_run(
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    vol: np.ndarray,
    out: np.ndarray,
    pos_ring: np.ndarray,
    neg_ring: np.ndarray,
    ints: np.ndarray,
    floats: np.ndarray,
) -> None:
    window = pos_ring.shape[0]
    n = ints[0]
    slot = ints[1]
    idle = ints[2]
    prev = floats[0]
    pos = floats[1]
    neg = floats[2]
    for i in range(h.shape[0]):
        if n == 0:
            out[i] = np.nan
            if not (np.isnan(h[i]) or np.isnan(lo[i]) or np.isnan(c[i]) or np.isnan(vol[i])):
                prev = (h[i] + lo[i] + c[i]) / 3.0
                n = 1
            continue
        tp = (h[i] + lo[i] + c[i]) / 3.0
        if n > window:
            pos -= pos_ring[slot]
            neg -= neg_ring[slot]
        d = tp - prev
        if (abs(tp) + abs(prev)) * _FLAT >= abs(d):
            up = 0.0
            down = 0.0
            idle_row = True
        else:
            flow = vol[i] * tp
            if d < 0.0:
                up = 0.0
                down = flow
            else:
                up = flow
                down = 0.0
            idle_row = flow == 0.0
        prev = tp
        pos_ring[slot] = up
        neg_ring[slot] = down
        pos += up
        neg += down
        if idle_row:
            idle += 1
            if idle >= window:
                # a full window without money flow: drop the sums' rounding residue
                idle = window
                pos = 0.0
                neg = 0.0
        else:
            idle = 0
        slot += 1
        if slot == window:
            slot = 0
        if n < window:
            out[i] = np.nan
        else:
            total = pos + neg
            # the positive flow clamped to [0, total] (pos is NaN: NaN)
            part = 0.0 if pos < 0.0 else (total if total < pos else pos)
            out[i] = 0.0 if total <= 0.0 else part / total * 100.0
        n += 1
    ints[0] = n
    ints[1] = slot
    ints[2] = idle
    floats[0] = prev
    floats[1] = pos
    floats[2] = neg


class MoneyFlowIndexKernel(Kernel):
    """Money Flow Index in [0, 100], equal to ``talib.MFI(high, low, close, volume, window)``.

    Money flow is ``volume * tp`` with ``tp = (high + low + close) / 3``,
    positive when ``tp`` rose and negative when it fell (an unchanged ``tp``,
    within ``1e-14`` relative, carries none); MFI is ``100 * positive / total``
    over the last ``window`` flows, 0.0 when there was no flow. The sums are
    running sums as in TA-Lib, reset to exactly 0 after ``window`` rows in a
    row without flow. The first ``window`` rows are NaN; ``window`` >= 2.

    Parameters
    ----------
    window : int
        Number of money flows, >= 2.

    Examples
    --------
    >>> k = MoneyFlowIndexKernel(window=2)
    >>> p = np.array([1.0, 2.0, 3.0, 2.0])
    >>> cols = {"high": p, "low": p, "close": p, "volume": np.array([1.0, 1.0, 1.0, 3.0])}
    >>> k.step(k.init(), cols)[1]["value"]
    array([         nan,          nan, 100.        ,  33.33333333])
    """

    inputs = ("high", "low", "close", "volume")
    outputs = ("value",)

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("MoneyFlowIndex", "window", window, 2)

    def init(self) -> State:
        return {
            "pos_ring": np.zeros(self.window),
            "neg_ring": np.zeros(self.window),
            # rows seen, ring slot, rows in a row without money flow
            "ints": np.zeros(3, dtype=np.int64),
            # previous typical price, positive sum, negative sum
            "floats": np.array([np.nan, 0.0, 0.0]),
        }

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        h, lo, c, vol = (np.ascontiguousarray(cols[f], dtype=np.float64) for f in self.inputs)
        out = np.empty_like(c)
        _mfi_run(
            h,
            lo,
            c,
            vol,
            out,
            state["pos_ring"],
            state["neg_ring"],
            state["ints"],
            state["floats"],
        )
        return state, {"value": out}

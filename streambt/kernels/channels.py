"""Channel kernels: the rolling highest high and lowest low (Donchian), equal to TA-Lib.

A max or a min is exact, so any algorithm gives TA-Lib's bits. TA-Lib's C
source rescans the window whenever its extreme leaves it, but the installed
TA-Lib 0.8 takes the same time for a window of 20 or 2,000 and for a
monotone series (its worst case), so it does not; neither does this kernel.
It uses van Herk / Gil-Werman blocks: cut the rows into blocks of
``window``; a window ending at offset ``j`` of block ``b`` is the suffix of
block ``b - 1`` from ``j + 1`` plus the prefix of block ``b`` up to ``j``, so
``max = max(suffix_max[b - 1][j + 1], prefix_max[b][j])``: O(1) per row
with no data-dependent branch (a monotone deque pops unpredictably and
measured 4x slower). A block that lies whole in one chunk gets the prefix
and suffix extremes of both columns in one loop, four independent
dependency chains (about TA-Lib's speed); at chunk edges rows go one at a
time (running prefix extremes, and a backward pass over the stored block
when it completes). The state holds the current block, the previous block's
suffix extremes and the running prefix extremes, for both columns.

A NaN (impossible for validated bars, possible for derived inputs) makes the
output NaN for as long as it is inside the window, which is the SQL rule of
the Ibis form (a window of ``n`` needs ``n`` non-null values); inside the
blocks it is a value that never wins.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from streambt.kernels._jit import jit
from streambt.kernels.base import Columns, Kernel, State, check_int_param

__all__ = ["DonchianChannelKernel", "channel_state", "channel_step"]

#: "no NaN seen yet": far enough back to be outside any window
_NEVER = -(2**62)


@jit
def _channel_run(
    high: np.ndarray,
    low: np.ndarray,
    upper: np.ndarray,
    lower: np.ndarray,
    blocks: np.ndarray,
    suffixes: np.ndarray,
    ints: np.ndarray,
    prefixes: np.ndarray,
    scratch: np.ndarray,
    window: int,
    may_nan: bool,
) -> None:
    # blocks/suffixes/prefixes: row 0 for the max of high, row 1 for the min of low;
    # may_nan: whether this chunk holds a NaN (else the block loops skip the checks)
    w = window
    row, fill, hi_nan, lo_nan = ints[0], ints[1], ints[2], ints[3]
    hi_pre, lo_pre = prefixes[0], prefixes[1]
    hi_suf = suffixes[0]
    lo_suf = suffixes[1]
    hi_p, hi_s, lo_p, lo_s = scratch[0], scratch[1], scratch[2], scratch[3]
    n = high.shape[0]
    i = 0
    while i < n:
        if fill == 0 and n - i >= w:
            # A whole block in this chunk: prefix and suffix extremes of both
            # columns in one loop, four independent dependency chains. Views
            # indexed from 0 let numba drop its negative-index checks.
            # unsigned indexes: numba then skips its negative-index checks,
            # which cost more than the max/min themselves
            base = np.uint64(i)
            ph = -np.inf
            sh = -np.inf
            pl = np.inf
            sl = np.inf
            if not may_nan:
                for j in range(w):
                    k = w - 1 - j
                    uj = base + np.uint64(j)
                    uk = base + np.uint64(k)
                    ph = max(ph, high[uj])
                    sh = max(sh, high[uk])
                    pl = min(pl, low[uj])
                    sl = min(sl, low[uk])
                    hi_p[j] = ph
                    hi_s[k] = sh
                    lo_p[j] = pl
                    lo_s[k] = sl
            else:
                # NaN as a value that never wins
                for j in range(w):
                    k = w - 1 - j
                    a, b, c, d = high[i + j], high[i + k], low[i + j], low[i + k]
                    ph = max(ph, a if a == a else -np.inf)
                    sh = max(sh, b if b == b else -np.inf)
                    pl = min(pl, c if c == c else np.inf)
                    sl = min(sl, d if d == d else np.inf)
                    hi_p[j] = ph
                    hi_s[k] = sh
                    lo_p[j] = pl
                    lo_s[k] = sl
            clean = not may_nan and row >= w - 1 and hi_nan <= row - w and lo_nan <= row - w
            if clean:
                # past the warm-up, no NaN in reach: a branch-free loop
                for j in range(w):
                    uj = base + np.uint64(j)
                    upper[uj] = max(hi_suf[j + 1], hi_p[j])
                    lower[uj] = min(lo_suf[j + 1], lo_p[j])
            else:
                for j in range(w):
                    r = row + j
                    if high[i + j] != high[i + j]:
                        hi_nan = r
                    if low[i + j] != low[i + j]:
                        lo_nan = r
                    warm = r < w - 1
                    hi_best = max(hi_suf[j + 1], hi_p[j])
                    lo_best = min(lo_suf[j + 1], lo_p[j])
                    upper[i + j] = np.nan if (warm or hi_nan > r - w) else hi_best
                    lower[i + j] = np.nan if (warm or lo_nan > r - w) else lo_best
            for j in range(w):
                hi_suf[j] = hi_s[j]
                lo_suf[j] = lo_s[j]
            row += w
            i += w
            continue
        # One row (chunk edges): running prefix extremes; the suffix extremes
        # come from the stored block when it completes.
        a = high[i]
        c = low[i]
        if a != a:
            hi_nan = row
            a = -np.inf
        if c != c:
            lo_nan = row
            c = np.inf
        blocks[0, fill] = a
        blocks[1, fill] = c
        hi_pre = a if fill == 0 else max(hi_pre, a)
        lo_pre = c if fill == 0 else min(lo_pre, c)
        # suffix[w] is neutral: a window ending at a block's last row is that block
        warm = row < w - 1
        hi_best = max(hi_suf[fill + 1], hi_pre)
        lo_best = min(lo_suf[fill + 1], lo_pre)
        upper[i] = np.nan if (warm or hi_nan > row - w) else hi_best
        lower[i] = np.nan if (warm or lo_nan > row - w) else lo_best
        row += 1
        fill += 1
        if fill == w:
            ah = -np.inf
            al = np.inf
            for k in range(w - 1, -1, -1):
                ah = max(ah, blocks[0, k])
                al = min(al, blocks[1, k])
                hi_suf[k] = ah
                lo_suf[k] = al
            fill = 0
        i += 1
    ints[0], ints[1], ints[2], ints[3] = row, fill, hi_nan, lo_nan
    prefixes[0], prefixes[1] = hi_pre, lo_pre


def channel_state(window: int) -> State:
    """The state of a rolling (max of ``high``, min of ``low``) over ``window`` rows."""
    neutral = np.array([[-np.inf], [np.inf]])
    return {
        "blocks": np.repeat(neutral, window, axis=1),
        # the block before the first row: nothing in it can win
        "suffixes": np.repeat(neutral, window + 1, axis=1),
        # row, fill of the current block, rows of the last NaN in high and in low
        "ints": np.array([0, 0, _NEVER, _NEVER], dtype=np.int64),
        "prefixes": neutral[:, 0].copy(),
    }


def channel_step(
    state: State, high: np.ndarray, low: np.ndarray, window: int
) -> tuple[np.ndarray, np.ndarray]:
    """Advance a :func:`channel_state` over ``high``/``low``; return (rolling max, rolling min)."""
    high = np.ascontiguousarray(high, dtype=np.float64)
    low = np.ascontiguousarray(low, dtype=np.float64)
    upper = np.empty_like(high)
    lower = np.empty_like(low)
    _channel_run(
        high,
        low,
        upper,
        lower,
        state["blocks"],
        state["suffixes"],
        state["ints"],
        state["prefixes"],
        np.empty((4, window)),
        window,
        bool(np.isnan(high).any() or np.isnan(low).any()),
    )
    return upper, lower


class DonchianChannelKernel(Kernel):
    """Highest ``high`` and lowest ``low`` of the last ``window`` rows.

    Equal to ``talib.MAX(high, window)`` and ``talib.MIN(low, window)`` on
    bars: the first ``window - 1`` rows are NaN. TA-Lib rejects ``window < 2``,
    and so does this kernel.

    Parameters
    ----------
    window : int
        Number of rows, >= 2.

    Examples
    --------
    >>> k = DonchianChannelKernel(window=2)
    >>> out = k.step(k.init(), {"high": np.array([3.0, 5.0, 4.0]), "low": np.array([1.0, 2.0, 3.0])})[1]
    >>> out["upper"], out["lower"]
    (array([nan,  5.,  5.]), array([nan,  1.,  2.]))
    """

    inputs = ("high", "low")
    outputs = ("upper", "lower")

    def __init__(self, window: int) -> None:
        super().__init__(window=window)
        self.window = check_int_param("DonchianChannel", "window", window, 2)

    def init(self) -> State:
        return channel_state(self.window)

    def step(self, state: State, cols: Mapping[str, np.ndarray]) -> tuple[State, Columns]:
        upper, lower = channel_step(state, cols["high"], cols["low"], self.window)
        return state, {"upper": upper, "lower": lower}

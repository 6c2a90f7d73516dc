"""``SignalStrategy``: one symbol's portfolio driven by a signal column, v1.

Decision at a bar's close, market fill at the next bar's open, whole units, a
percent commission per fill; the rules and their tests are in ``docs/simulator.md``.
The per-bar loop is :func:`_simulate` (numba). The state, a dict of shape-(1,)
arrays, enters it packed in a float and an int array (slots ``_F_*``/``_I_*``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from streambt.errors import DataError, InvalidParameterError, did_you_mean
from streambt.kernels._jit import jit
from streambt.kernels.base import Columns, Events, SimulationKernel, State
from streambt.sim.events import (
    EVENT_COLUMNS,
    NO_TS,
    OrderStatus,
    RejectReason,
    empty_events,
)

ALLOCATIONS: dict[str, int] = {"all_in": 0, "fixed": 1, "target_percent": 2}
_FIXED, _TARGET_PERCENT = ALLOCATIONS["fixed"], ALLOCATIONS["target_percent"]

_ACCEPTED = int(OrderStatus.ACCEPTED)
_FILLED = int(OrderStatus.FILLED)
_REJECTED = int(OrderStatus.REJECTED)
_INSUFFICIENT_CASH = int(RejectReason.INSUFFICIENT_CASH)
_NO_TS = NO_TS
_BAD_TS, _BAD_OPEN, _BAD_CLOSE = 1, 2, 3

# Packed state slots. Order ids 0 mean "no order"; ids start at 1.
_F_KEYS = ("cash", "position", "entry_price", "entry_fee", "pending_strength")
_I_KEYS = (
    "entry_ts",  # fill ts of the open position's entry
    "entry_bar",  # bar index of that fill, for bars_held
    "entry_order_id",
    "pending_close_id",  # order that closes the position at the next open
    "pending_entry_id",  # order that opens a position at the next open
    "pending_side",
    "pending_created_ts",
    "next_order_id",
    "next_trade_id",
    "bar",  # rows consumed so far
    "last_ts",  # ts of the last row consumed, to reject unsorted input across steps
)
_F_CASH, _F_POS, _F_ENTRY_PRICE, _F_ENTRY_FEE, _F_STRENGTH = range(5)
_I_ENTRY_TS, _I_ENTRY_BAR, _I_ENTRY_ORDER, _I_CLOSE_ID, _I_ENTRY_ID, _I_SIDE = range(6)
_I_CREATED, _I_NEXT_ORDER, _I_NEXT_TRADE, _I_BAR, _I_LAST_TS = range(6, 11)

# Event buffers are (columns, rows) so each column slices out contiguous; the
# jit code writes slot k of table t's int/float buffer for the k-th name below.
_BUFFERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "orders": (
        ("order_id", "created_ts", "side", "status", "reason", "filled_ts"),
        ("size", "fill_price", "commission"),
    ),
    "fills": (("order_id", "ts", "side"), ("size", "price", "commission")),
    "trades": (
        ("trade_id", "side", "entry_ts", "exit_ts", "entry_order_id", "exit_order_id", "bars_held"),
        ("size", "entry_price", "exit_price", "pnl", "commission"),
    ),
}


def _slots(table: str) -> list[tuple[str, int, int, np.dtype]]:
    """(column, 0 = int / 1 = float buffer, slot, dtype) for each column, in schema order."""
    ints, floats = _BUFFERS[table]
    return [
        (name, 0, ints.index(name), dtype) if name in ints else (name, 1, floats.index(name), dtype)
        for name, dtype in EVENT_COLUMNS[table].items()
    ]


_SLOTS = {table: _slots(table) for table in _BUFFERS}


@jit
def _cost(units: float, price: float, commission: float) -> float:
    # the very expression a long entry takes off cash, so "cost <= cash" means cash stays >= 0
    value = units * price
    return value + commission * value


@jit
def _entry_units(
    alloc: int, amount: float, strength: float, cash: float, price: float, commission: float
) -> float:
    """Whole units an entry at ``price`` gets, given the cash (= equity: we are flat)."""
    if not cash > 0.0:
        return 0.0
    if alloc == _FIXED:
        units = np.floor(amount)
        if _cost(units, price, commission) <= cash:
            return units
        frac = 1.0
    elif alloc == _TARGET_PERCENT:
        # strength > 1 cannot lever up: all_in is the cap
        frac = min(amount * strength, 1.0)
    else:
        frac = 1.0
    units = np.floor(frac * cash / (price * (1.0 + commission)))
    # the rounded quotient's floor can be one unit too many (cash 5*10.1*1.001 at
    # 10.1, c=0.001: 5 units cost 1 ulp more); one decrement suffices below ~2**50 units
    if units > 0.0 and _cost(units, price, commission) > cash:
        units -= 1.0
    return max(units, 0.0)


@jit
def _order(oi, of, k, oid, created, side, status, reason, filled_ts, size, price, fee):
    oi[0, k] = oid
    oi[1, k] = created
    oi[2, k] = side
    oi[3, k] = status
    oi[4, k] = reason
    oi[5, k] = filled_ts
    of[0, k] = size
    of[1, k] = price
    of[2, k] = fee


@jit
def _fill(fi, ff, k, oid, ts, side, size, price, fee):
    fi[0, k] = oid
    fi[1, k] = ts
    fi[2, k] = side
    ff[0, k] = size
    ff[1, k] = price
    ff[2, k] = fee


@jit
def _simulate(
    ts, open_, close, signal, commission, alloc, amount, long_only, fs, ist, rows, ib, fb
):
    """Run the bars through the packed state ``fs``/``ist``, updated in place.

    Writes cash/position/equity into ``rows`` and the events into the int/float
    buffers ``ib``/``fb`` (orders, fills, trades). Returns the three row counts
    and the first bad row (-1 if none) with what is wrong with it (a ``_BAD_*``).
    """
    oi, fi, ti = ib
    of, ff, tf = fb
    n_o = n_f = n_t = 0
    for j in range(ts.shape[0]):
        # checked here, not with numpy in the wrapper: per-event streaming pays
        # the wrapper's overhead on every row
        if ts[j] <= ist[_I_LAST_TS]:
            return n_o, n_f, n_t, j, _BAD_TS
        if not (open_[j] > 0.0 and open_[j] < np.inf):
            return n_o, n_f, n_t, j, _BAD_OPEN
        if not (close[j] > 0.0 and close[j] < np.inf):
            return n_o, n_f, n_t, j, _BAD_CLOSE
        bar = ist[_I_BAR]
        price = open_[j]
        # 1. fills at this bar's open: the close first, so that the entry is
        #    sized with the cash the close released (rule 3)
        if ist[_I_CLOSE_ID] != 0:
            pos = fs[_F_POS]
            size = abs(pos)
            held = 1 if pos > 0.0 else -1
            value = size * price
            fee = commission * value
            if held > 0:
                fs[_F_CASH] = fs[_F_CASH] + (value - fee)
            else:
                fs[_F_CASH] = fs[_F_CASH] - (value + fee)
            oid = ist[_I_CLOSE_ID]
            created = ist[_I_CREATED]
            _order(oi, of, n_o, oid, created, -held, _FILLED, 0, ts[j], size, price, fee)
            _fill(fi, ff, n_f, oid, ts[j], -held, size, price, fee)
            n_o += 1
            n_f += 1
            entry_price = fs[_F_ENTRY_PRICE]
            entry_fee = fs[_F_ENTRY_FEE]
            ti[0, n_t] = ist[_I_NEXT_TRADE]
            ti[1, n_t] = held
            ti[2, n_t] = ist[_I_ENTRY_TS]
            ti[3, n_t] = ts[j]
            ti[4, n_t] = ist[_I_ENTRY_ORDER]
            ti[5, n_t] = oid
            ti[6, n_t] = bar - ist[_I_ENTRY_BAR]
            tf[0, n_t] = size
            tf[1, n_t] = entry_price
            tf[2, n_t] = price
            tf[3, n_t] = held * (price - entry_price) * size - entry_fee - fee
            tf[4, n_t] = entry_fee + fee
            n_t += 1
            ist[_I_NEXT_TRADE] += 1
            ist[_I_CLOSE_ID] = 0
            fs[_F_POS] = 0.0
            fs[_F_ENTRY_PRICE] = fs[_F_ENTRY_FEE] = np.nan
            ist[_I_ENTRY_TS] = _NO_TS
            ist[_I_ENTRY_BAR] = ist[_I_ENTRY_ORDER] = 0
        if ist[_I_ENTRY_ID] != 0:
            side = ist[_I_SIDE]
            oid = ist[_I_ENTRY_ID]
            created = ist[_I_CREATED]
            units = _entry_units(alloc, amount, fs[_F_STRENGTH], fs[_F_CASH], price, commission)
            if units > 0.0:
                value = units * price
                fee = commission * value
                if side > 0:
                    fs[_F_CASH] = fs[_F_CASH] - (value + fee)
                else:
                    fs[_F_CASH] = fs[_F_CASH] + (value - fee)
                fs[_F_POS] = side * units
                fs[_F_ENTRY_PRICE] = price
                fs[_F_ENTRY_FEE] = fee
                ist[_I_ENTRY_TS] = ts[j]
                ist[_I_ENTRY_BAR] = bar
                ist[_I_ENTRY_ORDER] = oid
                _order(oi, of, n_o, oid, created, side, _FILLED, 0, ts[j], units, price, fee)
                _fill(fi, ff, n_f, oid, ts[j], side, units, price, fee)
                n_f += 1
            else:
                reason = _INSUFFICIENT_CASH
                _order(oi, of, n_o, oid, created, side, _REJECTED, reason, _NO_TS, 0.0, np.nan, 0.0)
            n_o += 1
            ist[_I_ENTRY_ID] = 0
            fs[_F_STRENGTH] = np.nan
        # 2. decision at this bar's close (rule 2); NaN compares false: hold
        s = signal[j]
        want = 1 if s > 0.0 else (-1 if s < 0.0 else 0)
        pos = fs[_F_POS]
        held = 1 if pos > 0.0 else (-1 if pos < 0.0 else 0)
        # a sell while flat and long_only creates nothing
        if want != 0 and want != held and (held != 0 or want > 0 or not long_only):
            if held != 0:
                ist[_I_CLOSE_ID] = ist[_I_NEXT_ORDER]
                ist[_I_NEXT_ORDER] += 1
            if want > 0 or not long_only:
                ist[_I_ENTRY_ID] = ist[_I_NEXT_ORDER]
                ist[_I_NEXT_ORDER] += 1
                ist[_I_SIDE] = want
                fs[_F_STRENGTH] = abs(s)
            ist[_I_CREATED] = ts[j]
        rows[0, j] = fs[_F_CASH]
        rows[1, j] = pos
        rows[2, j] = fs[_F_CASH] + pos * close[j]
        ist[_I_BAR] = bar + 1
        ist[_I_LAST_TS] = ts[j]
    return n_o, n_f, n_t, -1, 0


def _bad_bar(cols: Mapping[str, np.ndarray], k: int, what: int, last_ts: int) -> DataError:
    # raised before the caller gets a state back, so its state never holds half a chunk
    ts = cols["ts"]
    if what == _BAD_TS:
        before = int(ts[k - 1]) if k else last_ts
        return DataError(
            f"SignalStrategy: ts must be strictly increasing per key, got ts={int(ts[k])} "
            f"at row {k} after ts={before}; sort the input by (symbol, ts) and drop duplicate bars"
        )
    name = "open" if what == _BAD_OPEN else "close"
    return DataError(
        f"SignalStrategy: {name} must be a finite price > 0, got {cols[name][k]!r} at row {k} "
        f"(ts={int(ts[k])}); validate or repair the feed before the strategy"
    )


class SignalStrategyKernel(SimulationKernel):
    """Trade one symbol from a signal: decide at the close, fill at the next open.

    Parameters
    ----------
    cash : float
        Starting cash.
    commission : float
        Fraction of the traded value charged per fill (``0.001`` = 10 bps).
    allocation : {"all_in", "fixed", "target_percent"}
        How an entry is sized (see :mod:`streambt.sim.allocation`).
    amount : float
        Units for ``fixed``, fraction of equity for ``target_percent``;
        ignored by ``all_in``.
    long_only : bool
        If true a sell signal only closes a long, never opens a short.

    Examples
    --------
    >>> import numpy as np
    >>> k = SignalStrategyKernel(
    ...     cash=1000.0, commission=0.0, allocation="all_in", amount=1.0, long_only=True
    ... )
    >>> bars = {"ts": np.array([1, 2, 3]), "open": np.array([10.0, 10.0, 20.0]),
    ...         "high": np.array([10.0, 10.0, 20.0]), "low": np.array([10.0, 10.0, 20.0]),
    ...         "close": np.array([10.0, 20.0, 20.0]), "signal": np.array([1.0, np.nan, -1.0])}
    >>> state, rows, events = k.step_events(k.init(), bars)
    >>> rows["position"].tolist(), rows["equity"].tolist()
    ([0.0, 100.0, 100.0], [1000.0, 2000.0, 2000.0])
    >>> k.finish(state)["orders"]["status"].tolist()  # the sell decided on the last bar
    [2]
    """

    inputs: ClassVar[tuple[str, ...]] = ("ts", "open", "high", "low", "close", "signal")
    outputs: ClassVar[tuple[str, ...]] = ("cash", "position", "equity")

    def __init__(
        self,
        *,
        cash: float,
        commission: float,
        allocation: str,
        amount: float,
        long_only: bool,
    ) -> None:
        if allocation not in ALLOCATIONS:
            raise InvalidParameterError(
                f"SignalStrategy(allocation={allocation!r}): allocation must be one of "
                f"{sorted(ALLOCATIONS)}.{did_you_mean(allocation, ALLOCATIONS)}"
            )
        super().__init__(
            cash=float(cash),
            commission=float(commission),
            allocation=allocation,
            amount=float(amount),
            long_only=bool(long_only),
        )
        self._alloc = ALLOCATIONS[allocation]

    def init(self) -> State:
        """Flat, with the starting cash and no pending order."""
        state = {k: np.array([np.nan]) for k in _F_KEYS}
        state |= {k: np.zeros(1, np.int64) for k in _I_KEYS}
        state["cash"][0], state["position"][0] = self.params["cash"], 0.0
        for k in ("entry_ts", "pending_created_ts", "last_ts"):
            state[k][0] = _NO_TS
        state["next_order_id"][0] = state["next_trade_id"][0] = 1
        return state

    def step_events(
        self, state: State, cols: Mapping[str, np.ndarray]
    ) -> tuple[State, Columns, Events]:
        """Consume the next bars of one symbol; return state, rows and events."""
        ts = np.ascontiguousarray(cols["ts"], dtype=np.int64)
        open_ = np.ascontiguousarray(cols["open"], dtype=np.float64)
        close = np.ascontiguousarray(cols["close"], dtype=np.float64)
        signal = np.ascontiguousarray(cols["signal"], dtype=np.float64)
        n = ts.shape[0]
        if not open_.shape[0] == close.shape[0] == signal.shape[0] == n:
            raise DataError(
                f"SignalStrategy: input columns differ in length (ts={n}, open={open_.shape[0]}, "
                f"close={close.shape[0]}, signal={signal.shape[0]}); pass one row per bar"
            )
        fs = np.array([state[k][0] for k in _F_KEYS], dtype=np.float64)
        ist = np.array([state[k][0] for k in _I_KEYS], dtype=np.int64)
        rows = np.empty((3, n), dtype=np.float64)
        cap = 2 * n + 2  # at most two orders (close + entry) finish per bar
        ib = tuple(np.empty((len(i), cap), np.int64) for i, _ in _BUFFERS.values())
        fb = tuple(np.empty((len(f), cap), np.float64) for _, f in _BUFFERS.values())
        counts = [0, 0, 0]
        if n:
            p = self.params
            args = (ts, open_, close, signal, p["commission"], self._alloc, p["amount"])
            *counts, bad, what = _simulate(*args, p["long_only"], fs, ist, rows, ib, fb)
            if bad >= 0:
                cols = {"ts": ts, "open": open_, "close": close}
                raise _bad_bar(cols, bad, what, int(state["last_ts"][0]))
        new_state: State = {k: fs[j : j + 1] for j, k in enumerate(_F_KEYS)}
        new_state.update({k: ist[j : j + 1] for j, k in enumerate(_I_KEYS)})
        out: Columns = {name: rows[j] for j, name in enumerate(self.outputs)}
        events = {t: _table(t, ib[j], fb[j], counts[j]) for j, t in enumerate(_BUFFERS)}
        return new_state, out, events

    def finish(self, state: State) -> Events:
        """Orders decided on the last bar, never filled: one row each, status ACCEPTED.

        A pending close has its size (the position); a pending entry is sized
        only at its fill, so its ``size`` is NaN.
        """
        events = empty_events()
        oi = np.empty((len(_BUFFERS["orders"][0]), 2), np.int64)
        of = np.empty((len(_BUFFERS["orders"][1]), 2), np.float64)
        created = int(state["pending_created_ts"][0])
        k = 0
        if state["pending_close_id"][0] != 0:
            pos = float(state["position"][0])
            oid, side = int(state["pending_close_id"][0]), (-1 if pos > 0 else 1)
            _order(oi, of, k, oid, created, side, _ACCEPTED, 0, _NO_TS, abs(pos), np.nan, 0.0)
            k += 1
        if state["pending_entry_id"][0] != 0:
            oid, side = int(state["pending_entry_id"][0]), int(state["pending_side"][0])
            _order(oi, of, k, oid, created, side, _ACCEPTED, 0, _NO_TS, np.nan, np.nan, 0.0)
            k += 1
        events["orders"] = _table("orders", oi, of, k)
        return events


def _table(table: str, ints: np.ndarray, floats: np.ndarray, count: int) -> Columns:
    """Slice the filled part of the buffers into columns in the declared order and dtypes."""
    bufs = (ints[:, :count], floats[:, :count])
    # Copies, not views: a view would keep the step's 2n-row buffers alive.
    return {name: bufs[b][k].astype(dtype, copy=True) for name, b, k, dtype in _SLOTS[table]}

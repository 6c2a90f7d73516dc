"""``PortfolioKernel``: many strategies x many symbols sharing capital, one pure step kernel.

Rows of all symbols arrive in (ts, symbol code) order. For each row the kernel
runs the symbol's bar through the order book (:mod:`streambt.sim.fills`),
takes the decisions of the pulse strategies at the close, checks margin, and
writes per-strategy position / cash / equity. Event-style strategies drive
the very same numba functions from Python (:mod:`streambt.sim.strategy`).
Every rule and its test: ``docs/broker.md``.

Examples
--------
>>> import numpy as np
>>> k = PortfolioKernel(
...     symbols=["X"], portfolio={"cash": 1000.0},
...     strategies=[{"name": "s", "sizer": {"sizer": "all_in"}, "stop_loss": 0.1}],
... )
>>> bars = {"ts": np.array([1, 2, 3]), "symbol": np.array([0, 0, 0]),
...         "open": np.array([10.0, 10.0, 9.5]), "high": np.array([10.0, 10.5, 9.5]),
...         "low": np.array([10.0, 9.9, 8.0]), "close": np.array([10.0, 10.0, 8.5]),
...         "volume": np.array([1.0, 1.0, 1.0]), "signal_0": np.array([1.0, np.nan, np.nan])}
>>> state, rows, events = k.step_events(k.init(), bars)
>>> rows["position_0"].tolist()  # bought 100 at 10; the stop at 9 filled on bar 3
[0.0, 100.0, 0.0]
>>> events["trades"]["exit_price"].tolist(), events["trades"]["exit_reason"].tolist()
([9.0], [2])
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from streambt.errors import DataError, InvalidParameterError, did_you_mean
from streambt.kernels.base import Columns, Events, SimulationKernel, State
from streambt.sim import fees as _fees
from streambt.sim import orders as ob
from streambt.sim import slippage as _slippage
from streambt.sim.events import (
    NO_TS,
    PORTFOLIO_EVENT_COLUMNS,
    OrderStateError,
    OrderStatus,
    RejectReason,
    TimeInForce,
    empty_events,
    transition_matrix,
)
from streambt.sim.fills import close_bar, match_symbol
from streambt.sim.instruments import Instrument, instrument_array, instruments_for
from streambt.sim.orders import (
    cancel_order,
    cancel_orders,
    close_order,
    close_position,
    equity,
    event_capacity,
    event_tables,
    gross,
    grow_event_buffers,
    grow_lots,
    grow_orders,
    is_working,
    jit,
    jit_inline,
    new_event_buffers,
    record_order_row,
    revalue,
    room,
    set_status,
    submit,
    sweep,
)
from streambt.sim.sizers import SZ_RISK, SZ_VOL_TARGET, sizer_code

_NO_TS = NO_TS
R_REPLACED = int(RejectReason.REPLACED)
R_MARGIN_CALL = int(RejectReason.MARGIN_CALL)
# run_rows codes
OK, NEED_BOOK, NEED_EVENTS = 0, 1, 2
BAD_SYMBOL, BAD_ORDER, BAD_PRICE, BAD_RANGE, BAD_VOLUME, BAD_STATE = 10, 11, 12, 13, 14, 15
ENTRY_TYPES = {"market": ob.MARKET, "limit": ob.LIMIT, "stop": ob.STOP}
PRIORITIES = {"stop_first": 0.0, "target_first": 1.0}


# --- declarations ------------------------------------------------------------------------------


def _fraction(
    call: str, name: str, value: Any, *, upper: float = 1.0, closed: bool = False
) -> None:
    if value is None:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or not (0 < value <= upper if closed else 0 < value < upper):
        interval = f"(0, {upper:g}]" if closed else f"(0, {upper:g})"
        raise InvalidParameterError(
            f"{call}({name}={value!r}): {name} must be None or a fraction in {interval}, "
            f"got {value!r}; e.g. {name}=0.02 for 2 %"
        )


def _as_params(value: Any) -> Any:
    return value.to_params() if hasattr(value, "to_params") else value


@dataclass(frozen=True)
class BrokerSpec:
    """Fees, slippage, margin and fill options (all plain data, see docs/broker.md).

    Examples
    --------
    >>> BrokerSpec(fees=_fees.percent(0.001)).to_params()["fees"]
    {'model': 'percent', 'rate': 0.001}
    """

    fees: Any = None
    slippage: Any = None
    margin: Mapping[str, float] | None = None  # {"leverage": 2.0, "maintenance": 0.25}
    priority: str = "stop_first"
    volume_share: float | None = None
    stops_same_bar: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "fees", _as_params(self.fees))
        object.__setattr__(self, "slippage", _as_params(self.slippage))
        _fees.from_params(self.fees)
        _slippage.from_params(self.slippage)
        if self.priority not in PRIORITIES:
            raise InvalidParameterError(
                f"broker(priority={self.priority!r}): priority must be 'stop_first' or "
                f"'target_first'.{did_you_mean(str(self.priority), PRIORITIES)}"
            )
        _fraction("broker", "volume_share", self.volume_share, closed=True)
        if not isinstance(self.stops_same_bar, bool):
            raise InvalidParameterError(
                f"broker(stops_same_bar={self.stops_same_bar!r}): pass True or False"
            )
        if self.margin is not None:
            m = dict(self.margin)
            unknown = set(m) - {"leverage", "maintenance"}
            lev = m.get("leverage", 1.0)
            maint = m.get("maintenance")
            if unknown or not isinstance(lev, int | float) or not 1 <= lev < math.inf:
                raise InvalidParameterError(
                    f"broker(margin={m!r}): margin takes leverage (a number >= 1) and "
                    "maintenance (a fraction in (0, 1) or None), e.g. "
                    "{'leverage': 2.0, 'maintenance': 0.25}"
                )
            _fraction("margin", "maintenance", maint)
            object.__setattr__(self, "margin", {"leverage": float(lev), "maintenance": maint})

    def to_params(self) -> dict[str, Any]:
        return {
            "fees": self.fees,
            "slippage": self.slippage,
            "margin": None if self.margin is None else dict(self.margin),
            "priority": self.priority,
            "volume_share": self.volume_share,
            "stops_same_bar": self.stops_same_bar,
        }


@dataclass(frozen=True)
class PortfolioSpec:
    """Starting cash and the portfolio limits.

    Examples
    --------
    >>> PortfolioSpec(cash=1e6, max_gross_exposure=1.5).to_params()["rebalance_every"] is None
    True
    """

    cash: float
    max_gross_exposure: float | None = None  # sum |position x price| / portfolio equity
    max_symbol_notional: float | None = None  # sum over strategies of |position| x price
    rebalance_every: int | None = None  # timestamps between cash rebalances

    def __post_init__(self) -> None:
        c = self.cash
        if isinstance(c, bool) or not isinstance(c, int | float) or not (0 < c < math.inf):
            raise InvalidParameterError(
                f"portfolio(cash={c!r}): cash must be a positive finite number, e.g. cash=10_000"
            )
        for name in ("max_gross_exposure", "max_symbol_notional"):
            v = getattr(self, name)
            if v is not None and (
                isinstance(v, bool) or not isinstance(v, int | float) or not 0 < v < math.inf
            ):
                raise InvalidParameterError(
                    f"portfolio({name}={v!r}): {name} must be None or a positive finite number"
                )
        r = self.rebalance_every
        if r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 1):
            raise InvalidParameterError(
                f"portfolio(rebalance_every={r!r}): must be None or an integer >= 1 (timestamps)"
            )

    def to_params(self) -> dict[str, Any]:
        return {
            "cash": float(self.cash),
            "max_gross_exposure": self.max_gross_exposure,
            "max_symbol_notional": self.max_symbol_notional,
            "rebalance_every": self.rebalance_every,
        }


@dataclass(frozen=True)
class StrategySpec:
    """One strategy of the portfolio: what it trades, its capital share, sizer and brackets.

    Examples
    --------
    >>> StrategySpec("a", sizer={"sizer": "risk", "amount": 0.01}, stop_loss=0.02).long_only
    True
    """

    name: str
    symbols: Sequence[str] | None = None  # None = every symbol of the kernel
    weight: float = 1.0
    long_only: bool | None = None  # None: the v1 allocation's, else True
    sizer: Any = field(default_factory=lambda: {"sizer": "all_in", "amount": 1.0})
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None
    entry: str = "market"  # pulse entries: market | limit | stop
    entry_offset: float = (
        0.0  # limit at close x (1 - side x offset), stop at close x (1 + side x offset)
    )
    tif: str = "GTC"
    style: str = "pulse"  # pulse | event

    def __post_init__(self) -> None:
        call = f"strategy {self.name!r}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidParameterError(f"strategy(name={self.name!r}): pass a non-empty name")
        sizer = _as_params(self.sizer)
        if not isinstance(sizer, Mapping):
            raise InvalidParameterError(
                f"{call}: sizer must be a sizer from streambt.sim.sizers or an allocation, "
                f"got {sizer!r}"
            )
        sizer = dict(sizer)
        object.__setattr__(self, "sizer", sizer)
        code, _ = sizer_code(sizer)
        long_only = self.long_only
        if long_only is None:
            long_only = bool(sizer.get("long_only", True))
        if not isinstance(long_only, bool):
            raise InvalidParameterError(f"{call}: long_only must be a bool, got {long_only!r}")
        object.__setattr__(self, "long_only", long_only)
        if self.symbols is not None:
            object.__setattr__(self, "symbols", tuple(self.symbols))
        w = self.weight
        if isinstance(w, bool) or not isinstance(w, int | float) or not 0 < w < math.inf:
            raise InvalidParameterError(f"{call}: weight must be a positive number, got {w!r}")
        _fraction(call, "stop_loss", self.stop_loss)
        _fraction(call, "take_profit", self.take_profit, upper=math.inf)
        _fraction(call, "trailing_stop", self.trailing_stop)
        if code == SZ_RISK and self.stop_loss is None:
            raise InvalidParameterError(
                f"{call}: the risk sizer needs a stop_loss (units = risk x equity / "
                "(price x stop_loss)); pass stop_loss=0.02 or another sizer"
            )
        if self.entry not in ENTRY_TYPES:
            raise InvalidParameterError(
                f"{call}: entry must be one of {sorted(ENTRY_TYPES)}, got {self.entry!r}."
                f"{did_you_mean(str(self.entry), ENTRY_TYPES)}"
            )
        off = self.entry_offset
        if isinstance(off, bool) or not isinstance(off, int | float) or not 0 <= off < 1:
            raise InvalidParameterError(f"{call}: entry_offset must be in [0, 1), got {off!r}")
        if self.tif not in ("GTC", "DAY"):
            raise InvalidParameterError(f"{call}: tif must be 'GTC' or 'DAY', got {self.tif!r}")
        if self.style not in ("pulse", "event"):
            raise InvalidParameterError(
                f"{call}: style must be 'pulse' or 'event', got {self.style!r}"
            )

    def to_params(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "symbols": None if self.symbols is None else list(self.symbols),
            "weight": float(self.weight),
            "long_only": self.long_only,
            "sizer": dict(self.sizer),
            "stop_loss": self.stop_loss,
            "take_profit": self.take_profit,
            "trailing_stop": self.trailing_stop,
            "entry": self.entry,
            "entry_offset": float(self.entry_offset),
            "tif": self.tif,
            "style": self.style,
        }


def _spec(cls: Any, value: Any, what: str) -> Any:
    if isinstance(value, cls):
        return value
    if isinstance(value, Mapping):
        try:
            return cls(**dict(value))
        except TypeError as err:
            raise InvalidParameterError(f"{what} {dict(value)!r}: {err}") from None
    raise InvalidParameterError(f"{what}: pass a dict or a {cls.__name__}, got {value!r}")


def _nan(x: float | None) -> float:
    return np.nan if x is None else float(x)


@dataclass(frozen=True)
class BookRows:
    """What a step writes besides events, for a host's equity and positions tables.

    ``units[k, j]``: strategy k's position in row j's symbol after the row.
    ``ts[t]``: the t-th timestamp of the rows; ``cash``, ``equity``, ``gross``
    ``[k, t]``: strategy k's account after that timestamp's last row (the last
    of the rows may be followed by more rows of its timestamp in the next step).
    """

    units: np.ndarray
    ts: np.ndarray
    cash: np.ndarray
    equity: np.ndarray
    gross: np.ndarray

    @classmethod
    def of_rows(cls, ts: np.ndarray, rows: Mapping[str, np.ndarray], n_strat: int) -> BookRows:
        """The same from the full rows of :meth:`PortfolioKernel.step_events`."""
        last = np.flatnonzero(np.r_[ts[1:] != ts[:-1], ts.size > 0])  # each timestamp's last row

        def accounts(field: str) -> np.ndarray:
            return np.stack([rows[f"{field}_{k}"][last] for k in range(n_strat)])

        return cls(
            units=np.stack([rows[f"position_{k}"] for k in range(n_strat)]),
            ts=ts[last],
            cash=accounts("cash"),
            equity=accounts("equity"),
            gross=accounts("gross"),
        )


# --- the numba step: one row = one bar of one symbol ------------------------------------------


@jit_inline
def check_row(B, ts, s, o, h, lo, c, v, need_volume):
    gi = B[4]
    if s < 0 or s >= B[1].shape[1]:
        return BAD_SYMBOL
    last = gi[ob.G_LAST_TS]
    if ts < last or (ts == last and s <= gi[ob.G_LAST_SYM]):
        return BAD_ORDER
    # One expression, not a loop over a tuple of the prices: this runs on every bar.
    if not (
        o > 0.0
        and h > 0.0
        and lo > 0.0
        and c > 0.0
        and o < np.inf
        and h < np.inf
        and lo < np.inf
        and c < np.inf
    ):
        return BAD_PRICE
    if not (lo <= o and lo <= c and h >= o and h >= c):
        return BAD_RANGE
    if need_volume and not (v >= 0.0 and v < np.inf):
        return BAD_VOLUME
    return OK


@jit
def rebalance(B, P):
    """Move free cash from strategies above their weight to those below (total cash kept).

    A strategy above its target gives at most its free cash (never below 0);
    the cash given is shared by the strategies below theirs in proportion to
    their shortfall. A strategy's equity depends on its own cash only, so it is
    recomputed where needed instead of stored (no allocation in the kernel).
    """
    acct = B[0]
    sp = P[0]
    n = acct.shape[0]
    total = 0.0
    weights = 0.0
    for k in range(n):
        total += equity(B, k)
        weights += sp[k, ob.SP_WEIGHT]
    gives = 0.0
    needs = 0.0
    for k in range(n):
        eq = equity(B, k)
        target = total * sp[k, ob.SP_WEIGHT] / weights
        if eq > target:
            gives += min(eq - target, max(acct[k, ob.AC_CASH], 0.0))
        else:
            needs += target - eq
    moved = min(gives, needs)
    if moved > 0.0:
        for k in range(n):
            eq = equity(B, k)
            target = total * sp[k, ob.SP_WEIGHT] / weights
            if eq > target:
                give = min(eq - target, max(acct[k, ob.AC_CASH], 0.0))
                acct[k, ob.AC_CASH] = acct[k, ob.AC_CASH] - give * (moved / gives)
            else:
                acct[k, ob.AC_CASH] = acct[k, ob.AC_CASH] + (target - eq) * (moved / needs)


@jit_inline
def begin_row(B, P, E, ts, s, o, h, lo, c, v):
    """Everything up to the decisions at the close: rebalance, the bar's fills, marks, trailing.

    Returns True if cash was rebalanced (every strategy's equity must be refreshed).
    """
    symf, gi = B[2], B[4]
    bp = P[2]
    last = gi[ob.G_LAST_TS]
    rebalanced = False
    if ts > last and last != _NO_TS:
        gi[ob.G_NTS] += 1
        every = int(bp[ob.BP_REBALANCE])
        if every > 0 and gi[ob.G_NTS] % every == 0:
            rebalance(B, P)
            rebalanced = True
    symf[s, ob.SF_MARK] = o
    symf[s, ob.SF_VOL_LEFT] = bp[ob.BP_VOLUME_SHARE] * v
    match_symbol(B, P, E, s, ts, o, h, lo, v)
    symf[s, ob.SF_MARK] = c
    close_bar(B, P, s, h, lo, ts)
    return rebalanced


@jit
def decide(B, P, E, k, s, x, ts, close, atr):
    """A pulse decision at the close: the v1 direction rules, with brackets and entry types."""
    acct, pos, symi, oi = B[0], B[1], B[3], B[6]
    sp = P[0]
    want = 1 if x > 0.0 else (-1 if x < 0.0 else 0)
    if want == 0 or acct[k, ob.AC_LIQUIDATING] != 0.0:
        return
    p = pos[k, s]
    held = 1 if p > 0.0 else (-1 if p < 0.0 else 0)
    if want == held:
        return
    keep = False
    slot = symi[s, ob.SI_HEAD]
    while slot >= 0:
        if (
            oi[slot, ob.OI_STRAT] == k
            and is_working(oi[slot, ob.OI_STATUS])
            and oi[slot, ob.OI_ROLE] == ob.ROLE_SIGNAL
            and oi[slot, ob.OI_REDUCE] == ob.REDUCE_NO
        ):
            if oi[slot, ob.OI_SIDE] == want:
                keep = True
            else:
                set_status(B, P, E, slot, ob.CANCELLED, ts, R_REPLACED)
        slot = oi[slot, ob.OI_NEXT]
    if held != 0:
        close_position(B, P, E, k, s, ts)
    if (want > 0 or sp[k, ob.SP_LONG_ONLY] == 0.0) and not keep:
        otype = int(sp[k, ob.SP_ENTRY_TYPE])
        limit = np.nan
        stop = np.nan
        if otype == ob.LIMIT:
            limit = close * (1.0 - want * sp[k, ob.SP_OFFSET])
        elif otype == ob.STOP:
            stop = close * (1.0 + want * sp[k, ob.SP_OFFSET])
        submit(
            B,
            P,
            E,
            k,
            s,
            want,
            otype,
            int(sp[k, ob.SP_TIF]),
            np.nan,
            limit,
            stop,
            ts,
            abs(x),
            atr,
            sp[k, ob.SP_SL],
            sp[k, ob.SP_TP],
            sp[k, ob.SP_TRAIL],
        )


@jit_inline
def atr_at(atr, k, j):
    """Strategy k's ATR on row j; ``atr`` has no columns when no strategy reads one."""
    return atr[k, j] if atr.shape[1] > 0 else np.nan


@jit_inline
def decide_pulse(B, P, E, ts, s, c, sig, atr, j):
    sp, ssym = P[0], P[1]
    for k in range(sp.shape[0]):
        x = sig[k, j]
        # 0 and NaN decide nothing; skipping them here saves a call per bar (the call
        # passes the whole book and costs more than the decision).
        if x != 0.0 and not np.isnan(x) and sp[k, ob.SP_EVENT] == 0.0 and ssym[k, s] == 1:
            decide(B, P, E, k, s, x, ts, c, atr_at(atr, k, j))


@jit
def _liquidate(B, P, E, k, ts):
    """Margin call: cancel every working order of ``k``; close every position at the next open."""
    acct, pos = B[0], B[1]
    acct[k, ob.AC_LIQUIDATING] = 1.0
    for s in range(pos.shape[1]):
        cancel_orders(B, P, E, k, s, ob.SEL_ALL, R_MARGIN_CALL, ts, -1)
        if pos[k, s] != 0.0:
            close_order(B, P, E, k, s, abs(pos[k, s]), ob.ROLE_LIQUIDATION, ts)


@jit_inline
def settle_row(B, P, E, ts, s, rebalanced, k):
    """Whether strategy k is concerned by this row (it trades ``s``, or cash was rebalanced);
    if so, its margin check."""
    acct = B[0]
    if not (P[1][k, s] == 1 or rebalanced):
        return False
    maint = P[2][ob.BP_MAINTENANCE]
    if not np.isnan(maint) and acct[k, ob.AC_LIQUIDATING] == 0.0:
        g = gross(B, k)
        if g > 0.0 and equity(B, k) < maint * g:
            _liquidate(B, P, E, k, ts)
    return True


@jit_inline
def close_row(B, ts, s):
    """Book upkeep once a row is done: free final orders, advance the symbol's and book's clocks."""
    symi, gi = B[3], B[4]
    sweep(B, s)
    symi[s, ob.SI_LAST_TS] = ts
    symi[s, ob.SI_BARS] += 1
    gi[ob.G_LAST_TS] = ts
    gi[ob.G_LAST_SYM] = s


@jit_inline
def end_row(B, P, E, ts, s, rebalanced, rows, j):
    """After the decisions: margin check, per-row outputs, book upkeep."""
    acct, pos = B[0], B[1]
    n_strat = acct.shape[0]
    for k in range(n_strat):
        if settle_row(B, P, E, ts, s, rebalanced, k):
            revalue(B, k)
    cash = 0.0
    eq = 0.0
    net = 0.0
    for k in range(n_strat):
        rows[4 * k, j] = pos[k, s]
        rows[4 * k + 1, j] = acct[k, ob.AC_CASH]
        rows[4 * k + 2, j] = acct[k, ob.AC_EQUITY]
        rows[4 * k + 3, j] = acct[k, ob.AC_GROSS]
        cash += acct[k, ob.AC_CASH]
        eq += acct[k, ob.AC_EQUITY]
        net += pos[k, s]
    rows[4 * n_strat, j] = cash
    rows[4 * n_strat + 1, j] = eq
    rows[4 * n_strat + 2, j] = net
    close_row(B, ts, s)


@jit
def run_rows(B, P, E, start, ts, sym, o, h, lo, c, v, sig, atr, rows, need_volume):
    """The pulse loop: rows ``start..`` until done (OK) or a code asks the wrapper to act."""
    gi = B[4]
    for j in range(start, ts.shape[0]):
        code = room(B, P, E)
        if code != OK:
            return j, code
        s = sym[j]
        code = check_row(B, ts[j], s, o[j], h[j], lo[j], c[j], v[j], need_volume)
        if code != OK:
            return j, code
        rebalanced = begin_row(B, P, E, ts[j], s, o[j], h[j], lo[j], c[j], v[j])
        decide_pulse(B, P, E, ts[j], s, c[j], sig, atr, j)
        end_row(B, P, E, ts[j], s, rebalanced, rows, j)
        if gi[ob.G_ERR] != 0:
            return j, BAD_STATE
    return ts.shape[0], OK


@jit
def run_rows_by_ts(
    B,
    P,
    E,
    start,
    t,
    ts,
    sym,
    o,
    h,
    lo,
    c,
    v,
    sig,
    atr,
    units,
    stamps,
    accounts,
    touched,
    need_volume,
):
    """:func:`run_rows` writing what a host keeps: units per row, accounts per timestamp.

    ``units[k, j]`` is strategy k's position in row j's symbol. At the last row of
    each timestamp (or of these rows), ``stamps[t]`` gets the timestamp (unless
    ``stamps`` is empty: one symbol, every row its own timestamp) and
    ``accounts[3k .. 3k+2, t]`` strategy k's cash, equity and gross exposure.
    Equity is revalued there once, for the strategies a row of the timestamp
    concerned (``touched``, kept across calls), instead of after every row:
    the same values, since no other row changes their positions, cash or marks.
    Returns (next row, next timestamp slot, code).
    """
    acct, pos, gi = B[0], B[1], B[4]
    n_strat = acct.shape[0]
    n = ts.shape[0]
    for j in range(start, n):
        code = room(B, P, E)
        if code != OK:
            return j, t, code
        s = sym[j]
        code = check_row(B, ts[j], s, o[j], h[j], lo[j], c[j], v[j], need_volume)
        if code != OK:
            return j, t, code
        rebalanced = begin_row(B, P, E, ts[j], s, o[j], h[j], lo[j], c[j], v[j])
        decide_pulse(B, P, E, ts[j], s, c[j], sig, atr, j)
        for k in range(n_strat):
            if settle_row(B, P, E, ts[j], s, rebalanced, k):
                touched[k] = True
            units[k, j] = pos[k, s]
        close_row(B, ts[j], s)
        if gi[ob.G_ERR] != 0:
            return j, t, BAD_STATE
        if j == n - 1 or ts[j + 1] != ts[j]:
            for k in range(n_strat):
                if touched[k]:
                    revalue(B, k)
                    touched[k] = False
                accounts[3 * k, t] = acct[k, ob.AC_CASH]
                accounts[3 * k + 1, t] = acct[k, ob.AC_EQUITY]
                accounts[3 * k + 2, t] = acct[k, ob.AC_GROSS]
            if stamps.shape[0] > 0:
                stamps[t] = ts[j]
            t += 1
    return n, t, OK


# --- the kernel ---------------------------------------------------------------------------------

_STATE_KEYS = ("acct", "pos", "symf", "symi", "gi", "gf", "oi", "of", "li", "lf", "lht")


class PortfolioKernel(SimulationKernel):
    """Many strategies x many symbols sharing capital; orders, brackets, fees, margin.

    Parameters
    ----------
    symbols : list of str
        Symbol names; the ``symbol`` input holds their codes (index in this list).
    strategies : list of dict or StrategySpec
        ``name``, ``symbols`` (None = all), ``weight``, ``long_only``, ``sizer``
        (:mod:`streambt.sim.sizers` or a v1 allocation), ``stop_loss``,
        ``take_profit``, ``trailing_stop`` (fractions of the entry fill price),
        ``entry`` (market | limit | stop) with ``entry_offset``, ``tif``,
        ``style`` (pulse | event). Strategy code k = index in this list.
    portfolio : dict or PortfolioSpec
        ``cash``, ``max_gross_exposure``, ``max_symbol_notional``, ``rebalance_every``.
    instruments : dict (symbol -> Instrument or dict) or list, optional
        Defaults to ``Instrument()`` (whole units, no tick, no limits).
    broker : dict or BrokerSpec, optional
        ``fees``, ``slippage``, ``margin``, ``priority``, ``volume_share``, ``stops_same_bar``.

    Inputs: ``ts`` (int64 us), ``symbol`` (int64 code), ``open/high/low/close``,
    ``volume`` (needed with a volume limit or volume slippage), ``signal_<k>`` for
    each pulse strategy, ``atr_<k>`` for each volatility-target strategy, see
    :meth:`input_columns`. Outputs per row (:meth:`row_columns`):
    ``position_<k>`` (strategy k's position in the row's symbol), ``cash_<k>``,
    ``equity_<k>``, and the portfolio's ``cash``, ``equity``, ``net_position``.
    """

    inputs: ClassVar[tuple[str, ...]] = ("ts", "symbol", "open", "high", "low", "close", "volume")
    outputs: ClassVar[tuple[str, ...]] = ("cash", "equity", "net_position")

    def __init__(
        self,
        *,
        symbols: Sequence[str],
        strategies: Sequence[Any],
        portfolio: Any,
        instruments: Any = None,
        broker: Any = None,
    ) -> None:
        symbols = list(symbols)
        if (
            not symbols
            or len(set(symbols)) != len(symbols)
            or not all(isinstance(x, str) and x for x in symbols)
        ):
            raise InvalidParameterError(
                f"Portfolio(symbols={symbols!r}): pass a non-empty list of distinct symbol names"
            )
        specs = [_spec(StrategySpec, x, "strategy") for x in strategies]
        if not specs:
            raise InvalidParameterError("Portfolio(strategies=[]): add at least one strategy")
        names = [x.name for x in specs]
        if len(set(names)) != len(names):
            raise InvalidParameterError(f"Portfolio: strategy names must be distinct, got {names}")
        for x in specs:
            for sym in x.symbols or ():
                if sym not in symbols:
                    raise InvalidParameterError(
                        f"strategy {x.name!r} trades {sym!r}, which is not one of the "
                        f"symbols {symbols}.{did_you_mean(sym, symbols)}"
                    )
        port = _spec(PortfolioSpec, portfolio, "portfolio")
        brk = _spec(BrokerSpec, broker if broker is not None else {}, "broker")
        insts = instruments_for(symbols, instruments)
        super().__init__(
            symbols=symbols,
            strategies=[x.to_params() for x in specs],
            portfolio=port.to_params(),
            instruments=[i.to_params() for i in insts],
            broker=brk.to_params(),
        )
        self.specs = specs
        self.symbols = symbols
        self.instrument_specs = insts
        self._pack(specs, port, brk, insts)

    def _pack(
        self,
        specs: list[StrategySpec],
        port: PortfolioSpec,
        brk: BrokerSpec,
        insts: list[Instrument],
    ) -> None:
        n_strat, n_sym = len(specs), len(self.symbols)
        sp = np.zeros((n_strat, ob.SP_N))
        ssym = np.zeros((n_strat, n_sym), np.int64)
        for k, x in enumerate(specs):
            code, amount = sizer_code(x.sizer)
            sp[k, ob.SP_SIZER], sp[k, ob.SP_AMOUNT] = code, amount
            sp[k, ob.SP_LONG_ONLY] = 1.0 if x.long_only else 0.0
            sp[k, ob.SP_SL], sp[k, ob.SP_TP] = _nan(x.stop_loss), _nan(x.take_profit)
            sp[k, ob.SP_TRAIL] = _nan(x.trailing_stop)
            sp[k, ob.SP_ENTRY_TYPE], sp[k, ob.SP_OFFSET] = ENTRY_TYPES[x.entry], x.entry_offset
            sp[k, ob.SP_TIF] = int(TimeInForce[x.tif])
            sp[k, ob.SP_WEIGHT] = x.weight
            sp[k, ob.SP_EVENT] = 1.0 if x.style == "event" else 0.0
            for s, sym in enumerate(self.symbols):
                ssym[k, s] = 1 if x.symbols is None or sym in x.symbols else 0
        bp = np.zeros(ob.BP_N)
        bp[ob.BP_PRIORITY] = PRIORITIES[brk.priority]
        bp[ob.BP_VOLUME_SHARE] = _nan(brk.volume_share)
        margin = brk.margin or {}
        bp[ob.BP_LEVERAGE] = float(margin.get("leverage", 1.0))
        bp[ob.BP_MAINTENANCE] = _nan(margin.get("maintenance"))
        bp[ob.BP_STOPS_SAME_BAR] = 1.0 if brk.stops_same_bar else 0.0
        bp[ob.BP_MAX_GROSS] = np.inf if port.max_gross_exposure is None else port.max_gross_exposure
        bp[ob.BP_MAX_SYMBOL_NOTIONAL] = (
            np.inf if port.max_symbol_notional is None else port.max_symbol_notional
        )
        bp[ob.BP_REBALANCE] = port.rebalance_every or 0
        bp[ob.BP_CASH] = port.cash
        fp, tiers = _fees.fee_arrays(brk.fees)
        slp = _slippage.slippage_array(brk.slippage)
        self.P = (sp, ssym, bp, fp, tiers, slp, instrument_array(insts), transition_matrix())
        self.need_volume = not np.isnan(bp[ob.BP_VOLUME_SHARE]) or _slippage.depends_on_size(slp)
        self.pulse = [k for k, x in enumerate(specs) if x.style == "pulse"]
        self.with_atr = [k for k, x in enumerate(specs) if sizer_code(x.sizer)[0] == SZ_VOL_TARGET]

    # --- columns -----------------------------------------------------------------------------

    def input_columns(self) -> list[str]:
        """Every input column this kernel reads, in a fixed order."""
        cols = ["ts", "symbol", "open", "high", "low", "close"]
        if self.need_volume:
            cols.append("volume")
        cols += [f"signal_{k}" for k in self.pulse]
        cols += [f"atr_{k}" for k in self.with_atr]
        return cols

    def row_columns(self) -> list[str]:
        """The per-row output columns, in order."""
        fields = ("position", "cash", "equity", "gross")
        per = [f"{x}_{k}" for k in range(len(self.specs)) for x in fields]
        return [*per, *self.outputs]

    # --- state -------------------------------------------------------------------------------

    def init(self) -> State:
        """Flat, cash split by weight, an empty book."""
        n_strat, n_sym = len(self.specs), len(self.symbols)
        weights = np.array([x.weight for x in self.specs])
        acct = np.zeros((n_strat, ob.AC_N))
        acct[:, ob.AC_CASH] = self.P[2][ob.BP_CASH] * weights / weights.sum()
        acct[:, ob.AC_EQUITY] = acct[:, ob.AC_CASH]
        gi = np.zeros(ob.G_N, np.int64)
        gi[[ob.G_NEXT_ORDER, ob.G_NEXT_TRADE, ob.G_NEXT_OCO]] = 1
        gi[ob.G_LAST_TS] = _NO_TS
        gi[ob.G_LAST_SYM] = -1
        gi[[ob.G_FREE_ORDER, ob.G_FREE_LOT]] = -1
        cap = 2 * (n_strat * (n_sym + 8) + 8)
        oi, of = grow_orders(np.zeros((0, ob.OI_N), np.int64), np.zeros((0, ob.OF_N)), gi, cap)
        li, lf = grow_lots(np.zeros((0, ob.LI_N), np.int64), np.zeros((0, ob.LF_N)), gi, 2 * cap)
        symi = np.zeros((n_sym, ob.SI_N), np.int64)
        symi[:, ob.SI_LAST_TS] = _NO_TS
        symi[:, [ob.SI_HEAD, ob.SI_TAIL]] = -1
        symf = np.full((n_sym, ob.SF_N), np.nan)
        return {
            "acct": acct,
            "pos": np.zeros((n_strat, n_sym)),
            "symf": symf,
            "symi": symi,
            "gi": gi,
            "gf": np.zeros(ob.GF_N),
            "oi": oi,
            "of": of,
            "li": li,
            "lf": lf,
            "lht": np.full((n_strat, n_sym, 2), -1, np.int64),
        }

    @staticmethod
    def book(state: State) -> tuple[np.ndarray, ...]:
        """The state's arrays as the numba tuple ``B`` (copies: the given state is not touched)."""
        return tuple(np.array(state[key], copy=True) for key in _STATE_KEYS)

    @staticmethod
    def unbook(B: tuple[np.ndarray, ...]) -> State:
        return dict(zip(_STATE_KEYS, B, strict=True))

    @staticmethod
    def grow_book(B: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """Twice the order and lot slots (the free lists take the new ones)."""
        acct, pos, symf, symi, gi, gf, oi, of, li, lf, lht = B
        oi, of = grow_orders(oi, of, gi, 2 * oi.shape[0])
        li, lf = grow_lots(li, lf, gi, max(2 * li.shape[0], 2 * oi.shape[0]))
        return (acct, pos, symf, symi, gi, gf, oi, of, li, lf, lht)

    # --- stepping ------------------------------------------------------------------------------

    def prepare(self, cols: Mapping[str, np.ndarray]) -> tuple[Any, ...]:
        """Validated, contiguous numpy inputs: (ts, sym, o, h, l, c, v, sig[K, n], atr[K, n]).

        ``atr`` has no columns when no strategy reads one; the signals of event
        strategies are NaN. One strategy's column is used as it is (no copy).
        """
        missing = [c for c in self.input_columns() if c not in cols]
        if missing:
            raise DataError(
                f"Portfolio: missing input column(s) {missing}; the kernel reads "
                f"{self.input_columns()}"
            )
        ts = np.ascontiguousarray(cols["ts"], dtype=np.int64)
        n = ts.shape[0]
        sym = np.ascontiguousarray(cols["symbol"], dtype=np.int64)
        prices = [
            np.ascontiguousarray(cols[c], dtype=np.float64)
            for c in ("open", "high", "low", "close")
        ]
        vol = (
            np.ascontiguousarray(cols["volume"], dtype=np.float64)
            if "volume" in cols
            else np.full(n, np.nan)
        )
        sig = self._per_strategy(cols, "signal", self.pulse, n)
        atr = self._per_strategy(cols, "atr", self.with_atr, n) if self.with_atr else None
        if atr is None:
            atr = np.empty((len(self.specs), 0))
        lengths = {len(a) for a in (sym, *prices, vol)} | {sig.shape[1]}
        if self.with_atr:
            lengths.add(atr.shape[1])
        if lengths != {n}:
            raise DataError(
                f"Portfolio: input columns differ in length ({sorted(lengths | {n})}); pass one "
                "row per bar"
            )
        return (ts, sym, *prices, vol, sig, atr)

    def _per_strategy(
        self, cols: Mapping[str, np.ndarray], prefix: str, ks: list[int], n: int
    ) -> np.ndarray:
        """``<prefix>_<k>`` of the strategies ``ks`` as rows of a [K, n] array, NaN elsewhere."""
        if len(self.specs) == 1 and ks == [0]:
            return np.ascontiguousarray(cols[f"{prefix}_0"], dtype=np.float64).reshape(1, -1)
        out = np.full((len(self.specs), n), np.nan)
        for k in ks:
            out[k] = cols[f"{prefix}_{k}"]
        return out

    def step_events(
        self, state: State, cols: Mapping[str, np.ndarray]
    ) -> tuple[State, Columns, Events]:
        """Consume the next rows (all symbols, in (ts, symbol) order); state, rows, events."""
        ts, sym, o, h, lo, c, v, sig, atr = self.prepare(cols)
        n = ts.shape[0]
        B = self.book(state)
        E = new_event_buffers(n // 4 + 256)
        rows = np.empty((4 * len(self.specs) + 3, n))
        j = 0
        while True:
            j, code = run_rows(
                B, self.P, E, j, ts, sym, o, h, lo, c, v, sig, atr, rows, self.need_volume
            )
            if code == OK:
                break
            B, E = self._grown(code, B, E, j, cols, state)
        out = {name: rows[i] for i, name in enumerate(self.row_columns())}
        return self.unbook(B), out, event_tables(E)

    def step_book(
        self, state: State, cols: Mapping[str, np.ndarray]
    ) -> tuple[State, BookRows, Events]:
        """:meth:`step_events` keeping what a host's tables need (:class:`BookRows`).

        Same state and events; writes a position per row and strategy, and the
        accounts once per timestamp instead of the full rows of every bar. The
        event columns are views of buffers this step allocated, in their storage types
        (``event_tables(copy=False)``); no later step writes them.
        """
        ts, sym, o, h, lo, c, v, sig, atr = self.prepare(cols)
        n, n_strat = ts.shape[0], len(self.specs)
        B = self.book(state)
        E = new_event_buffers(n // 4 + 256)
        units = np.empty((n_strat, n))
        # With one symbol every row is its own timestamp (rows of a symbol strictly increase
        # in time): the timestamps are the rows' own, and need no copy.
        one_symbol = len(self.symbols) == 1
        stamps = np.empty(0 if one_symbol else n, np.int64)
        accounts = np.empty((3 * n_strat, n))
        touched = np.zeros(n_strat, np.bool_)
        j = t = 0
        while True:
            j, t, code = run_rows_by_ts(
                B, self.P, E, j, t, ts, sym, o, h, lo, c, v, sig, atr,
                units, stamps, accounts, touched, self.need_volume,
            )  # fmt: skip
            if code == OK:
                break
            B, E = self._grown(code, B, E, j, cols, state)
        rows = BookRows(
            units=units,
            ts=ts[:t] if one_symbol else stamps[:t],
            cash=accounts[0::3, :t],
            equity=accounts[1::3, :t],
            gross=accounts[2::3, :t],
        )
        return self.unbook(B), rows, event_tables(E, copy=False)

    def _grown(
        self,
        code: int,
        B: tuple[np.ndarray, ...],
        E: tuple[np.ndarray, ...],
        j: int,
        cols: Mapping[str, np.ndarray],
        state: State,
    ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """The book or event buffers grown for a ``run_rows`` code asking for room, else raise."""
        if code == NEED_BOOK:
            return self.grow_book(B), E
        if code == NEED_EVENTS:
            return B, grow_event_buffers(E, 2 * event_capacity(E))
        raise self.error(code, B, j, cols, int(state["gi"][ob.G_LAST_TS]))

    def error(
        self,
        code: int,
        B: tuple[np.ndarray, ...],
        j: int,
        cols: Mapping[str, np.ndarray],
        last: int,
    ) -> Exception:
        """The exception for a ``run_rows`` code at row ``j``."""
        gi = B[4]
        if code == BAD_STATE:
            frm, to = OrderStatus(int(gi[ob.G_ERR_FROM])), OrderStatus(int(gi[ob.G_ERR_TO]))
            return OrderStateError(
                f"Portfolio: order {int(gi[ob.G_ERR_ORDER])} cannot go from {frm.name} to "
                f"{to.name} (events.ORDER_TRANSITIONS); this is a kernel bug, please report it"
            )
        ts = int(cols["ts"][j])
        where = f"at row {j} (ts={ts}, symbol={int(cols['symbol'][j])})"
        if code == BAD_SYMBOL:
            return DataError(
                f"Portfolio: symbol code {int(cols['symbol'][j])} {where} is not in "
                f"0..{len(self.symbols) - 1}; map symbols to codes in the order of `symbols`"
            )
        if code == BAD_ORDER:
            before = int(cols["ts"][j - 1]) if j else last
            return DataError(
                f"Portfolio: rows must be strictly increasing in (ts, symbol), got {where} "
                f"after ts={before}; sort by (ts, symbol) and drop duplicate bars"
            )
        if code == BAD_PRICE:
            vals = {c: float(cols[c][j]) for c in ("open", "high", "low", "close")}
            return DataError(
                f"Portfolio: prices must be finite and > 0, got {vals} {where}; validate or "
                "repair the feed before the strategy"
            )
        if code == BAD_RANGE:
            vals = {c: float(cols[c][j]) for c in ("open", "high", "low", "close")}
            return DataError(
                f"Portfolio: a bar needs low <= open, close <= high, got {vals} {where}; "
                "repair the feed"
            )
        return DataError(
            f"Portfolio: volume must be finite and >= 0 with a volume limit or volume "
            f"slippage, got {cols['volume'][j]!r} {where}"
        )

    def finish(self, state: State) -> Events:
        """Orders still working at the end: one row each, status ACCEPTED or PARTIALLY_FILLED."""
        B = self.book(state)
        oi = B[6]
        slots = [
            int(x) for x in np.flatnonzero((oi[:, ob.OI_STATUS] == 2) | (oi[:, ob.OI_STATUS] == 7))
        ]
        slots.sort(key=lambda x: int(oi[x, ob.OI_ID]))
        E = new_event_buffers(len(slots) + 1)
        for slot in slots:
            record_order_row(B, E, slot)
        events = event_tables(E)
        empty = empty_events(PORTFOLIO_EVENT_COLUMNS)
        return {t: events["orders"] if t == "orders" else empty[t] for t in empty}


__all__ = [
    "BookRows",
    "BrokerSpec",
    "PortfolioKernel",
    "PortfolioSpec",
    "StrategySpec",
    "begin_row",
    "cancel_order",
    "check_row",
    "close_position",
    "decide_pulse",
    "end_row",
    "room",
    "submit",
]

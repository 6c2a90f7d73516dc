"""The order book of the portfolio kernel: layouts, life cycle, accounts, intents.

The kernel's state is a handful of numpy arrays (so any engine can hold it);
the numba code reaches them through three tuples:

- ``B`` (book): ``acct[K, AC_N]``, ``pos[K, N]``, ``symf[N, SF_N]``,
  ``symi[N, SI_N]``, ``gi[G_N]``, ``gf[GF_N]``, ``oi[C, OI_N]``, ``of[C, OF_N]``,
  ``li[L, LI_N]``, ``lf[L, LF_N]``, ``lht[K, N, 2]``;
- ``P`` (parameters): ``sp[K, SP_N]``, ``ssym[K, N]``, ``bp[BP_N]``, fee
  params and tiers, slippage params, ``inst[N, IN_N]``, the transition matrix;
- ``E`` (events of the current step): buffers of the four tables, one row
  per event (``[capacity, fields]``), and their row counts.

Orders live in fixed-capacity slot arrays (a free list links the unused
slots; the Python wrapper grows them by reallocation when a row might not fit).
The working orders of a symbol form a doubly linked list in creation (= id)
order, so matching a bar touches only that symbol's orders. Every status change
goes through :func:`set_status`, which checks the transition matrix built from
``events.ORDER_TRANSITIONS`` and records the change; an illegal one sets an
error code that the wrapper raises as :class:`~streambt.sim.events.OrderStateError`.

Also here, because they need nothing but the book: the account views
(equity, gross exposure, buying power, the compliance room), cancels, and the
strategy-facing intents (:func:`submit`, :func:`close_position`,
:func:`cancel_order`) that pulse decisions and event-style strategies share.
The fill rules are in :mod:`streambt.sim.fills`, the row step in
:mod:`streambt.sim.portfolio`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import numpy as np

from streambt.kernels import _jit
from streambt.kernels.base import Events
from streambt.sim.events import (
    NO_TS,
    PORTFOLIO_EVENT_COLUMNS,
    OrderRole,
    OrderStatus,
    OrderType,
    RejectReason,
    TimeInForce,
)
from streambt.sim.instruments import (
    IN_LOT,
    IN_TICK,
    PRICE_LIMIT,
    PRICE_STOP,
    round_lot,
    round_price,
)

F = TypeVar("F", bound=Callable[..., Any])


def jit(func: F) -> F:
    """``numba.njit(cache=True)`` without reference counting, or ``func`` with the JIT disabled.

    The book functions pass ~30 arrays around in the tuples ``B``, ``P``, ``E``.
    With numba's reference counting (NRT) on, every jitted function that
    forwards them to another call increfs and decrefs all of them on entry and
    exit, about 0.6 us per call, which made a bar cost microseconds. None of these
    functions allocate: the arrays are owned by the Python wrapper, so they are
    compiled with NRT off (they only borrow them). Set ``STREAMBT_DISABLE_JIT=1``
    to run the same source as plain Python.
    """
    if _jit.JIT_DISABLED:
        return func
    import numba

    # _nrt is numba's (long-standing, underscored) switch for reference counting
    options: dict[str, Any] = {"cache": True, "nogil": True, "_nrt": False}
    return cast(F, numba.njit(**options)(func))


def jit_inline(func: F) -> F:
    """:func:`jit`, and inlined into jitted callers (numba IR inlining).

    For the small functions every bar runs (the row step, the empty-book
    checks): a call passes the ``B``/``P``/``E`` tuples by value, ~230 machine
    words, which costs more than the work when there is nothing to do.
    """
    if _jit.JIT_DISABLED:
        return func
    import numba

    options: dict[str, Any] = {"cache": True, "nogil": True, "_nrt": False, "inline": "always"}
    return cast(F, numba.njit(**options)(func))


# --- status codes as plain ints for numba ------------------------------------------
NEW = int(OrderStatus.NEW)
ACCEPTED = int(OrderStatus.ACCEPTED)
FILLED = int(OrderStatus.FILLED)
CANCELLED = int(OrderStatus.CANCELLED)
REJECTED = int(OrderStatus.REJECTED)
EXPIRED = int(OrderStatus.EXPIRED)
PARTIAL = int(OrderStatus.PARTIALLY_FILLED)
MARKET = int(OrderType.MARKET)
LIMIT = int(OrderType.LIMIT)
STOP = int(OrderType.STOP)
STOP_LIMIT = int(OrderType.STOP_LIMIT)
_NO_TS = NO_TS

ROLE_SIGNAL = int(OrderRole.SIGNAL)
ROLE_SL = int(OrderRole.STOP_LOSS)
ROLE_TP = int(OrderRole.TAKE_PROFIT)
ROLE_TRAIL = int(OrderRole.TRAILING_STOP)
ROLE_LIQUIDATION = int(OrderRole.LIQUIDATION)
GTC = int(TimeInForce.GTC)
DAY = int(TimeInForce.DAY)
R_EXIT_SIGNAL = int(RejectReason.EXIT_SIGNAL)
R_USER_CANCEL = int(RejectReason.USER_CANCEL)
# cancel_orders selections
SEL_LEGS, SEL_ENTRIES, SEL_ALL, SEL_REDUCE = 1, 2, 3, 4

# reduce-only kinds (OI_REDUCE): 0 = opens/adds exposure, 1 = only reduces the position
REDUCE_NO, REDUCE_ONLY = 0, 1

# --- account [K, AC_N] ---------------------------------------------------------------
AC_CASH, AC_EQUITY, AC_LIQUIDATING, AC_GROSS = range(4)
AC_N = 4
# --- per symbol [N, SF_N] / [N, SI_N] ------------------------------------------------
SF_MARK, SF_VOL_LEFT = range(2)
SF_N = 2
# SI_FINALS: final, not swept; SI_KINDS: the K_* bits of the orders in the symbol's list
SI_LAST_TS, SI_BARS, SI_HEAD, SI_TAIL, SI_FINALS, SI_KINDS = range(6)
SI_N = 6
# Kinds of orders a bar's passes look for: a pass whose kind no listed order has is skipped
# (most bars hold only a bracket's two GTC legs). Set when an order is linked, recomputed
# when final orders are swept out, so a bit may be stale-set but never stale-clear.
K_DAY, K_MARKET, K_TRAIL = 1, 2, 4
# --- globals gi[G_N] / gf[GF_N] --------------------------------------------------------
(
    G_NEXT_ORDER,
    G_NEXT_TRADE,
    G_NEXT_OCO,
    G_LAST_TS,
    G_LAST_SYM,
    G_NTS,  # distinct timestamps completed (the portfolio's bar count)
    G_FREE_ORDER,
    G_FREE_LOT,
    G_ORDERS_USED,
    G_LOTS_USED,
    G_ERR,
    G_ERR_ORDER,
    G_ERR_FROM,
    G_ERR_TO,
) = range(14)
G_N = 14
GF_TRADED = 0  # value traded by the whole portfolio (fee tiers)
GF_N = 1
ERR_TRANSITION = 1

# --- orders: the first OI_ROW ints / OF_ROW floats are the orders table's columns ------
(
    OI_ID,
    OI_STRAT,
    OI_SYM,
    OI_TYPE,
    OI_TIF,
    OI_SIDE,
    OI_ROLE,
    OI_STATUS,
    OI_REASON,
    OI_CREATED_TS,
    OI_FINAL_TS,
    OI_PARENT,
    OI_OCO,
    OI_ACTIVE_TS,  # may match bars with ts >= this
    OI_REDUCE,
    OI_SIZED,  # 0: an entry sized by the strategy's sizer at its first fill
    OI_TRIGGER_TS,  # a stop-limit's trigger bar; NO_TS before
    OI_NEXT,  # symbol list (or free list) link
    OI_PREV,
    OI_SEEN_TS,  # bar at which its OCO group was last resolved
) = range(20)
OI_N = 20
OI_ROW = 13
(
    OF_REQ,  # requested size (table "size")
    OF_FILLED,
    OF_LIMIT,
    OF_STOP,
    OF_NOTIONAL,  # sum of fill units * price (avg price = notional / filled)
    OF_COMM,
    OF_SIZE,  # effective size: after lot rounding / compliance scaling / OCO reduction
    OF_STRENGTH,
    OF_ATR,
    OF_SL,  # bracket fractions of an entry (NaN = none)
    OF_TP,
    OF_TRAIL,  # trail fraction (entries and trailing legs)
    OF_TRAIL_BEST,  # best price since the entry (trailing legs)
) = range(13)
OF_N = 13
OF_ROW = 6

# --- parameters: per strategy sp[K, SP_N], broker bp[BP_N] -------------------------------
(
    SP_SIZER,
    SP_AMOUNT,
    SP_LONG_ONLY,
    SP_SL,
    SP_TP,
    SP_TRAIL,
    SP_ENTRY_TYPE,
    SP_OFFSET,
    SP_TIF,
    SP_WEIGHT,
    SP_EVENT,  # 1: an event-style strategy (its signal column is not read)
) = range(11)
SP_N = 11
(
    BP_PRIORITY,  # 0: stop first, 1: target first
    BP_VOLUME_SHARE,  # NaN: no volume limit
    BP_LEVERAGE,  # 1 without margin
    BP_MAINTENANCE,  # NaN: no maintenance check
    BP_STOPS_SAME_BAR,  # 1: bracket legs may fill on their entry's bar (after its open)
    BP_MAX_GROSS,  # inf: no limit
    BP_MAX_SYMBOL_NOTIONAL,
    BP_REBALANCE,  # every N timestamps; 0 = never
    BP_CASH,
) = range(9)
BP_N = 9

# --- lots (FIFO, per strategy x symbol) ---------------------------------------------------
LI_STRAT, LI_SYM, LI_SIDE, LI_ENTRY_TS, LI_ENTRY_BAR, LI_ORDER, LI_NEXT = range(7)
LI_N = 7
LF_SIZE, LF_PRICE, LF_FEE, LF_HI, LF_LO = range(5)
LF_N = 5

# --- event buffers: E = (eoi, eof, eei, efi, eff, eti, etf, en) -------------------------------
EN_ORDERS, EN_ORDER_EVENTS, EN_FILLS, EN_TRADES = range(4)
FILL_INTS = ("order_id", "ts", "strategy", "symbol", "side", "liquidity")
FILL_FLOATS = ("size", "price", "commission")
TRADE_INTS = (
    "trade_id",
    "strategy",
    "symbol",
    "side",
    "entry_ts",
    "exit_ts",
    "bars_held",
    "exit_reason",
    "entry_order_id",
    "exit_order_id",
)
TRADE_FLOATS = ("size", "entry_price", "exit_price", "pnl", "commission", "mae", "mfe")
ORDER_INTS = (
    "order_id",
    "strategy",
    "symbol",
    "type",
    "tif",
    "side",
    "role",
    "status",
    "reason",
    "created_ts",
    "final_ts",
    "parent_id",
    "oco_group",
)
ORDER_FLOATS = ("size", "filled", "limit_price", "stop_price", "avg_price", "commission")
ORDER_EVENT_INTS = ("order_id", "ts", "status", "reason")


#: (fields, int?) of the event buffers E[0..6]
EVENT_SHAPES = (
    (OI_ROW, True),
    (OF_ROW, False),
    (4, True),
    (6, True),
    (3, False),
    (10, True),
    (7, False),
)


def _event_layout() -> dict[str, tuple[int, int, tuple[str, ...], tuple[str, ...]]]:
    return {
        "orders": (0, 1, ORDER_INTS, ORDER_FLOATS),
        "order_events": (2, -1, ORDER_EVENT_INTS, ()),
        "fills": (3, 4, FILL_INTS, FILL_FLOATS),
        "trades": (5, 6, TRADE_INTS, TRADE_FLOATS),
    }


def new_event_buffers(cap: int) -> tuple[np.ndarray, ...]:
    """Empty event buffers with room for ``cap`` rows per table.

    An event's fields are one row of its buffer, so the memory a step touches
    is what it records (a buffer per field would touch a page of each field's
    row however few events there are).
    """
    bufs = [np.empty((cap, rows), np.int64 if ints else np.float64) for rows, ints in EVENT_SHAPES]
    return (*bufs, np.zeros(4, np.int64))


def event_capacity(E: tuple[np.ndarray, ...]) -> int:
    """Rows each event buffer has room for."""
    return int(E[0].shape[0])


def grow_event_buffers(E: tuple[np.ndarray, ...], cap: int) -> tuple[np.ndarray, ...]:
    out = new_event_buffers(cap)
    n = int(E[7].max())
    for a, b in zip(E[:7], out[:7], strict=True):
        b[:n] = a[:n]
    out[7][:] = E[7]
    return out


def event_tables(
    E: tuple[np.ndarray, ...], start: Sequence[int] | np.ndarray = (0, 0, 0, 0), copy: bool = True
) -> Events:
    """The event buffers' rows from ``start`` (per table) as columns of the declared dtypes.

    With ``copy=False`` every column is a (strided) view of the buffers in their
    storage type (int64 or float64), for a caller that converts them itself
    (:func:`~streambt.backends.event_tables.portfolio_event_table` does).
    """
    layout = _event_layout()
    out: Events = {}
    for t, (table, (bi, bf, ints, floats)) in enumerate(layout.items()):
        a, b = int(start[t]), int(E[7][t])
        cols = {name: E[bi][a:b, i] for i, name in enumerate(ints)}
        if bf >= 0:
            cols |= {name: E[bf][a:b, i] for i, name in enumerate(floats)}
        out[table] = {
            name: cols[name].astype(dtype) if copy else cols[name]
            for name, dtype in PORTFOLIO_EVENT_COLUMNS[table].items()
        }
    return out


@jit_inline
def is_working(status: int) -> bool:
    return status in (ACCEPTED, PARTIAL)


@jit_inline
def is_final(status: int) -> bool:
    return status in (FILLED, CANCELLED, REJECTED, EXPIRED)


@jit_inline
def record_order_event(E, oid, ts, status, reason):
    eei, en = E[2], E[7]
    n = en[EN_ORDER_EVENTS]
    eei[n, 0] = oid
    eei[n, 1] = ts
    eei[n, 2] = status
    eei[n, 3] = reason
    en[EN_ORDER_EVENTS] = n + 1


@jit_inline
def record_order_row(B, E, slot):
    """Write the order's row of the orders table (final state, or working from finish)."""
    oi, of = B[6], B[7]
    eoi, eof, en = E[0], E[1], E[7]
    n = en[EN_ORDERS]
    for c in range(OI_ROW):
        eoi[n, c] = oi[slot, c]
    eof[n, 0] = of[slot, OF_REQ]
    eof[n, 1] = of[slot, OF_FILLED]
    eof[n, 2] = of[slot, OF_LIMIT]
    eof[n, 3] = of[slot, OF_STOP]
    filled = of[slot, OF_FILLED]
    eof[n, 4] = of[slot, OF_NOTIONAL] / filled if filled > 0.0 else np.nan
    eof[n, 5] = of[slot, OF_COMM]
    en[EN_ORDERS] = n + 1


@jit_inline
def set_status(B, P, E, slot, new, ts, reason):
    """Move an order to ``new`` (checked against the transition matrix) and record it.

    ``reason`` < 0 keeps the order's current reason. Returns False (and sets
    the error slots) on an illegal transition.
    """
    gi, oi = B[4], B[6]
    trans = P[7]
    old = oi[slot, OI_STATUS]
    if trans[old, new] == 0:
        if gi[G_ERR] == 0:
            gi[G_ERR] = ERR_TRANSITION
            gi[G_ERR_ORDER] = oi[slot, OI_ID]
            gi[G_ERR_FROM] = old
            gi[G_ERR_TO] = new
        return False
    oi[slot, OI_STATUS] = new
    if reason >= 0:
        oi[slot, OI_REASON] = reason
    record_order_event(E, oi[slot, OI_ID], ts, new, oi[slot, OI_REASON])
    if is_final(new):
        oi[slot, OI_FINAL_TS] = ts
        record_order_row(B, E, slot)
        B[3][oi[slot, OI_SYM], SI_FINALS] += 1
    return True


@jit_inline
def order_kinds(oi, slot):
    """The K_* bits of the order in ``slot``."""
    kinds = 0
    if oi[slot, OI_TIF] == DAY:
        kinds |= K_DAY
    if oi[slot, OI_TYPE] == MARKET:
        kinds |= K_MARKET
    if oi[slot, OI_ROLE] == ROLE_TRAIL:
        kinds |= K_TRAIL
    return kinds


@jit_inline
def _link(B, slot, s):
    symi, oi = B[3], B[6]
    symi[s, SI_KINDS] |= order_kinds(oi, slot)
    tail = symi[s, SI_TAIL]
    oi[slot, OI_PREV] = tail
    oi[slot, OI_NEXT] = -1
    if tail >= 0:
        oi[tail, OI_NEXT] = slot
    else:
        symi[s, SI_HEAD] = slot
    symi[s, SI_TAIL] = slot


@jit_inline
def sweep(B, s):
    """Unlink the final orders of symbol ``s``, return their slots to the free list, and
    recompute the kinds of the orders left."""
    symi, gi, oi = B[3], B[4], B[6]
    if symi[s, SI_FINALS] == 0:  # most bars: nothing to unlink, no walk over the orders
        return
    symi[s, SI_FINALS] = 0
    kinds = 0
    slot = symi[s, SI_HEAD]
    while slot >= 0:
        nxt = oi[slot, OI_NEXT]
        if not is_final(oi[slot, OI_STATUS]):
            kinds |= order_kinds(oi, slot)
        else:
            prev = oi[slot, OI_PREV]
            if prev >= 0:
                oi[prev, OI_NEXT] = nxt
            else:
                symi[s, SI_HEAD] = nxt
            if nxt >= 0:
                oi[nxt, OI_PREV] = prev
            else:
                symi[s, SI_TAIL] = prev
            oi[slot, OI_STATUS] = 0
            oi[slot, OI_NEXT] = gi[G_FREE_ORDER]
            gi[G_FREE_ORDER] = slot
            gi[G_ORDERS_USED] -= 1
        slot = nxt
    symi[s, SI_KINDS] = kinds


@jit_inline
def new_order(
    B, P, E, k, s, side, otype, tif, size, limit, stop, role, reduce, parent, oco, ts, active
):
    """Create an order (NEW), run the submission checks, and ACCEPT or REJECT it.

    ``size`` NaN = sized by the strategy's sizer at its first fill. Sizes round
    down to lots (0 lots: REJECTED, LOT_SIZE); limit/stop prices round to ticks
    passively (a non-positive result: REJECTED, TICK_SIZE). The order may match
    bars with ts >= ``active``. Its strategy fields (strength, ATR, bracket
    fractions) start as NaN; the caller sets them. Returns the slot.
    """
    gi, oi, of = B[4], B[6], B[7]
    inst = P[6]
    slot = gi[G_FREE_ORDER]
    gi[G_FREE_ORDER] = oi[slot, OI_NEXT]
    gi[G_ORDERS_USED] += 1
    oid = gi[G_NEXT_ORDER]
    gi[G_NEXT_ORDER] = oid + 1
    oi[slot, OI_ID] = oid
    oi[slot, OI_STRAT] = k
    oi[slot, OI_SYM] = s
    oi[slot, OI_TYPE] = otype
    oi[slot, OI_TIF] = tif
    oi[slot, OI_SIDE] = side
    oi[slot, OI_ROLE] = role
    oi[slot, OI_STATUS] = NEW
    oi[slot, OI_REASON] = 0
    oi[slot, OI_CREATED_TS] = ts
    oi[slot, OI_FINAL_TS] = _NO_TS
    oi[slot, OI_PARENT] = parent
    oi[slot, OI_OCO] = oco
    oi[slot, OI_ACTIVE_TS] = active
    oi[slot, OI_REDUCE] = reduce
    oi[slot, OI_SIZED] = 0 if np.isnan(size) else 1
    oi[slot, OI_TRIGGER_TS] = _NO_TS
    oi[slot, OI_SEEN_TS] = _NO_TS
    lot = inst[s, IN_LOT]
    tick = inst[s, IN_TICK]
    of[slot, OF_REQ] = size
    of[slot, OF_FILLED] = 0.0
    of[slot, OF_NOTIONAL] = 0.0
    of[slot, OF_COMM] = 0.0
    for c in range(OF_STRENGTH, OF_N):
        of[slot, c] = np.nan
    _link(B, slot, s)
    record_order_event(E, oid, ts, NEW, 0)
    reason = 0
    units = size
    if oi[slot, OI_SIZED] == 1:
        units = round_lot(size, lot)
        if units <= 0.0:
            reason = 2  # LOT_SIZE
    of[slot, OF_SIZE] = units
    lim = np.nan
    stp = np.nan
    if not np.isnan(limit):
        lim = round_price(limit, tick, side, PRICE_LIMIT)
        if not lim > 0.0:
            reason = 3  # TICK_SIZE
    if not np.isnan(stop):
        stp = round_price(stop, tick, side, PRICE_STOP)
        if not stp > 0.0:
            reason = 3
    of[slot, OF_LIMIT] = lim
    of[slot, OF_STOP] = stp
    if reason != 0:
        set_status(B, P, E, slot, REJECTED, ts, reason)
    else:
        set_status(B, P, E, slot, ACCEPTED, ts, 0)
    return slot


@jit
def find_order(B, oid):
    """Slot of the order with id ``oid`` still in the book, else -1."""
    oi = B[6]
    for slot in range(oi.shape[0]):
        if oi[slot, OI_STATUS] != 0 and oi[slot, OI_ID] == oid:
            return slot
    return -1


# --- account views ---------------------------------------------------------------------


@jit_inline
def equity(B, k):
    """Cash plus positions at the marks (the last price seen of each symbol)."""
    acct, pos, symf = B[0], B[1], B[2]
    value = 0.0
    for s in range(pos.shape[1]):
        p = pos[k, s]
        if p != 0.0:
            value += p * symf[s, SF_MARK]
    return acct[k, AC_CASH] + value


@jit_inline
def revalue(B, k):
    """Store strategy k's equity and gross exposure at the marks (one pass over the symbols)."""
    acct, pos, symf = B[0], B[1], B[2]
    value = 0.0
    exposure = 0.0
    for s in range(pos.shape[1]):
        p = pos[k, s]
        if p != 0.0:
            value += p * symf[s, SF_MARK]
            exposure += abs(p) * symf[s, SF_MARK]
    acct[k, AC_EQUITY] = acct[k, AC_CASH] + value
    acct[k, AC_GROSS] = exposure


@jit_inline
def gross(B, k):
    pos, symf = B[1], B[2]
    value = 0.0
    for s in range(pos.shape[1]):
        p = pos[k, s]
        if p != 0.0:
            value += abs(p) * symf[s, SF_MARK]
    return value


@jit_inline
def buying_power(B, P, k):
    """``leverage x equity - gross exposure``: the most a new position may cost.

    Without margin (leverage 1) this is ``cash - 2 x short value``: longs never
    take cash below 0 and gross exposure never exceeds equity at an entry. It is
    computed in that form, which is exact in floats (``(cash + longs) - longs``
    is not), so a long entry's cost <= buying power keeps cash >= 0 to the bit.
    """
    lev = P[2][BP_LEVERAGE]
    if lev == 1.0:
        pos, symf = B[1], B[2]
        shorts = 0.0
        for s in range(pos.shape[1]):
            p = pos[k, s]
            if p < 0.0:
                shorts -= p * symf[s, SF_MARK]
        return B[0][k, AC_CASH] - 2.0 * shorts
    return lev * equity(B, k) - gross(B, k)


@jit_inline
def compliance_room(B, P, s, price):
    """Units the portfolio limits still allow to add on symbol ``s`` at ``price`` (inf = no limit)."""
    pos, symf = B[1], B[2]
    bp = P[2]
    room = np.inf
    max_gross = bp[BP_MAX_GROSS]
    if max_gross < np.inf:
        total_equity = 0.0
        total_gross = 0.0
        for k in range(pos.shape[0]):
            total_equity += equity(B, k)
            total_gross += gross(B, k)
        room = min(room, (max_gross * total_equity - total_gross) / price)
    max_sym = bp[BP_MAX_SYMBOL_NOTIONAL]
    if max_sym < np.inf:
        held = 0.0
        for k in range(pos.shape[0]):
            held += abs(pos[k, s])
        room = min(room, (max_sym - held * symf[s, SF_MARK]) / price)
    return room


# --- cancels and strategy intents -------------------------------------------------------------


@jit_inline
def refuse(B, P, E, slot, reason, ts):
    """REJECTED before any fill, CANCELLED after a partial one."""
    status = REJECTED if B[6][slot, OI_STATUS] == ACCEPTED else CANCELLED
    set_status(B, P, E, slot, status, ts, reason)


@jit
def cancel_orders(B, P, E, k, s, select, reason, ts, keep):
    """Cancel strategy ``k``'s working orders on ``s`` chosen by ``select`` (a ``SEL_*``)."""
    symi, oi = B[3], B[6]
    slot = symi[s, SI_HEAD]
    while slot >= 0:
        if slot != keep and oi[slot, OI_STRAT] == k and is_working(oi[slot, OI_STATUS]):
            role = oi[slot, OI_ROLE]
            leg = role in (ROLE_SL, ROLE_TP, ROLE_TRAIL)
            hit = select == SEL_ALL
            if select == SEL_LEGS:
                hit = leg
            elif select == SEL_ENTRIES:
                hit = role == ROLE_SIGNAL and oi[slot, OI_REDUCE] != REDUCE_ONLY
            elif select == SEL_REDUCE:
                hit = oi[slot, OI_REDUCE] == REDUCE_ONLY
            if hit:
                set_status(B, P, E, slot, CANCELLED, ts, reason)
        slot = oi[slot, OI_NEXT]


@jit_inline
def submit(B, P, E, k, s, side, otype, tif, size, limit, stop, ts, strength, atr, sl, tp, trail):
    """A strategy's order intent at the close of ``ts`` (it can fill from the next bar); its id."""
    slot = new_order(
        B, P, E, k, s, side, otype, tif, size, limit, stop, ROLE_SIGNAL, 0, 0, 0, ts, ts + 1
    )
    of = B[7]
    of[slot, OF_STRENGTH] = strength
    of[slot, OF_ATR] = atr
    of[slot, OF_SL] = sl
    of[slot, OF_TP] = tp
    of[slot, OF_TRAIL] = trail
    return B[6][slot, OI_ID]


@jit
def close_order(B, P, E, k, s, size, role, ts):
    """A reduce-only market order of ``size`` against strategy ``k``'s position; its slot."""
    side = -1 if B[1][k, s] > 0.0 else 1
    nan = np.nan
    return new_order(
        B, P, E, k, s, side, MARKET, GTC, size, nan, nan, role, REDUCE_ONLY, 0, 0, ts, ts + 1
    )


@jit
def close_position(B, P, E, k, s, ts):
    """Exit: cancel the position's legs (EXIT_SIGNAL) and close it at the next open; 0 if flat."""
    pos, symi, oi = B[1], B[3], B[6]
    held = pos[k, s]
    if held == 0.0:
        return 0
    cancel_orders(B, P, E, k, s, SEL_LEGS, R_EXIT_SIGNAL, ts, -1)
    side = -1 if held > 0.0 else 1
    slot = symi[s, SI_HEAD]
    while slot >= 0:
        if (
            oi[slot, OI_STRAT] == k
            and is_working(oi[slot, OI_STATUS])
            and oi[slot, OI_ROLE] == ROLE_SIGNAL
            and oi[slot, OI_REDUCE] == REDUCE_ONLY
            and oi[slot, OI_SIDE] == side
        ):
            return oi[slot, OI_ID]  # already closing
        slot = oi[slot, OI_NEXT]
    return oi[close_order(B, P, E, k, s, abs(held), ROLE_SIGNAL, ts), OI_ID]


@jit
def cancel_order(B, P, E, oid, ts):
    """Cancel a working order by id (USER_CANCEL); False if it is not working."""
    slot = find_order(B, oid)
    if slot < 0 or not is_working(B[6][slot, OI_STATUS]):
        return False
    return set_status(B, P, E, slot, CANCELLED, ts, R_USER_CANCEL)


@jit_inline
def room(B, P, E):
    """1 (grow the book) or 2 (grow the event buffers) if the next row might not fit, else 0.

    A row creates at most ``K x (N + 8)`` orders (a pulse decision makes up to a
    close, an entry and three legs per strategy; a margin call one close per
    symbol), finishes at most the orders and lots in the book plus those, and
    each order records at most four status changes in one row.
    """
    pos, gi, oi, li = B[1], B[4], B[6], B[8]
    en = E[7]
    k, n = pos.shape
    bound = k * (n + 8) + 8
    if oi.shape[0] - gi[G_ORDERS_USED] < bound:
        return 1
    if li.shape[0] - gi[G_LOTS_USED] < gi[G_ORDERS_USED] + bound:
        return 1
    need = 4 * (gi[G_ORDERS_USED] + gi[G_LOTS_USED] + bound)
    cap = E[0].shape[0]
    for t in range(4):
        if cap - en[t] < need:
            return 2
    return 0


def grow_orders(
    oi: np.ndarray, of: np.ndarray, gi: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray]:
    """Copies of the order arrays with ``cap`` slots; the new slots join the free list."""
    old = oi.shape[0]
    oi2 = np.zeros((cap, OI_N), dtype=np.int64)
    of2 = np.zeros((cap, OF_N), dtype=np.float64)
    oi2[:old] = oi
    of2[:old] = of
    # new slots in ascending order, then the old free list
    oi2[old:, OI_NEXT] = np.arange(old + 1, cap + 1)
    oi2[cap - 1, OI_NEXT] = gi[G_FREE_ORDER]
    gi[G_FREE_ORDER] = old
    return oi2, of2


def grow_lots(
    li: np.ndarray, lf: np.ndarray, gi: np.ndarray, cap: int
) -> tuple[np.ndarray, np.ndarray]:
    """Copies of the lot arrays with ``cap`` slots; the new slots join the free list."""
    old = li.shape[0]
    li2 = np.zeros((cap, LI_N), dtype=np.int64)
    lf2 = np.zeros((cap, LF_N), dtype=np.float64)
    li2[:old] = li
    lf2[:old] = lf
    li2[old:, LI_NEXT] = np.arange(old + 1, cap + 1)
    li2[cap - 1, LI_NEXT] = gi[G_FREE_LOT]
    gi[G_FREE_LOT] = old
    return li2, lf2

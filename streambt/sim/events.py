"""Schemas and integer codes of the simulator's event tables.

A simulation kernel returns its events as ``{table: {column: array}}`` with
the tables ``orders``, ``fills`` and ``trades``. This module is the one place
that names their columns, their numpy dtypes and the integer codes stored in
them, so every host (DuckDB, Spark, Flink) builds the same Arrow tables.

Integer codes are stored, not strings: they fit numba kernels and engine
state, and :class:`OrderStatus` / :class:`Side` turn them back into names.

Examples
--------
>>> OrderStatus(3).name
'FILLED'
>>> list(FILL_COLUMNS)
['order_id', 'ts', 'side', 'size', 'price', 'commission']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import IntEnum
from typing import Any

import numpy as np

from streambt.errors import StreambtError
from streambt.kernels.base import Events


class OrderStatus(IntEnum):
    """Life-cycle state of an order (the ``status`` column, int8).

    Codes start at 1 so that a zero-filled buffer never reads as a real status.
    """

    NEW = 1
    ACCEPTED = 2
    FILLED = 3
    CANCELLED = 4
    REJECTED = 5
    EXPIRED = 6
    #: some of the size filled, the rest still working (volume-limited fills)
    PARTIALLY_FILLED = 7


class Side(IntEnum):
    """Side of an order or fill (``side`` column, int8)."""

    BUY = 1
    SELL = -1


class TradeSide(IntEnum):
    """Direction of a round trip (``trades.side``, int8)."""

    LONG = 1
    SHORT = -1


class RejectReason(IntEnum):
    """Why an order was rejected, cancelled, expired or scaled (``orders.reason``, int8).

    ``NONE`` for an order filled as asked. The v1 kernel emits 0 and 1 only;
    the portfolio kernel (``docs/broker.md``) uses all of them.
    """

    NONE = 0
    INSUFFICIENT_CASH = 1
    LOT_SIZE = 2  # the size rounds down to 0 lots
    TICK_SIZE = 3  # a limit/stop price rounds to a non-positive tick
    MIN_NOTIONAL = 4
    MAX_NOTIONAL = 5
    MAX_POSITION = 6
    COMPLIANCE = 7  # a portfolio limit leaves 0 lots
    OCO = 8  # cancelled: another leg of its OCO group filled
    EXIT_SIGNAL = 9  # cancelled: the strategy exits the position
    EXPIRED_DAY = 10  # a DAY order reached the end of its UTC day
    USER_CANCEL = 11  # ctx.cancel(order_id)
    REPLACED = 12  # a working entry cancelled by a newer signal
    POSITION_CLOSED = 13  # a reduce-only order found nothing left to close
    ZERO_SIZE = 14  # the sizer gave 0 units (e.g. NaN ATR)
    MARGIN_CALL = 15  # cancelled by a maintenance-margin liquidation
    COMPLIANCE_SCALED = 16  # FILLED, but scaled down by a portfolio limit


class OrderType(IntEnum):
    """``orders.type`` (int8)."""

    MARKET = 1
    LIMIT = 2
    STOP = 3
    STOP_LIMIT = 4


class TimeInForce(IntEnum):
    """``orders.tif`` (int8): GTC stays until filled or cancelled; DAY expires (docs/broker.md)."""

    GTC = 1
    DAY = 2


class Liquidity(IntEnum):
    """``fills.liquidity`` (int8): a resting limit adds liquidity (maker), the rest take it."""

    MAKER = 1
    TAKER = 2


class OrderRole(IntEnum):
    """Who made an order (``orders.role``) and so why a trade closed (``trades.exit_reason``)."""

    SIGNAL = 1  # the strategy: a pulse decision or an event-style intent
    STOP_LOSS = 2
    TAKE_PROFIT = 3
    TRAILING_STOP = 4
    LIQUIDATION = 5  # the broker, on a maintenance-margin breach


#: ``trades.exit_reason`` holds the role of the order whose fill closed the trade
ExitReason = OrderRole


class OrderStateError(StreambtError):
    """An order was asked to change status against :data:`ORDER_TRANSITIONS` (a kernel bug)."""


#: allowed status changes; a broker applying events checks against this table
ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.ACCEPTED, OrderStatus.REJECTED}),
    OrderStatus.ACCEPTED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.REJECTED,
            OrderStatus.EXPIRED,
        }
    ),
    # each further partial fill is recorded as PARTIALLY_FILLED -> PARTIALLY_FILLED
    OrderStatus.PARTIALLY_FILLED: frozenset(
        {
            OrderStatus.PARTIALLY_FILLED,
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}

#: statuses after which an order never changes again
FINAL_STATUSES: frozenset[OrderStatus] = frozenset(
    s for s, allowed in ORDER_TRANSITIONS.items() if not allowed
)


def transition_matrix() -> np.ndarray:
    """:data:`ORDER_TRANSITIONS` as a ``uint8`` matrix ``m[from, to]`` for the numba kernels.

    Row and column 0 (no status, a free book slot) are all zeros.

    Examples
    --------
    >>> m = transition_matrix()
    >>> int(m[OrderStatus.NEW, OrderStatus.ACCEPTED]), int(m[OrderStatus.FILLED, OrderStatus.NEW])
    (1, 0)
    """
    size = max(OrderStatus) + 1
    m = np.zeros((size, size), dtype=np.uint8)
    for src, allowed in ORDER_TRANSITIONS.items():
        for dst in allowed:
            m[src, dst] = 1
    return m


#: ``filled_ts`` of an order that was never filled. It is int64's minimum, which
#: numpy reads as NaT once viewed as ``datetime64[us]``; hosts map it to null.
NO_TS: int = int(np.iinfo(np.int64).min)

_I8 = np.dtype(np.int8)
_I64 = np.dtype(np.int64)
_F64 = np.dtype(np.float64)

#: one row per order, emitted when the order reaches its final state
ORDER_COLUMNS: dict[str, np.dtype[Any]] = {
    "order_id": _I64,
    "created_ts": _I64,
    "side": _I8,
    "size": _F64,
    "status": _I8,
    "reason": _I8,
    "filled_ts": _I64,
    "fill_price": _F64,
    "commission": _F64,
}

#: one row per execution
FILL_COLUMNS: dict[str, np.dtype[Any]] = {
    "order_id": _I64,
    "ts": _I64,
    "side": _I8,
    "size": _F64,
    "price": _F64,
    "commission": _F64,
}

#: one row per closed round trip
TRADE_COLUMNS: dict[str, np.dtype[Any]] = {
    "trade_id": _I64,
    "side": _I8,
    "size": _F64,
    "entry_ts": _I64,
    "entry_price": _F64,
    "exit_ts": _I64,
    "exit_price": _F64,
    "pnl": _F64,
    "commission": _F64,
    "entry_order_id": _I64,
    "exit_order_id": _I64,
    "bars_held": _I64,
}

EVENT_COLUMNS: dict[str, dict[str, np.dtype[Any]]] = {
    "orders": ORDER_COLUMNS,
    "fills": FILL_COLUMNS,
    "trades": TRADE_COLUMNS,
}

#: columns holding int64 microseconds since the epoch, UTC
TS_COLUMNS: frozenset[str] = frozenset(
    {"created_ts", "filled_ts", "final_ts", "ts", "entry_ts", "exit_ts"}
)

# --- the portfolio kernel's tables (docs/broker.md) ---------------------------------

#: one row per order when it reaches a final state (and from ``finish`` for working ones)
PORTFOLIO_ORDER_COLUMNS: dict[str, np.dtype[Any]] = {
    "order_id": _I64,
    "strategy": _I64,  # strategy code: index in the kernel's ``strategies``
    "symbol": _I64,  # symbol code: index in the kernel's ``symbols``
    "type": _I8,  # OrderType
    "tif": _I8,  # TimeInForce
    "side": _I8,  # Side
    "role": _I8,  # OrderRole
    "size": _F64,  # requested units (sized at the fill for sizer entries; NaN until then)
    "filled": _F64,  # units filled
    "limit_price": _F64,  # NaN if none
    "stop_price": _F64,  # NaN if none; a trailing stop's last level
    "status": _I8,  # OrderStatus
    "reason": _I8,  # RejectReason
    "created_ts": _I64,
    "final_ts": _I64,  # NO_TS while working
    "avg_price": _F64,  # NaN if nothing filled
    "commission": _F64,
    "parent_id": _I64,  # the entry of a stop-loss / take-profit / trailing leg, else 0
    "oco_group": _I64,  # shared by the legs of one bracket, else 0
}

#: every status change: NEW and ACCEPTED/REJECTED at creation, then the rest
PORTFOLIO_ORDER_EVENT_COLUMNS: dict[str, np.dtype[Any]] = {
    "order_id": _I64,
    "ts": _I64,
    "status": _I8,
    "reason": _I8,
}

#: one row per execution
PORTFOLIO_FILL_COLUMNS: dict[str, np.dtype[Any]] = {
    "order_id": _I64,
    "ts": _I64,
    "strategy": _I64,
    "symbol": _I64,
    "side": _I8,
    "size": _F64,
    "price": _F64,  # after slippage
    "commission": _F64,
    "liquidity": _I8,  # Liquidity
}

#: one row per closed (part of a) round trip, FIFO
PORTFOLIO_TRADE_COLUMNS: dict[str, np.dtype[Any]] = {
    "trade_id": _I64,
    "strategy": _I64,
    "symbol": _I64,
    "side": _I8,  # TradeSide
    "size": _F64,
    "entry_ts": _I64,
    "entry_price": _F64,
    "exit_ts": _I64,
    "exit_price": _F64,
    "pnl": _F64,  # net of the entry and exit commissions (pro rata)
    "commission": _F64,
    "bars_held": _I64,  # bars of the symbol from the entry fill to the exit fill
    "mae": _F64,  # max adverse excursion, price units, >= 0
    "mfe": _F64,  # max favourable excursion, price units, >= 0
    "exit_reason": _I8,  # ExitReason (the closing order's role)
    "entry_order_id": _I64,
    "exit_order_id": _I64,
}

PORTFOLIO_EVENT_COLUMNS: dict[str, dict[str, np.dtype[Any]]] = {
    "orders": PORTFOLIO_ORDER_COLUMNS,
    "order_events": PORTFOLIO_ORDER_EVENT_COLUMNS,
    "fills": PORTFOLIO_FILL_COLUMNS,
    "trades": PORTFOLIO_TRADE_COLUMNS,
}


def empty_events(schema: Mapping[str, Mapping[str, np.dtype[Any]]] = EVENT_COLUMNS) -> Events:
    """All event tables of ``schema`` with zero rows and their declared dtypes."""
    return {
        table: {name: np.empty(0, dtype) for name, dtype in cols.items()}
        for table, cols in schema.items()
    }


def concat_events(
    parts: Iterable[Mapping[str, Mapping[str, np.ndarray]]],
    schema: Mapping[str, Mapping[str, np.dtype[Any]]] = EVENT_COLUMNS,
) -> Events:
    """Concatenate the events of successive steps (and ``finish``) table by table.

    ``schema`` is :data:`EVENT_COLUMNS` (v1) or :data:`PORTFOLIO_EVENT_COLUMNS`.

    Examples
    --------
    >>> a = empty_events()
    >>> concat_events([a, a])["orders"]["order_id"].dtype
    dtype('int64')
    """
    parts = list(parts)
    out = empty_events(schema)
    for table, cols in schema.items():
        for name, dtype in cols.items():
            arrays = [p[table][name] for p in parts if table in p]
            if arrays:
                out[table][name] = np.concatenate(arrays).astype(dtype, copy=False)
    return out


def arrow_schema(
    table: str, schema: Mapping[str, Mapping[str, np.dtype[Any]]] = EVENT_COLUMNS
) -> Any:
    """The ``pyarrow.Schema`` of one event table; ts columns become ``timestamp[us, UTC]``.

    A host builds the table from the int64 arrays and then casts, masking
    :data:`NO_TS` to null.

    Examples
    --------
    >>> arrow_schema("fills").field("ts").type
    TimestampType(timestamp[us, tz=UTC])
    >>> arrow_schema("order_events", PORTFOLIO_EVENT_COLUMNS).names
    ['order_id', 'ts', 'status', 'reason']
    """
    import pyarrow as pa

    fields = []
    for name, dtype in schema[table].items():
        typ = pa.timestamp("us", tz="UTC") if name in TS_COLUMNS else pa.from_numpy_dtype(dtype)
        fields.append(pa.field(name, typ))
    return pa.schema(fields)

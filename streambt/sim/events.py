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


class Side(IntEnum):
    """Side of an order or fill (``side`` column, int8)."""

    BUY = 1
    SELL = -1


class TradeSide(IntEnum):
    """Direction of a round trip (``trades.side``, int8)."""

    LONG = 1
    SHORT = -1


class RejectReason(IntEnum):
    """Why an order was rejected (``orders.reason``, int8); ``NONE`` otherwise."""

    NONE = 0
    INSUFFICIENT_CASH = 1


#: allowed status changes; a broker applying events checks against this table
ORDER_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.ACCEPTED, OrderStatus.REJECTED}),
    OrderStatus.ACCEPTED: frozenset(
        {
            OrderStatus.FILLED,
            OrderStatus.CANCELLED,
            OrderStatus.REJECTED,
            OrderStatus.EXPIRED,
        }
    ),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.EXPIRED: frozenset(),
}

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
TS_COLUMNS: frozenset[str] = frozenset({"created_ts", "filled_ts", "ts", "entry_ts", "exit_ts"})


def empty_events() -> Events:
    """All event tables with zero rows and their declared dtypes."""
    return {
        table: {name: np.empty(0, dtype) for name, dtype in cols.items()}
        for table, cols in EVENT_COLUMNS.items()
    }


def concat_events(parts: Iterable[Mapping[str, Mapping[str, np.ndarray]]]) -> Events:
    """Concatenate the events of successive steps (and ``finish``) table by table.

    Examples
    --------
    >>> a = empty_events()
    >>> concat_events([a, a])["orders"]["order_id"].dtype
    dtype('int64')
    """
    parts = list(parts)
    out = empty_events()
    for table, cols in EVENT_COLUMNS.items():
        for name, dtype in cols.items():
            arrays = [p[table][name] for p in parts if table in p]
            if arrays:
                out[table][name] = np.concatenate(arrays).astype(dtype, copy=False)
    return out


def arrow_schema(table: str) -> Any:
    """The ``pyarrow.Schema`` of one event table; ts columns become ``timestamp[us, UTC]``.

    A host builds the table from the int64 arrays and then casts, masking
    :data:`NO_TS` to null.

    Examples
    --------
    >>> arrow_schema("fills").field("ts").type
    TimestampType(timestamp[us, tz=UTC])
    """
    import pyarrow as pa

    fields = []
    for name, dtype in EVENT_COLUMNS[table].items():
        typ = pa.timestamp("us", tz="UTC") if name in TS_COLUMNS else pa.from_numpy_dtype(dtype)
        fields.append(pa.field(name, typ))
    return pa.schema(fields)

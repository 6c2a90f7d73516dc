"""Kernel events (int codes, int64 microseconds) -> Arrow tables every host builds alike.

Two simulators, two sets of tables: the v1 account per (strategy, symbol)
(:data:`EVENT_SCHEMAS`) and the portfolio broker (:data:`PORTFOLIO_SCHEMAS`,
with ``order_events`` and the order type, role and time in force). In both,
``strategy`` and ``symbol`` are names and integer codes of enums are their
names (``FILLED``, ``STOP_LOSS``), so a table reads the same on every engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import IntEnum

import numpy as np
import pyarrow as pa

from ..io.feeds import TS_TYPE
from ..io.schema import ts_array
from ..sim.events import (
    EVENT_COLUMNS,
    NO_TS,
    PORTFOLIO_EVENT_COLUMNS,
    TS_COLUMNS,
    Liquidity,
    OrderRole,
    OrderStatus,
    OrderType,
    RejectReason,
    TimeInForce,
)

#: integer-coded columns shown by name in results (``side`` stays +1 / -1)
NAMED_CODES: dict[str, type[IntEnum]] = {
    "status": OrderStatus,
    "reason": RejectReason,
    "type": OrderType,
    "tif": TimeInForce,
    "role": OrderRole,
    "liquidity": Liquidity,
    "exit_reason": OrderRole,
}
#: portfolio columns holding a strategy or symbol code, shown by name
CODED_KEYS = ("strategy", "symbol")

#: the ``equity`` table (both simulators): one row per strategy, symbol (or "*") and bar
EQUITY_SCHEMA = pa.schema(
    [
        ("strategy", pa.string()),
        ("symbol", pa.string()),
        ("ts", TS_TYPE),
        ("cash", pa.float64()),
        ("position", pa.float64()),
        ("equity", pa.float64()),
    ]
)

#: the ``positions`` table (both simulators): units held after each bar, at its close;
#: ``currency`` is the instrument's (portfolio broker) or null (v1 accounts)
POSITION_SCHEMA = pa.schema(
    [
        ("strategy", pa.string()),
        ("symbol", pa.string()),
        ("ts", TS_TYPE),
        ("position", pa.float64()),
        ("price", pa.float64()),
        ("value", pa.float64()),
        ("currency", pa.string()),
    ]
)


def _field(name: str, dtype: np.dtype) -> pa.Field:
    if name in TS_COLUMNS:
        return pa.field(name, TS_TYPE)
    if name in NAMED_CODES or name in CODED_KEYS:
        return pa.field(name, pa.string())
    return pa.field(name, pa.from_numpy_dtype(dtype))


def _schemas(columns: Mapping[str, Mapping[str, np.dtype]], head: bool) -> dict[str, pa.Schema]:
    keys = [pa.field(k, pa.string()) for k in CODED_KEYS] if head else []
    out = {}
    for table, cols in columns.items():
        fields = [_field(n, d) for n, d in cols.items()]
        if not head:
            # strategy and symbol first, as in v1 (order_events has neither: join on order_id)
            fields = [f for f in fields if f.name in CODED_KEYS] + [
                f for f in fields if f.name not in CODED_KEYS
            ]
        if table == "orders" and not head:
            fields.append(pa.field("currency", pa.string()))
        out[table] = pa.schema([*keys, *fields])
    return out


EVENT_SCHEMAS: dict[str, pa.Schema] = _schemas(EVENT_COLUMNS, head=True)
PORTFOLIO_SCHEMAS: dict[str, pa.Schema] = _schemas(PORTFOLIO_EVENT_COLUMNS, head=False)


def _named(codes: type[IntEnum], values: np.ndarray) -> pa.Array:
    names, index = _NAME_TABLES[codes]
    rows = index[np.clip(values, 0, len(index) - 1)]
    unknown = (rows < 0) | (values < 0) | (values >= len(index))
    if unknown.any():
        raise KeyError(f"{codes.__name__} has no member {values[unknown.argmax()]}")
    return names.take(pa.array(rows))


def _name_table(codes: type[IntEnum]) -> tuple[pa.Array, np.ndarray]:
    """The member names of ``codes``, and each value's position among them (-1: no member)."""
    names = pa.array([m.name for m in codes], pa.string())
    index = np.full(max(int(m) for m in codes) + 1, -1, dtype=np.int64)
    for i, m in enumerate(codes):
        index[int(m)] = i
    return names, index


_NAME_TABLES = {codes: _name_table(codes) for codes in set(NAMED_CODES.values())}


def decode_event_columns(table: str, cols: Mapping[str, np.ndarray]) -> dict[str, pa.Array]:
    """Arrow arrays for one v1 event table: timestamps typed (NO_TS -> null), codes named."""
    return _decode(EVENT_COLUMNS[table], cols)


def _decode(columns: Mapping[str, np.dtype], cols: Mapping[str, np.ndarray]) -> dict[str, pa.Array]:
    out: dict[str, pa.Array] = {}
    for name, dtype in columns.items():
        values = np.asarray(cols[name], dtype=dtype)
        if name in TS_COLUMNS:
            missing = values == NO_TS
            out[name] = (
                pa.array(values, pa.int64(), mask=missing).cast(TS_TYPE)
                if missing.any()
                else ts_array(values)
            )
        elif name in NAMED_CODES:
            out[name] = _named(NAMED_CODES[name], values)
        else:
            out[name] = pa.array(values)
    return out


def portfolio_event_table(
    table: str,
    cols: Mapping[str, np.ndarray],
    strategies: Sequence[str],
    symbols: Sequence[str],
    currencies: Sequence[str],
) -> pa.Table:
    """One portfolio event table, strategy and symbol codes shown as names."""
    columns = PORTFOLIO_EVENT_COLUMNS[table]
    decoded = _decode({k: v for k, v in columns.items() if k not in CODED_KEYS}, cols)
    names = {
        "strategy": pa.array(list(strategies), pa.string()),
        "symbol": pa.array(list(symbols), pa.string()),
    }
    for key in CODED_KEYS:
        if key in columns:
            decoded[key] = names[key].take(pa.array(np.asarray(cols[key], dtype=np.int64)))
    if table == "orders":
        decoded["currency"] = pa.array(list(currencies), pa.string()).take(
            pa.array(np.asarray(cols["symbol"], dtype=np.int64))
        )
    schema = PORTFOLIO_SCHEMAS[table]
    return pa.table({f.name: decoded[f.name] for f in schema}, schema=schema)

"""Kernel events (int codes, int64 microseconds) -> Arrow tables every host builds alike."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyarrow as pa

from ..io.feeds import TS_TYPE
from ..sim.events import EVENT_COLUMNS, NO_TS, TS_COLUMNS, OrderStatus, RejectReason

#: integer-coded columns shown by name in results
NAMED_CODES: dict[str, type[OrderStatus] | type[RejectReason]] = {
    "status": OrderStatus,
    "reason": RejectReason,
}


def _field(name: str, dtype: np.dtype) -> pa.Field:
    if name in TS_COLUMNS:
        return pa.field(name, TS_TYPE)
    if name in NAMED_CODES:
        return pa.field(name, pa.string())
    return pa.field(name, pa.from_numpy_dtype(dtype))


EVENT_SCHEMAS: dict[str, pa.Schema] = {
    table: pa.schema(
        [
            pa.field("strategy", pa.string()),
            pa.field("symbol", pa.string()),
            *(_field(n, d) for n, d in cols.items()),
        ]
    )
    for table, cols in EVENT_COLUMNS.items()
}


def decode_event_columns(table: str, cols: Mapping[str, np.ndarray]) -> dict[str, pa.Array]:
    """Arrow arrays for one event table: timestamps typed (NO_TS -> null), codes named."""
    out: dict[str, pa.Array] = {}
    for name, dtype in EVENT_COLUMNS[table].items():
        values = np.asarray(cols[name], dtype=dtype)
        if name in TS_COLUMNS:
            out[name] = pa.array(values, pa.int64(), mask=values == NO_TS).cast(TS_TYPE)
        elif name in NAMED_CODES:
            codes = NAMED_CODES[name]
            names = pa.array([m.name for m in codes], pa.string())
            lookup = {int(m): i for i, m in enumerate(codes)}
            index = np.array([lookup[int(v)] for v in np.unique(values)], dtype=np.int64)
            position = index[np.searchsorted(np.unique(values), values)]
            out[name] = names.take(pa.array(position))
        else:
            out[name] = pa.array(values)
    return out

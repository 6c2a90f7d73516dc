"""The bar schema, and the mapping of any raw table onto it.

Column names match case-insensitively; the time column may be ``ts``,
``timestamp``, ``datetime``, ``date``, ``time`` or a pandas DatetimeIndex
(reset to a column by the pandas feed). Naive timestamps are taken as UTC and
zone-aware ones converted; :func:`normalize` says which, for the timezone
check.
"""

from __future__ import annotations

import warnings
from datetime import timezone
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError
from ..kernels._jit import jit

TS_TYPE = pa.timestamp("us", tz="UTC")
BAR_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("ts", TS_TYPE),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
    ]
)
TS_ALIASES = ("ts", "timestamp", "datetime", "date", "time")
DEFAULT_SYMBOL = "asset"


def normalize_bars(raw: pa.Table, symbol: str | None, feed: str) -> pa.Table:
    """Map a raw table onto :data:`BAR_SCHEMA`, with errors that name what is missing."""
    return normalize(raw, symbol, feed)[0]


def normalize(raw: pa.Table, symbol: str | None, feed: str) -> tuple[pa.Table, str | None]:
    """:func:`normalize_bars`, and what the raw time column was when not UTC
    (``"naive"`` or a zone name: the timezone check reports it)."""
    by_lower: dict[str, str] = {}
    for name in raw.column_names:
        by_lower.setdefault(name.lower(), name)
    ts_name = next((by_lower[a] for a in TS_ALIASES if a in by_lower), None)
    if ts_name is None:
        raise DataError(
            f"{feed}: no time column; expected one of {', '.join(TS_ALIASES)} (or a DatetimeIndex), "
            f"got columns {raw.column_names}"
        )
    missing = [f for f in ("open", "high", "low", "close", "volume") if f not in by_lower]
    if missing:
        raise DataError(
            f"{feed}: missing column(s) {', '.join(missing)}; bars need open, high, low, close and volume "
            f"(got {raw.column_names}). Rename the columns or add volume=0 when there is none"
        )
    n = raw.num_rows
    if "symbol" in by_lower:
        sym = raw.column(by_lower["symbol"]).cast(pa.string())
        if symbol is not None:
            raise DataError(
                f"{feed}: the data has a symbol column and symbol={symbol!r} was also given; pass one"
            )
    else:
        sym = constant_strings(symbol or DEFAULT_SYMBOL, n)
    ts, tz_note = _to_utc(raw.column(ts_name), feed)
    cols: dict[str, pa.Array | pa.ChunkedArray] = {"symbol": sym, "ts": ts}
    for f in ("open", "high", "low", "close", "volume"):
        col = raw.column(by_lower[f])
        try:
            cols[f] = col.cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise DataError(
                f"{feed}: column {f!r} is not numeric ({col.type}); convert it to numbers"
            ) from exc
    extra = [
        c
        for c in raw.column_names
        if c.lower() not in {*TS_ALIASES, "symbol", "open", "high", "low", "close", "volume"}
    ]
    table = pa.table(cols, schema=BAR_SCHEMA)
    for c in extra:
        table = table.append_column(c, raw.column(c))
    return table, tz_note


_UTC_NAMES = {"UTC", "utc", "Etc/UTC", "Etc/Universal", "Universal", "Zulu", "Z", "+00:00", "GMT"}


def _to_utc(col: pa.ChunkedArray, feed: str) -> tuple[pa.ChunkedArray, str | None]:
    t = col.type
    if pa.types.is_timestamp(t):
        note = None
        if t.tz is None:
            # Naive times are UTC by convention: relabel, no arithmetic.
            col = col.cast(pa.timestamp(t.unit, tz="UTC"))
            note = "naive"
        elif t.tz not in _UTC_NAMES:
            note = t.tz  # Arrow stores UTC instants: the cast below only relabels
        try:
            return col.cast(TS_TYPE), note
        except pa.ArrowInvalid as exc:
            raise DataError(
                f"{feed}: timestamps finer than a microsecond ({exc}); streambt keeps microseconds. "
                "Round them first, e.g. df['ts'] = df['ts'].dt.floor('us')"
            ) from exc
    if pa.types.is_date(t):
        # A date names a day, not an instant: labelled by its UTC midnight.
        return pc.assume_timezone(col.cast(pa.timestamp("us")), "UTC").cast(TS_TYPE), None
    if pa.types.is_string(t) or pa.types.is_large_string(t) or str(t) == "string_view":
        values = col.cast(pa.string()).to_pandas()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                parsed = pd.to_datetime(values)
            if not isinstance(parsed.dtype, pd.DatetimeTZDtype):
                note = "naive" if parsed.dtype.kind == "M" else "mixed UTC offsets"
                parsed = pd.to_datetime(values, utc=True)
            else:
                zone = str(parsed.dt.tz)
                note = None if zone in _UTC_NAMES else zone
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"{feed}: cannot parse the time column as timestamps ({exc}); use ISO 8601"
            ) from exc
        return pa.chunked_array([_arrow_column(parsed).cast(TS_TYPE)]), note
    raise DataError(
        f"{feed}: the time column has type {t}; expected timestamps, dates or ISO 8601 strings"
    )


def _tz_name(tz: Any) -> str:
    """An Arrow time zone name for a pandas/pytz/zoneinfo/datetime zone."""
    for attr in ("key", "zone"):
        name = getattr(tz, attr, None)
        if isinstance(name, str):
            return name
    if isinstance(tz, timezone):
        offset = tz.utcoffset(None)
        minutes = int(offset.total_seconds() // 60)
        sign = "+" if minutes >= 0 else "-"
        return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
    return str(tz)


def _arrow_column(s: pd.Series) -> pa.Array:
    """One pandas column as Arrow, without the block consolidation of ``Table.from_pandas``."""
    if isinstance(s.dtype, pd.DatetimeTZDtype) or s.dtype.kind == "M":
        return _arrow_times(s)
    if s.dtype.kind == "f":
        return float_array(s.to_numpy(np.float64))
    if s.dtype.kind in "iub":
        return pa.array(s.to_numpy())
    return pa.Array.from_pandas(s)


def _arrow_times(s: pd.Series) -> pa.Array:
    """A pandas datetime column as Arrow timestamps: in microseconds when that is exact (the
    bar unit, so normalizing casts nothing), else in the column's own unit."""
    # asi8 holds UTC instants whatever the zone (the zone is only a label), in the dtype's unit.
    values, unit = s.array.asi8, np.datetime_data(s.array.dtype.base)[0]
    if unit == "ns":
        micros, whole, has_nat = _ns_to_us(values)
        if whole:
            values, unit = micros, "us"
    else:
        has_nat = bool(s.isna().any())
    arr = pa.array(values, pa.int64(), mask=values == _NAT if has_nat else None)
    if not isinstance(s.dtype, pd.DatetimeTZDtype):
        return arr.cast(pa.timestamp(unit))
    try:
        return arr.cast(pa.timestamp(unit, tz=_tz_name(s.dt.tz)))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return arr.cast(pa.timestamp(unit, tz="UTC"))


_NAT = np.iinfo(np.int64).min  # NaT in every unit


@jit
def _ns_to_us(ns: np.ndarray) -> tuple[np.ndarray, bool, bool]:
    """Nanoseconds as microseconds (NaT kept), whether all were whole microseconds, and
    whether any was NaT: one pass instead of a mask, a cast and its check."""
    out = np.empty_like(ns)
    whole = True
    has_nat = False
    for i in range(ns.shape[0]):
        x = ns[i]
        if x == _NAT:
            out[i] = x
            has_nat = True
        else:
            q = x // 1000
            whole &= q * 1000 == x
            out[i] = q
    return out, whole, has_nat


def float_array(values: np.ndarray) -> pa.Array:
    """float64 numpy -> Arrow, NaN as null, sharing the numpy buffer.

    ``pa.array(values, from_pandas=True)`` does the same at about 12x the cost
    (1M values: 19 ms against 1.5 ms), which adds up over dozens of indicator
    columns.
    """
    values = np.ascontiguousarray(values, dtype=np.float64)
    nulls = _nan_count(values)
    if nulls == 0:
        return pa.array(values)
    bitmap = np.empty((values.shape[0] + 7) // 8, np.uint8)
    _validity(values, bitmap)
    return pa.Array.from_buffers(
        pa.float64(),
        values.shape[0],
        [pa.py_buffer(bitmap), pa.py_buffer(values)],
        null_count=nulls,
    )


@jit
def _nan_count(values: np.ndarray) -> int:
    count = 0
    for i in range(values.shape[0]):
        count += values[i] != values[i]  # NaN only (this form vectorises)
    return count


@jit
def _validity(values: np.ndarray, bitmap: np.ndarray) -> None:
    """Arrow's validity bitmap of ``values`` (bit i set: value i is not NaN), LSB first."""
    n = values.shape[0]
    for byte in range(bitmap.shape[0]):
        bits = 0
        for b in range(min(8, n - 8 * byte)):
            bits |= (not np.isnan(values[8 * byte + b])) << b
        bitmap[byte] = bits


def repeat_string(value: str, n: int) -> pa.Array:
    """``n`` copies of ``value`` as an Arrow string array: ``pa.repeat`` at a tenth of its cost.

    >>> repeat_string("ab", 3).to_pylist()
    ['ab', 'ab', 'ab']
    """
    data = value.encode()
    if n * len(data) >= 2**31:  # beyond 32-bit offsets: let Arrow say so
        return pa.repeat(pa.scalar(value, pa.string()), n)
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(len(data))
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data * n)]
    )


#: rows of the one block a :func:`constant_strings` column refers to again and again
CONSTANT_BLOCK = 65_536


def constant_strings(value: str, n: int) -> pa.ChunkedArray:
    """``n`` copies of ``value`` as an Arrow string column that holds one block of copies and
    refers to it as often as needed: a result's ``strategy`` and ``symbol`` columns cost no
    memory (nor time) per row.

    >>> col = constant_strings("ab", 70_000)
    >>> len(col), col.num_chunks, col[69_999].as_py()
    (70000, 2, 'ab')
    """
    block = repeat_string(value, min(n, CONSTANT_BLOCK))
    whole, rest = divmod(n, CONSTANT_BLOCK) if n > CONSTANT_BLOCK else (1, 0)
    chunks = [block] * whole + ([block.slice(0, rest)] if rest else [])
    return pa.chunked_array(chunks, pa.string())


def ts_array(micros: np.ndarray) -> pa.Array:
    """int64 microseconds -> Arrow :data:`TS_TYPE`, sharing the numpy buffer (no nulls).

    >>> ts_array(np.array([0, 60_000_000])).type
    TimestampType(timestamp[us, tz=UTC])
    """
    values = np.ascontiguousarray(micros, dtype=np.int64)
    return pa.Array.from_buffers(TS_TYPE, values.shape[0], [None, pa.py_buffer(values)])


def bar_columns(names: list[str], times_only: bool = False) -> list[str] | None:
    """The raw columns a bar feed needs (symbol if any, the time column, OHLCV), or None."""
    by_lower: dict[str, str] = {}
    for n in names:
        by_lower.setdefault(n.lower(), n)
    ts_name = next((by_lower[a] for a in TS_ALIASES if a in by_lower), None)
    fields = () if times_only else ("open", "high", "low", "close", "volume")
    if ts_name is None or any(f not in by_lower for f in fields):
        return None
    head = [by_lower["symbol"]] if "symbol" in by_lower else []
    return [*head, ts_name, *(by_lower[f] for f in fields)]

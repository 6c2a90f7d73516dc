"""Checks on bars as they are loaded: bad data never passes silently.

Each failed check raises :class:`~streambt.errors.DataError` naming the
feed, the first offending row (its position in the input and its timestamp),
the value, and how to fix it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError

PRICE_FIELDS = ("open", "high", "low", "close")


def _row(table: pa.Table, i: int) -> str:
    ts = table.column("ts")[i].as_py()
    sym = table.column("symbol")[i].as_py()
    return f"row {i} (symbol {sym!r}, ts {ts.isoformat() if ts is not None else None})"


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def validate_bars(table: pa.Table, feed: str) -> None:
    """Raise :class:`DataError` on the first bad row of normalized bars.

    Checks: null timestamps; NaN, null, zero or negative prices; high < low;
    high below open/close; low above open/close; negative volume; timestamps
    not strictly increasing within a symbol (unsorted or duplicate).
    """
    if table.num_rows == 0:
        raise DataError(f"{feed}: the feed has no rows; pass a file or frame with at least one bar")
    ts_nulls = table.column("ts").null_count
    if ts_nulls:
        i = _first(pc.is_null(table.column("ts")).to_numpy(zero_copy_only=False))
        raise DataError(f"{feed}: row {i} has no timestamp (ts is null); drop or fill that row")
    prices = {
        f: table.column(f).to_numpy(zero_copy_only=False).astype(np.float64) for f in PRICE_FIELDS
    }
    for field, values in prices.items():
        i = _first(~np.isfinite(values))
        if i is not None:
            raise DataError(
                f"{feed}: {_row(table, i)} has {field} = {float(values[i])!r} (NaN, null or infinite); "
                "drop the row or fill it (e.g. df.ffill()) before loading"
            )
        i = _first(values <= 0)
        if i is not None:
            raise DataError(
                f"{feed}: {_row(table, i)} has {field} = {float(values[i])!r}; prices must be positive. "
                "Fix or drop that row (negative prices usually mean a bad adjustment)"
            )
    o, h, lo, c = (prices[f] for f in PRICE_FIELDS)
    checks = [
        (h < lo, "high < low", lambda i: f"high {float(h[i])!r} < low {float(lo[i])!r}"),
        (
            h < np.maximum(o, c),
            "high below open or close",
            lambda i: f"high {float(h[i])!r} < max(open, close) {float(max(o[i], c[i]))!r}",
        ),
        (
            lo > np.minimum(o, c),
            "low above open or close",
            lambda i: f"low {float(lo[i])!r} > min(open, close) {float(min(o[i], c[i]))!r}",
        ),
    ]
    for mask, what, detail in checks:
        i = _first(mask)
        if i is not None:
            raise DataError(
                f"{feed}: {_row(table, i)}: {what} ({detail(i)}); correct or drop that bar"
            )
    vol = table.column("volume").to_numpy(zero_copy_only=False).astype(np.float64)
    i = _first(vol < 0)
    if i is not None:
        raise DataError(
            f"{feed}: {_row(table, i)} has volume {float(vol[i])!r}; volume must be >= 0"
        )
    _check_time_order(table, feed)


def _check_time_order(table: pa.Table, feed: str) -> None:
    sym = table.column("symbol").to_numpy(zero_copy_only=False)
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    # A stable sort by symbol keeps each symbol's rows in input order, so long
    # feeds interleaved by time are fine while a symbol's own order is checked.
    order = np.argsort(sym, kind="stable")
    sym_s, ts_s = sym[order], ts[order]
    same = sym_s[1:] == sym_s[:-1]
    step = np.diff(ts_s)
    dup = _first(same & (step == 0))
    back = _first(same & (step < 0))
    if dup is not None and (back is None or dup < back):
        raise DataError(
            f"{feed}: {_row(table, int(order[dup + 1]))} repeats the timestamp of row {int(order[dup])}; "
            "timestamps must be unique per symbol. Drop duplicates (e.g. df.drop_duplicates('ts', keep='last'))"
        )
    if back is not None:
        raise DataError(
            f"{feed}: {_row(table, int(order[back + 1]))} is earlier than row {int(order[back])} of the same "
            "symbol; bars must be in time order. Sort them first (e.g. df.sort_values('ts'))"
        )

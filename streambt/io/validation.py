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
from ..kernels._jit import jit

PRICE_FIELDS = ("open", "high", "low", "close")


def _row(table: pa.Table, i: int) -> str:
    ts = table.column("ts")[i].as_py()
    sym = table.column("symbol")[i].as_py()
    return f"row {i} (symbol {sym!r}, ts {ts.isoformat() if ts is not None else None})"


def _first(mask: np.ndarray) -> int | None:
    hits = np.flatnonzero(mask)
    return int(hits[0]) if hits.size else None


def validate_bars(table: pa.Table, feed: str, single_symbol: bool = False) -> bool:
    """Raise :class:`DataError` on the first bad row of normalized bars.

    Returns whether the rows are already ordered by (symbol, ts).
    ``single_symbol`` says the caller knows every row has the same symbol.

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
    arrays = [_floats(table.column(f)) for f in (*PRICE_FIELDS, "volume")]
    if _all_bars_valid(*arrays):
        return _check_time_order(table, feed, single_symbol)
    # Something is wrong: find the first problem in the documented order of checks.
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
    raise AssertionError("unreachable: the fast check failed but no check found the row")


def _floats(col: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype=np.float64)


@jit
def _all_bars_valid(
    o: np.ndarray, h: np.ndarray, lo: np.ndarray, c: np.ndarray, v: np.ndarray
) -> bool:
    """One pass over the bars; False at the first bar any check would reject."""
    for i in range(o.shape[0]):
        oi, hi, li, ci = o[i], h[i], lo[i], c[i]
        # The comparisons are written so that NaN fails them.
        if not (oi > 0.0 and hi > 0.0 and li > 0.0 and ci > 0.0):
            return False
        if not (hi < np.inf and li < np.inf and oi < np.inf and ci < np.inf):
            return False
        if not (hi >= li and hi >= oi and hi >= ci and li <= oi and li <= ci):
            return False
        if v[i] < 0.0:
            return False
    return True


@jit
def _time_order(codes: np.ndarray, ts: np.ndarray, n_codes: int) -> int:
    """0 if some symbol's timestamps do not strictly increase in input order;
    1 if they do and each symbol's rows are one contiguous block; 2 otherwise."""
    last = np.full(n_codes, np.iinfo(np.int64).min, dtype=np.int64)
    contiguous = True
    for i in range(ts.shape[0]):
        k = codes[i]
        if ts[i] <= last[k]:
            return 0
        if i > 0 and k < codes[i - 1]:
            contiguous = False
        last[k] = ts[i]
    return 1 if contiguous else 2


def _check_time_order(table: pa.Table, feed: str, single_symbol: bool = False) -> bool:
    """Raise on unsorted or duplicate times; return whether rows are already ordered by (symbol, ts)."""
    ts = table.column("ts").cast(pa.int64()).to_numpy()
    if single_symbol:
        codes, symbols = np.zeros(ts.shape[0], dtype=np.int64), [""]
    else:
        encoded = pc.dictionary_encode(table.column("symbol")).combine_chunks()
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        symbols = encoded.dictionary.to_pylist()
    verdict = _time_order(codes, ts, len(symbols))
    if verdict:
        # Codes follow first appearance: contiguous blocks are in symbol order
        # when the dictionary itself is sorted.
        return verdict == 1 and symbols == sorted(symbols)
    # A stable sort by symbol keeps each symbol's rows in input order, so long
    # feeds interleaved by time are fine while a symbol's own order is checked.
    order = np.argsort(codes, kind="stable")
    sym_s, ts_s = codes[order], ts[order]
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
    raise AssertionError("unreachable: the time order check found no culprit")

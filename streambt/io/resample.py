"""Resampling bars to a higher timeframe, and the as-of rule that aligns them back.

Both functions are exact and engine-independent; engines with a relational
form (DuckDB: an Ibis group-by and as-of join) must agree with them.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..kernels._jit import jit
from .feeds import TS_TYPE
from .schema import repeat_string
from .timeframes import Timeframe

RESAMPLED_SCHEMA = pa.schema(
    [
        ("symbol", pa.string()),
        ("ts", TS_TYPE),
        ("open", pa.float64()),
        ("high", pa.float64()),
        ("low", pa.float64()),
        ("close", pa.float64()),
        ("volume", pa.float64()),
        ("closes_at", TS_TYPE),
    ]
)


@jit
def _bucketize(
    starts: np.ndarray,
    ends: np.ndarray,
    ts: np.ndarray,
    base_us: int,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
    acc: np.ndarray,
    cur: np.ndarray,
    out_i: np.ndarray,
    out_f: np.ndarray,
) -> int:
    """Accumulate rows into buckets; write each bucket that closes. Returns the count written.

    ``cur`` = [bucket start (or min int64), bucket end]; ``acc`` = [o, h, l, c, v] of
    the open bucket. A bucket closes at the first row decided at or after its
    end (``ts + base_us >= end``), or when a row of a later bucket arrives.
    ``out_i`` rows: start, end, closing row; ``out_f`` rows: o, h, l, c, v.
    """
    none = np.iinfo(np.int64).min
    k = 0
    for j in range(ts.shape[0]):
        if cur[0] != none and starts[j] != cur[0]:
            out_i[0, k], out_i[1, k], out_i[2, k] = cur[0], cur[1], j
            for f in range(5):
                out_f[f, k] = acc[f]
            k += 1
            cur[0] = none
        if cur[0] == none:
            cur[0], cur[1] = starts[j], ends[j]
            acc[0], acc[1], acc[2], acc[3], acc[4] = o[j], h[j], lo[j], c[j], v[j]
        else:
            acc[1] = max(acc[1], h[j])
            acc[2] = min(acc[2], lo[j])
            acc[3] = c[j]
            acc[4] += v[j]
        if ts[j] + base_us >= cur[1]:
            out_i[0, k], out_i[1, k], out_i[2, k] = cur[0], cur[1], j
            for f in range(5):
                out_f[f, k] = acc[f]
            k += 1
            cur[0] = none
    return k


def bucket_state() -> dict[str, np.ndarray]:
    """The state of one symbol's open bucket (none yet)."""
    return {"acc": np.zeros(5), "cur": np.array([np.iinfo(np.int64).min, 0], dtype=np.int64)}


def close_buckets(
    state: dict[str, np.ndarray],
    tf: Timeframe,
    base_us: int,
    ts: np.ndarray,
    o: np.ndarray,
    h: np.ndarray,
    lo: np.ndarray,
    c: np.ndarray,
    v: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feed one symbol's next rows; return (ints [start, end, row], floats [ohlcv], state updated in place)."""
    starts = tf.bucket_starts(ts)
    ends = tf.bucket_ends(starts)
    n = ts.shape[0]
    out_i = np.empty((3, n + 1), dtype=np.int64)
    out_f = np.empty((5, n + 1), dtype=np.float64)
    k = _bucketize(
        starts, ends, ts, base_us, o, h, lo, c, v, state["acc"], state["cur"], out_i, out_f
    )
    return out_i[:, :k], out_f[:, :k], state["cur"]


def resample_bars(bars: pa.Table, tf: Timeframe, base: Timeframe) -> pa.Table:
    """Closed higher-timeframe bars per symbol (a bucket still open at the end is left out)."""
    ts = bars.column("ts").cast(pa.int64()).to_numpy()
    cols = {
        f: np.asarray(bars.column(f).to_numpy(zero_copy_only=False), dtype=np.float64)
        for f in ("open", "high", "low", "close", "volume")
    }
    parts = []
    for symbol, s, e in symbol_runs(bars.column("symbol")):
        ints, floats, _ = close_buckets(
            bucket_state(),
            tf,
            base.micros,
            ts[s:e],
            *(cols[f][s:e] for f in ("open", "high", "low", "close", "volume")),
        )
        parts.append(_table(symbol, ints, floats))
    return pa.concat_tables(parts) if parts else RESAMPLED_SCHEMA.empty_table()


def symbol_runs(symbols: pa.ChunkedArray | pa.Array) -> list[tuple[str, int, int]]:
    """(symbol, start, stop) of each run of equal symbols, in order (a table ordered by symbol)."""
    if len(symbols) == 0:
        return []
    ends = run_ends(symbols)
    assert ends is not None
    values = symbols.take(pa.array(ends - 1)).to_pylist()
    starts = np.r_[0, ends[:-1]]
    return [(v, int(s), int(e)) for v, s, e in zip(values, starts, ends, strict=True)]


def run_ends(values: pa.Array | pa.ChunkedArray, limit: int | None = None) -> np.ndarray | None:
    """Where each run of equal values ends (exclusive), or None beyond ``limit`` runs.

    >>> run_ends(pa.chunked_array([["a", "a"], ["a", "b"]])).tolist()
    [3, 4]
    """
    if isinstance(values, pa.ChunkedArray):
        return _chunked_run_ends(values, limit)
    n = len(values)
    if n == 0:
        return np.zeros(0, np.int64)
    if values.type != pa.string() or values.null_count > 0:
        ends = pc.run_end_encode(values).run_ends.to_numpy().astype(np.int64)
        return ends if limit is None or len(ends) <= limit else None
    # Straight over the string buffers: Arrow's run-end encoding costs several times more.
    _, offsets, data = values.buffers()
    bounds = np.frombuffer(offsets, np.int32)[values.offset : values.offset + n + 1]
    chars = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    if _one_string(bounds, chars):
        return np.array([n], np.int64)
    found, buffer = [np.zeros(1, np.int64)], np.empty(4096, np.int64)
    count = 0
    while found[-1][-1] < n:
        m = _string_run_ends(bounds, chars, found[-1][-1], buffer)
        found.append(buffer[:m].copy())
        count += m
        if limit is not None and count > limit:
            return None
    return np.concatenate(found[1:])


def _chunked_run_ends(values: pa.ChunkedArray, limit: int | None) -> np.ndarray | None:
    """:func:`run_ends` chunk by chunk, joining runs that go on across a chunk boundary;
    chunks that are views of the same memory (a constant column repeats one block) are
    looked at once."""
    chunks = [c for c in values.chunks if len(c)]
    if len(chunks) <= 1:
        return run_ends(chunks[0] if chunks else values.combine_chunks(), limit)
    seen: dict[tuple[object, ...], np.ndarray | None] = {}
    parts: list[np.ndarray] = []
    start = 0
    for i, chunk in enumerate(chunks):
        key = (
            *(b.address if b is not None else 0 for b in chunk.buffers()),
            chunk.offset,
            len(chunk),
        )
        if key not in seen:
            seen[key] = run_ends(chunk, limit)
        ends = seen[key]
        if ends is None:
            return None
        if i and chunk[0] == chunks[i - 1][-1]:  # the last run goes on in this chunk
            parts[-1] = parts[-1][:-1]
        parts.append(ends + start)
        start += len(chunk)
        if limit is not None and sum(len(p) for p in parts) > limit:
            return None
    return np.concatenate(parts)


def _one_string(offsets: np.ndarray, chars: np.ndarray) -> bool:
    """Whether every string of the buffers is the first one (vectorised: the common case of
    a one-symbol column is settled without a loop over its rows)."""
    n = offsets.shape[0] - 1
    a, width = int(offsets[0]), int(offsets[1] - offsets[0])
    if int(offsets[n]) - a != n * width:
        return False
    if width and chars[a : a + n * width].tobytes() != chars[a : a + width].tobytes() * n:
        return False
    return bool((np.diff(offsets) == width).all())


@jit
def _string_run_ends(offsets: np.ndarray, chars: np.ndarray, start: int, ends: np.ndarray) -> int:
    """Fill ``ends`` with where runs of equal strings end (exclusive), looking from string
    ``start`` on; the strings are given as Arrow buffers. Returns how many were written."""
    n = offsets.shape[0] - 1
    m = 0
    for i in range(start + 1, n):
        a, b = offsets[i - 1], offsets[i]
        width = b - a
        same = offsets[i + 1] - b == width
        x = 0
        while same and x < width:
            same = chars[a + x] == chars[b + x]
            x += 1
        if not same:
            ends[m] = i
            m += 1
            if m == ends.shape[0]:
                return m
    ends[m] = n
    return m + 1


def _table(symbol: str, ints: np.ndarray, floats: np.ndarray) -> pa.Table:
    n = ints.shape[1]
    return pa.table(
        {
            "symbol": repeat_string(symbol, n),
            "ts": pa.array(ints[0], pa.int64()).cast(TS_TYPE),
            **{f: floats[i] for i, f in enumerate(("open", "high", "low", "close", "volume"))},
            "closes_at": pa.array(ints[1], pa.int64()).cast(TS_TYPE),
        },
        schema=RESAMPLED_SCHEMA,
    )


def asof_values(
    dst_decision: np.ndarray, src_closes: np.ndarray, src_values: np.ndarray, before: float = np.nan
) -> np.ndarray:
    """For one symbol: the last source value whose bar closed at or before each destination decision.

    ``before`` is the value carried from earlier input (NaN when none).
    """
    idx = np.searchsorted(src_closes, dst_decision, side="right") - 1
    out = np.where(idx >= 0, src_values[np.maximum(idx, 0)] if src_values.size else before, before)
    return np.asarray(out, dtype=np.float64)

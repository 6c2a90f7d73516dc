"""Feeds: where bars come from, normalized to one Arrow schema.

Every feed loads to :data:`BAR_SCHEMA` (``symbol``, ``ts`` as UTC
microseconds, float64 OHLCV), validated (:mod:`streambt.io.validation`) and
ordered by (symbol, ts). Column names are matched case-insensitively, and the
time column may be ``ts``, ``timestamp``, ``datetime``, ``date`` or a pandas
DatetimeIndex. Naive timestamps are taken as UTC.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..errors import DataError
from ..graph.ids import digest
from .validation import validate_bars

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


class Feed(ABC):
    """A source of bars. ``describe()`` feeds the data node's id; ``load()`` the rows."""

    symbol: str | None

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """What identifies this feed in a graph (kind, location, symbol)."""

    @abstractmethod
    def _read(self) -> pa.Table:
        """The raw table, before normalization."""

    def fingerprint(self) -> str:
        """A digest that changes whenever the feed's rows would change (for the factor cache)."""
        return digest({"describe": self.describe(), "content": self._content_digest()})

    def _content_digest(self) -> str:
        return table_digest(self._read())

    @property
    def name(self) -> str:
        d = self.describe()
        where = d.get("path") or d.get("symbol") or ",".join(d.get("symbols", []))
        return f"{d['kind']} feed {where}".strip()

    def load(self) -> pa.Table:
        """Read, normalize to :data:`BAR_SCHEMA`, validate, and order by (symbol, ts)."""
        table = normalize_bars(self._read(), self.symbol, self.name)
        ordered = validate_bars(table, self.name, single_symbol=self.symbol is not None)
        return table if ordered else sort_bars(table)


def sort_bars(table: pa.Table) -> pa.Table:
    """Order by (symbol, ts); a no-op (no copy) when already in that order."""
    if _is_ordered(table):
        return table
    return table.sort_by([("symbol", "ascending"), ("ts", "ascending")])


def _is_ordered(table: pa.Table) -> bool:
    n = table.num_rows
    if n < 2:
        return True
    sym = table.column("symbol")
    ts = table.column("ts").cast(pa.int64())
    sym_prev, sym_next = sym.slice(0, n - 1), sym.slice(1)
    ts_prev, ts_next = ts.slice(0, n - 1), ts.slice(1)
    ordered = pc.or_(
        pc.less(sym_prev, sym_next),
        pc.and_(pc.equal(sym_prev, sym_next), pc.less_equal(ts_prev, ts_next)),
    )
    return bool(pc.all(ordered).as_py())


def normalize_bars(raw: pa.Table, symbol: str | None, feed: str) -> pa.Table:
    """Map a raw table onto :data:`BAR_SCHEMA`, with errors that name what is missing."""
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
        sym = pa.repeat(pa.scalar(symbol or DEFAULT_SYMBOL, pa.string()), n)
    cols: dict[str, pa.Array | pa.ChunkedArray] = {
        "symbol": sym,
        "ts": _to_utc(raw.column(ts_name), feed),
    }
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
    return table


def _to_utc(col: pa.ChunkedArray, feed: str) -> pa.ChunkedArray:
    t = col.type
    if pa.types.is_timestamp(t):
        if t.tz is None:
            # Naive times are UTC by convention: relabel, no arithmetic.
            col = col.cast(pa.timestamp(t.unit, tz="UTC"))
        try:
            return col.cast(TS_TYPE)
        except pa.ArrowInvalid as exc:
            raise DataError(
                f"{feed}: timestamps finer than a microsecond ({exc}); streambt keeps microseconds. "
                "Round them first, e.g. df['ts'] = df['ts'].dt.floor('us')"
            ) from exc
    if pa.types.is_date(t):
        return pc.assume_timezone(col.cast(pa.timestamp("us")), "UTC").cast(TS_TYPE)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        try:
            parsed = pd.to_datetime(col.to_pandas(), utc=True)
        except (ValueError, TypeError) as exc:
            raise DataError(
                f"{feed}: cannot parse the time column as timestamps ({exc}); use ISO 8601"
            ) from exc
        return pa.chunked_array([pa.array(parsed, TS_TYPE)])
    raise DataError(
        f"{feed}: the time column has type {t}; expected timestamps, dates or ISO 8601 strings"
    )


class PandasFeed(Feed):
    def __init__(self, df: pd.DataFrame, symbol: str | None = None) -> None:
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"from_pandas expects a pandas DataFrame, got {type(df).__name__}")
        self.df = df
        self.symbol = symbol

    def describe(self) -> dict[str, Any]:
        syms = [self.symbol] if self.symbol else _symbols_of(self.df)
        return {"kind": "pandas", "symbols": syms}

    def _read(self) -> pa.Table:
        df = self.df
        if isinstance(df.index, pd.DatetimeIndex) and not any(
            str(c).lower() in TS_ALIASES for c in df.columns
        ):
            df = df.rename_axis("ts").reset_index()
        return pa.table({str(c): _arrow_column(df[c]) for c in df.columns})


def _arrow_column(s: pd.Series) -> pa.Array:
    """One pandas column as Arrow, without the block consolidation of ``Table.from_pandas``."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        ns = s.dt.tz_convert("UTC").array.asi8
        return pa.array(ns, pa.int64(), mask=s.isna().to_numpy()).cast(pa.timestamp("ns", tz="UTC"))
    if s.dtype.kind == "M":
        return pa.array(s.array.asi8, pa.int64(), mask=s.isna().to_numpy()).cast(pa.timestamp("ns"))
    if s.dtype.kind in "fiub":
        return pa.array(s.to_numpy(), from_pandas=True)
    return pa.Array.from_pandas(s)


class ArrowFeed(Feed):
    def __init__(self, table: pa.Table, symbol: str | None = None) -> None:
        self.table = table
        self.symbol = symbol

    def describe(self) -> dict[str, Any]:
        syms = [self.symbol] if self.symbol else _symbols_of(self.table.to_pandas())
        return {"kind": "arrow", "symbols": syms}

    def _read(self) -> pa.Table:
        return self.table


class FileFeed(Feed):
    kind = "file"

    def __init__(self, path: str | Path, symbol: str | None = None) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(f"{self.kind} feed: {self.path} does not exist; check the path")
        self.symbol = symbol

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path.name, "symbol": self.symbol}

    def _content_digest(self) -> str:
        # Size and modification time stand for the content: hashing a large
        # file on every run would cost what the cache saves.
        st = self.path.stat()
        return digest([str(self.path.resolve()), st.st_size, st.st_mtime_ns])


class CsvFeed(FileFeed):
    kind = "csv"

    def _read(self) -> pa.Table:
        try:
            return pacsv.read_csv(self.path)
        except pa.ArrowInvalid as exc:
            raise DataError(f"csv feed {self.path}: cannot parse ({exc})") from exc


class ParquetFeed(FileFeed):
    kind = "parquet"

    def _read(self) -> pa.Table:
        return pq.read_table(self.path)


class SyntheticFeed(Feed):
    """Deterministic geometric random-walk bars (the examples' data)."""

    def __init__(
        self,
        symbol: str = "SYN",
        bars: int = 2_000,
        seed: int = 7,
        start: str = "2020-01-01",
        interval: str = "1D",
        price: float = 100.0,
    ) -> None:
        self.symbol = symbol
        self.bars, self.seed, self.start, self.interval, self.price = (
            bars,
            seed,
            start,
            interval,
            price,
        )

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "synthetic",
            "symbol": self.symbol,
            "bars": self.bars,
            "seed": self.seed,
            "start": self.start,
            "interval": self.interval,
            "price": self.price,
        }

    def _content_digest(self) -> str:
        return ""  # the description (seed, size, start, interval) fixes the bars

    def _read(self) -> pa.Table:
        return pa.Table.from_pandas(
            synthetic_bars(self.bars, self.seed, self.start, self.interval, self.price),
            preserve_index=False,
        )

    def load(self) -> pa.Table:
        table = normalize_bars(self._read(), self.symbol, self.name)
        return sort_bars(table)


def synthetic_bars(
    bars: int, seed: int = 7, start: str = "2020-01-01", interval: str = "1D", price: float = 100.0
) -> pd.DataFrame:
    """OHLCV bars from a seeded geometric random walk, valid by construction.

    Examples
    --------
    >>> df = synthetic_bars(500, seed=1)
    >>> list(df.columns)
    ['ts', 'open', 'high', 'low', 'close', 'volume']
    """
    rng = np.random.default_rng(seed)
    ret = rng.normal(0.0002, 0.015, bars)
    close = price * np.exp(np.cumsum(ret))
    open_ = np.empty(bars)
    open_[0] = price
    open_[1:] = close[:-1] * np.exp(rng.normal(0, 0.003, bars - 1))
    wick_hi = np.abs(rng.normal(0, 0.006, bars))
    wick_lo = np.abs(rng.normal(0, 0.006, bars))
    high = np.maximum(open_, close) * (1 + wick_hi)
    low = np.minimum(open_, close) * (1 - wick_lo)
    # Round to a cent like real quotes; re-impose the OHLC order afterwards.
    open_, high, low, close = (np.round(a, 2) for a in (open_, high, low, close))
    high = np.maximum.reduce([high, open_, close])
    low = np.minimum.reduce([low, open_, close])
    volume = rng.integers(1_000, 100_000, bars).astype(np.float64)
    ts = pd.date_range(start, periods=bars, freq=interval, tz="UTC")
    return pd.DataFrame(
        {"ts": ts, "open": open_, "high": high, "low": low, "close": close, "volume": volume}
    )


def table_digest(table: pa.Table) -> str:
    """blake2b over a table's schema and column buffers: equal tables, equal digests."""
    h = hashlib.blake2b(digest_size=32)
    h.update(table.schema.to_string().encode())
    for col in table.columns:
        for chunk in col.chunks:
            # A slice shares its parent's buffers: its offset and length tell it apart.
            h.update(f"{chunk.offset}:{len(chunk)}".encode())
            for buf in chunk.buffers():
                if buf is not None:
                    h.update(memoryview(buf))
    return h.hexdigest()


def _symbols_of(df: pd.DataFrame) -> list[str]:
    for c in df.columns:
        if str(c).lower() == "symbol":
            return sorted(map(str, pd.unique(df[c])))
    return [DEFAULT_SYMBOL]


def from_pandas(df: pd.DataFrame, symbol: str | None = None) -> Feed:
    """Bars from a pandas DataFrame (ts column or DatetimeIndex, OHLCV columns).

    Examples
    --------
    >>> feed = sb.feeds.from_pandas(df, symbol="GOOG")  # doctest: +SKIP
    """
    return PandasFeed(df, symbol)


def from_arrow(table: pa.Table, symbol: str | None = None) -> Feed:
    """Bars from a pyarrow Table (or anything with the same columns)."""
    return ArrowFeed(table, symbol)


def from_csv(path: str | Path, symbol: str | None = None) -> Feed:
    """Bars from a CSV file with a header row."""
    return CsvFeed(path, symbol)


def from_parquet(path: str | Path, symbol: str | None = None) -> Feed:
    """Bars from a Parquet file or dataset directory."""
    return ParquetFeed(path, symbol)


def synthetic(
    symbol: str = "SYN",
    bars: int = 2_000,
    seed: int = 7,
    start: str = "2020-01-01",
    interval: str = "1D",
    price: float = 100.0,
) -> Feed:
    """Deterministic random-walk bars: the same arguments give the same bars on every machine."""
    return SyntheticFeed(symbol, bars, seed, start, interval, price)

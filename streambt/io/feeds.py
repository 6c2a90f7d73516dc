"""Feeds: where bars come from, selected, validated and normalized to one Arrow schema.

Every feed loads to :data:`BAR_SCHEMA` (``symbol``, ``ts`` as UTC
microseconds, float64 OHLCV; :mod:`streambt.io.schema` maps raw tables onto
it), restricted to its time range and warm-up, checked under its policy
(:mod:`streambt.io.validation`) and ordered by (symbol, ts). Parquet datasets
(:mod:`streambt.io.parquet`), database tables (:mod:`streambt.io.table`) and
polars frames (:mod:`streambt.io.polars_feed`) push the columns and the range
down to the source. docs/data.md is the user's guide.
"""

from __future__ import annotations

import copy
import hashlib
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypedDict, Unpack

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from ..errors import DataError, InvalidParameterError, did_you_mean
from ..graph.ids import digest
from .policy import Policy
from .report import DataWarning, ValidationReport
from .schema import (
    BAR_SCHEMA,
    DEFAULT_SYMBOL,
    TS_ALIASES,
    TS_TYPE,
    _arrow_column,
    _to_utc,
    bar_columns,
    normalize,
    normalize_bars,
)
from .validation import check_bars

__all__ = [
    "BAR_SCHEMA",
    "DEFAULT_SYMBOL",
    "TS_ALIASES",
    "TS_TYPE",
    "Feed",
    "FeedOptions",
    "bar_columns",
    "normalize_bars",
    "sort_bars",
]


class FeedOptions(TypedDict, total=False):
    """The selection and validation keywords of every ``sb.feeds.from_*``; see :class:`Feed`."""

    start: Any
    end: Any
    warmup: int | str | timedelta | None
    policy: Policy | Mapping[str, str] | None
    interval: str | timedelta | None


class Feed(ABC):
    """A source of bars. ``describe()`` feeds the data node's id; ``load()`` the rows.

    Every feed takes the same selection and validation options (keyword
    arguments of every ``sb.feeds.from_*``, or :meth:`window` afterwards):

    - ``start``, ``end``: the half-open time range ``[start, end)`` to trade;
      strings, datetimes or pandas Timestamps, naive ones taken as UTC.
    - ``warmup``: bars loaded before ``start`` so indicators are ready there:
      an int (that many bars of each symbol) or a duration (``"30D"``,
      ``"2h"``). The loaded table includes them; :attr:`start` tells where
      trading may begin.
    - ``policy``: what to do with bad bars, a dict ``{check: policy}`` or a
      :class:`~streambt.io.policy.Policy` (docs/data.md lists the checks).
    - ``interval``: the bar interval (``"1min"``, ``"1D"``) for the gaps
      check; by default the median step of each symbol.
    """

    symbol: str | None
    start: pd.Timestamp | None = None
    end: pd.Timestamp | None = None
    warmup: int | pd.Timedelta | None = None
    policy: Policy = Policy()
    interval: pd.Timedelta | None = None
    #: ``_read(lo, hi)`` pushes the time range down to the source
    pushdown: bool = False
    #: bars valid by construction: loading skips the checks
    trusted: bool = False

    def _configure(
        self,
        start: Any = None,
        end: Any = None,
        warmup: int | str | timedelta | None = None,
        policy: Policy | Mapping[str, str] | None = None,
        interval: str | timedelta | None = None,
        **unknown: Any,
    ) -> None:
        if unknown:
            # the from_* functions pass their keywords on: name the feed and the choices
            name, known = next(iter(unknown)), list(FeedOptions.__annotations__)
            raise TypeError(
                f"{type(self).__name__}: unknown option {name!r}; feeds take "
                f"{', '.join(known)}.{did_you_mean(name, known)}"
            )
        self.start = _instant(start, "start")
        self.end = _instant(end, "end")
        if self.start is not None and self.end is not None and self.end <= self.start:
            raise InvalidParameterError(
                f"{type(self).__name__}: end {self.end.isoformat()} is not after start "
                f"{self.start.isoformat()}; the range is [start, end)"
            )
        self.warmup = _warmup(warmup)
        if self.warmup is not None and self.start is None:
            raise InvalidParameterError(
                f"warmup={warmup!r} needs start=: the warm-up is loaded before the start"
            )
        self.policy = Policy.coerce(policy)
        self.interval = _duration(interval, "interval") if interval is not None else None

    def window(
        self, start: Any = None, end: Any = None, warmup: int | str | timedelta | None = None
    ) -> Feed:
        """A copy of this feed restricted to ``[start, end)`` with ``warmup`` bars before ``start``.

        Examples
        --------
        >>> feed = sb.feeds.from_parquet("bars/").window("2024-01-01", "2024-07-01", warmup=200)  # doctest: +SKIP
        >>> feed.start                                                                            # doctest: +SKIP
        Timestamp('2024-01-01 00:00:00+0000', tz='UTC')
        """
        out = copy.copy(self)
        out._configure(start, end, warmup, self.policy, self.interval)
        return out

    def with_policy(
        self,
        policy: Policy | Mapping[str, str] | None = None,
        interval: str | timedelta | None = None,
    ) -> Feed:
        """A copy of this feed with another validation policy (and bar interval for the gaps check)."""
        out = copy.copy(self)
        out.policy = Policy.coerce(policy)
        out.interval = _duration(interval, "interval") if interval is not None else None
        return out

    def describe(self) -> dict[str, Any]:
        """What identifies this feed in a graph (kind, location, symbol, selection, policy)."""
        d = self._describe()
        if self.start is not None:
            d["start"] = self.start.isoformat()
        if self.end is not None:
            d["end"] = self.end.isoformat()
        if self.warmup is not None:
            d["warmup"] = self.warmup if isinstance(self.warmup, int) else str(self.warmup)
        if self.interval is not None:
            d["interval"] = str(self.interval)
        changes = self.policy.changes()
        if changes:
            d["policy"] = changes
        return d

    @abstractmethod
    def _describe(self) -> dict[str, Any]:
        """The source's own identity (kind, location, symbol)."""

    @abstractmethod
    def _read(self, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None) -> pa.Table:
        """The raw table, before normalization; a ``pushdown`` feed reads only ``[lo, hi)``."""

    def _read_times(self, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pa.Table:
        """Raw symbol and time columns of ``[lo, hi)`` (for the warm-up bound); override to read less."""
        return self._read(lo, hi)

    def fingerprint(self) -> str:
        """A digest that changes whenever the feed's rows would change (for the factor cache)."""
        return digest({"describe": self.describe(), "content": self._content_digest()})

    def _content_digest(self) -> str:
        return table_digest(self._read())

    @property
    def name(self) -> str:
        d = self._describe()
        where = d.get("path") or d.get("table") or d.get("symbol") or ",".join(d.get("symbols", []))
        return f"{d['kind']} feed {where}".strip()

    def load(self) -> pa.Table:
        """Read the selected range (with its warm-up), normalize to :data:`BAR_SCHEMA`, apply the
        validation policy, and order by (symbol, ts).

        Raises :class:`DataError` for a check whose policy is ``error``; rows
        dropped, repaired or kept on a policy are reported with a
        :class:`~streambt.io.report.DataWarning`.
        """
        table, report = self._checked(raise_errors=True, want_report=False)
        if report is not None and report.reported:
            warnings.warn(report.summary(), DataWarning, stacklevel=2)
        return table

    def validate(self) -> ValidationReport:
        """Run every check on the selected rows and report, without raising or loading anywhere.

        Examples
        --------
        >>> report = sb.feeds.from_csv("bars.csv").validate()  # doctest: +SKIP
        >>> print(report)                                        # doctest: +SKIP
        """
        _, report = self._checked(raise_errors=False, want_report=True)
        assert report is not None
        return report

    def _checked(
        self, raise_errors: bool, want_report: bool
    ) -> tuple[pa.Table, ValidationReport | None]:
        table, tz_note = self._selected()
        if (
            table.num_rows == 0
            and raise_errors
            and (self.start is not None or self.end is not None)
        ):
            raise DataError(f"{self.name}: no bars in {self._range_text()}; widen the range")
        if self.trusted:
            out = self._trim(sort_bars(table))
            empty = ValidationReport.empty(self.name, self.policy, out.num_rows)
            return out, empty if want_report else None
        out, report = check_bars(
            table,
            self.name,
            self.policy,
            interval_us=_us(self.interval) if self.interval is not None else None,
            tz_note=tz_note,
            single_symbol=self.symbol is not None,
            raise_errors=raise_errors,
            want_report=want_report,
        )
        out = self._trim(out)
        if report is not None:
            report.rows_out = out.num_rows
        if out.num_rows == 0 and raise_errors:
            raise DataError(f"{self.name}: no bars in {self._range_text()}; widen the range")
        return out, report

    # -- the selection ------------------------------------------------------
    def _range_text(self) -> str:
        lo = self.start.isoformat() if self.start is not None else "the beginning"
        hi = self.end.isoformat() if self.end is not None else "the end"
        return f"[{lo}, {hi})"

    def _selected(self) -> tuple[pa.Table, str | None]:
        """The normalized rows of ``[start - warm-up, end)``, and the raw time column's zone note."""
        lo = self.start
        if self.warmup is not None and self.start is not None:
            if isinstance(self.warmup, int):
                lo = self._warmup_bound(self.start, self.warmup) if self.pushdown else None
            else:
                lo = self.start - self.warmup
        raw = self._read(lo, self.end) if self.pushdown else self._read()
        table, tz_note = normalize(raw, self.symbol, self.name)
        return _in_range(table, lo, self.end), tz_note

    def _warmup_bound(self, start: pd.Timestamp, bars: int) -> pd.Timestamp:
        """The earliest time to read so that each symbol trading in [start, end) gets ``bars``
        earlier bars: reads only times, looking back further until enough are found."""
        sym, ts = _times(self._read_times(start, self.end), self.symbol, self.name)
        if ts.size == 0:
            return start
        wanted = set(np.unique(sym).tolist())
        if self.interval is not None:
            step = _us(self.interval)
        else:
            first = np.sort(ts[sym == sym[0]])
            step = int(np.median(np.diff(first))) if first.size > 1 else 86_400_000_000
        lookback = max(step, 1) * (bars + 1) * 2
        start_us = _us_of(start)
        for _ in range(6):
            lo = pd.Timestamp(start_us - lookback, unit="us", tz="UTC")
            bound = _nth_last(
                *_times(self._read_times(lo, start), self.symbol, self.name), wanted, bars
            )
            if bound is not None:
                return pd.Timestamp(bound, unit="us", tz="UTC")
            lookback *= 4
        sym, ts = _times(self._read_times(None, start), self.symbol, self.name)
        bound = _nth_last(sym, ts, wanted, bars, complete=False)
        return start if bound is None else pd.Timestamp(bound, unit="us", tz="UTC")

    def _trim(self, table: pa.Table) -> pa.Table:
        """Keep the warm-up (``warmup`` bars or duration before ``start``) of the symbols that
        have bars in ``[start, end)``; ``table`` is ordered by (symbol, ts)."""
        if self.start is None or table.num_rows == 0:
            return table
        ts = table.column("ts").cast(pa.int64()).to_numpy()
        warm = ts < _us_of(self.start)
        if not warm.any():
            return table
        sym = pc.dictionary_encode(table.column("symbol")).combine_chunks()
        codes = sym.indices.to_numpy(zero_copy_only=False)
        n_codes = len(sym.dictionary)
        in_window = np.bincount(codes, weights=~warm, minlength=n_codes) > 0
        keep = in_window[codes]
        if isinstance(self.warmup, int):
            n_warm = np.bincount(codes, weights=warm, minlength=n_codes).astype(np.int64)
            starts = np.r_[0, np.flatnonzero(codes[1:] != codes[:-1]) + 1]
            block_start = np.repeat(starts, np.diff(np.r_[starts, codes.size]))
            pos = np.arange(codes.size) - block_start
            keep &= ~warm | (pos >= n_warm[codes] - self.warmup)
        return table if keep.all() else table.filter(pa.array(keep))


def _instant(value: Any, what: str) -> pd.Timestamp | None:
    if value is None:
        return None
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(
            f"{what}={value!r} is not a time; pass an ISO 8601 string such as '2024-01-02' "
            "or a datetime"
        ) from exc
    if ts is pd.NaT:
        raise InvalidParameterError(f"{what}={value!r} is not a time")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _duration(value: Any, what: str) -> pd.Timedelta:
    try:
        out = pd.Timedelta(value)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(
            f"{what}={value!r} is not a duration; pass e.g. '1min', '1h', '1D' or '30D'"
        ) from exc
    if out is pd.NaT or out <= pd.Timedelta(0):
        raise InvalidParameterError(f"{what}={value!r}: the duration must be positive")
    return out


def _warmup(value: Any) -> int | pd.Timedelta | None:
    if value is None:
        return None
    if isinstance(value, bool) or (isinstance(value, int) and value < 0):
        raise InvalidParameterError(
            f"warmup={value!r}: pass a number of bars (e.g. 200) or a duration (e.g. '30D')"
        )
    if isinstance(value, int):
        return value or None
    return _duration(value, "warmup")


def _us(delta: pd.Timedelta) -> int:
    return int(delta.value // 1000)


def _us_of(ts: pd.Timestamp) -> int:
    return int(ts.value // 1000)


def _in_range(table: pa.Table, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pa.Table:
    if lo is None and hi is None:
        return table
    ts = table.column("ts")
    mask = None
    if lo is not None:
        mask = pc.greater_equal(ts, pa.scalar(lo.to_pydatetime(), TS_TYPE))
    if hi is not None:
        upper = pc.less(ts, pa.scalar(hi.to_pydatetime(), TS_TYPE))
        mask = upper if mask is None else pc.and_(mask, upper)
    # Rows without a time stay: the nulls check reports them.
    return table.filter(pc.or_(mask, pc.is_null(ts)))


def _times(raw: pa.Table, symbol: str | None, feed: str) -> tuple[np.ndarray, np.ndarray]:
    """Symbols and UTC microseconds of a raw table (for the warm-up bound)."""
    by_lower = {n.lower(): n for n in reversed(raw.column_names)}
    ts_name = next((by_lower[a] for a in TS_ALIASES if a in by_lower), None)
    if ts_name is None:
        raise DataError(f"{feed}: no time column; expected one of {', '.join(TS_ALIASES)}")
    ts_col, _ = _to_utc(raw.column(ts_name), feed)
    ok = pc.is_valid(ts_col)
    ts = ts_col.filter(ok).cast(pa.int64()).to_numpy()
    if "symbol" in by_lower:
        sym = np.asarray(raw.column(by_lower["symbol"]).filter(ok).to_pylist(), dtype=object)
    else:
        sym = np.full(ts.size, symbol or DEFAULT_SYMBOL, dtype=object)
    return sym, ts


def _nth_last(
    sym: np.ndarray, ts: np.ndarray, wanted: set[str], bars: int, complete: bool = True
) -> int | None:
    """The earliest of each wanted symbol's ``bars``-th last distinct time, or None when a
    symbol has fewer (with ``complete=False``: its earliest time instead)."""
    bound: int | None = None
    for s in wanted:
        times = np.unique(ts[sym == s])
        if times.size < bars:
            if complete:
                return None
            if times.size == 0:
                continue
            t = int(times[0])
        else:
            t = int(times[-bars])
        bound = t if bound is None else min(bound, t)
    return bound


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


class PandasFeed(Feed):
    def __init__(self, df: pd.DataFrame, symbol: str | None = None, **options: Any) -> None:
        if not isinstance(df, pd.DataFrame):
            raise DataError(f"from_pandas expects a pandas DataFrame, got {type(df).__name__}")
        self.df = df
        self.symbol = symbol
        self._configure(**options)

    def _describe(self) -> dict[str, Any]:
        syms = [self.symbol] if self.symbol else _symbols_of(self.df)
        return {"kind": "pandas", "symbols": syms}

    def _read(self, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None) -> pa.Table:
        df = self.df
        if isinstance(df.index, pd.DatetimeIndex) and not any(
            str(c).lower() in TS_ALIASES for c in df.columns
        ):
            df = df.rename_axis("ts").reset_index()
        return pa.table({str(c): _arrow_column(df[c]) for c in df.columns})


class ArrowFeed(Feed):
    def __init__(self, table: pa.Table, symbol: str | None = None, **options: Any) -> None:
        if isinstance(table, pa.RecordBatch):
            table = pa.Table.from_batches([table])
        self.table = table
        self.symbol = symbol
        self._configure(**options)

    def _describe(self) -> dict[str, Any]:
        return {"kind": "arrow", "symbols": _arrow_symbols(self.table, self.symbol)}

    def _read(self, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None) -> pa.Table:
        return self.table


def _arrow_symbols(table: pa.Table, symbol: str | None) -> list[str]:
    if symbol:
        return [symbol]
    for c in table.column_names:
        if c.lower() == "symbol":
            return sorted(map(str, pc.unique(table.column(c)).to_pylist()))
    return [DEFAULT_SYMBOL]


class FileFeed(Feed):
    kind = "file"

    def __init__(self, path: str | Path, symbol: str | None = None, **options: Any) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise DataError(f"{self.kind} feed: {self.path} does not exist; check the path")
        self.symbol = symbol
        self._configure(**options)

    def _describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "path": self.path.name, "symbol": self.symbol}

    def _content_digest(self) -> str:
        # Size and modification time stand for the content: hashing a large
        # file on every run would cost what the cache saves.
        st = self.path.stat()
        return digest([str(self.path.resolve()), st.st_size, st.st_mtime_ns])


class CsvFeed(FileFeed):
    kind = "csv"

    def _read(self, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None) -> pa.Table:
        try:
            return pacsv.read_csv(self.path)
        except pa.ArrowInvalid as exc:
            raise DataError(f"csv feed {self.path}: cannot parse ({exc})") from exc


class SyntheticFeed(Feed):
    """Deterministic geometric random-walk bars (the examples' data)."""

    trusted = True

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
        self.bars, self.seed, self.first, self.step, self.price = (
            bars,
            seed,
            start,
            interval,
            price,
        )

    def _describe(self) -> dict[str, Any]:
        return {
            "kind": "synthetic",
            "symbol": self.symbol,
            "bars": self.bars,
            "seed": self.seed,
            "start": self.first,
            "interval": self.step,
            "price": self.price,
        }

    def describe(self) -> dict[str, Any]:
        # The generator's own start/interval keep their keys; a window is named apart.
        d = self._describe()
        window = {k: v for k, v in super().describe().items() if k not in d or d[k] != v}
        if window:
            d["window"] = {k: v for k, v in window.items() if k not in ("kind", "symbol")}
        return d

    def _content_digest(self) -> str:
        return ""  # the description (seed, size, start, interval) fixes the bars

    def _read(self, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None) -> pa.Table:
        return pa.Table.from_pandas(
            synthetic_bars(self.bars, self.seed, self.first, self.step, self.price),
            preserve_index=False,
        )


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


def from_pandas(
    df: pd.DataFrame,
    symbol: str | None = None,
    **options: Unpack[FeedOptions],
) -> Feed:
    """Bars from a pandas DataFrame (ts column or DatetimeIndex, OHLCV columns).

    ``start``/``end``/``warmup``/``policy``/``interval`` are those of :class:`Feed`.

    Examples
    --------
    >>> feed = sb.feeds.from_pandas(df, symbol="GOOG")  # doctest: +SKIP
    >>> feed = sb.feeds.from_pandas(df, symbol="GOOG", start="2010-01-01", warmup=50)  # doctest: +SKIP
    """
    return PandasFeed(df, symbol, **options)


def from_arrow(
    table: pa.Table,
    symbol: str | None = None,
    **options: Unpack[FeedOptions],
) -> Feed:
    """Bars from a pyarrow Table (or anything with the same columns)."""
    return ArrowFeed(table, symbol, **options)


def from_polars(
    frame: Any,
    symbol: str | None = None,
    **options: Unpack[FeedOptions],
) -> Feed:
    """Bars from a polars DataFrame or LazyFrame.

    A LazyFrame is collected with only the bar columns and the time range
    (``[start - warmup, end)``) pushed into its plan.

    Examples
    --------
    >>> feed = sb.feeds.from_polars(pl.scan_parquet("bars/*.parquet"), start="2024-01-01")  # doctest: +SKIP
    """
    from .polars_feed import PolarsFeed

    return PolarsFeed(frame, symbol, **options)


def from_csv(
    path: str | Path,
    symbol: str | None = None,
    **options: Unpack[FeedOptions],
) -> Feed:
    """Bars from a CSV file with a header row.

    Examples
    --------
    >>> feed = sb.feeds.from_csv("bars.csv", policy={"gaps": "error", "duplicates": "drop"})  # doctest: +SKIP
    """
    return CsvFeed(path, symbol, **options)


def from_parquet(
    path: str | Path,
    symbol: str | None = None,
    *,
    symbols: Sequence[str] | None = None,
    partitioning: str | Sequence[str] | None = None,
    **options: Unpack[FeedOptions],
) -> Feed:
    """Bars from a Parquet file or a dataset directory, read lazily.

    Only the bar columns are read, and only the rows of ``symbols`` and of
    ``[start - warmup, end)``: the filter goes down to the partitions
    (``symbol=AAA/date=2024-01-02/...`` hive folders, or plain ``AAA/2024-01-02/``
    folders) and to the row groups. ``partitioning`` is ``"hive"``, a list of
    the folder levels' names (``["symbol", "date"]``), or None to infer it.

    Examples
    --------
    >>> feed = sb.feeds.from_parquet("bars/", symbols=["AAA"], start="2024-03-01", warmup="30D")  # doctest: +SKIP
    """
    from .parquet import ParquetFeed

    return ParquetFeed(
        path,
        symbol,
        symbols=symbols,
        partitioning=partitioning,
        **options,
    )


def from_table(
    source: Any,
    table: str,
    symbol: str | None = None,
    *,
    symbols: Sequence[str] | None = None,
    **options: Unpack[FeedOptions],
) -> Feed:
    """Bars from a database table through Ibis (DuckDB, PostgreSQL, any Ibis backend).

    ``source`` is an Ibis connection (``ibis.duckdb.connect("bars.db")``,
    ``ibis.postgres.connect(...)``) or a URL (``"duckdb:///bars.db"``,
    ``"postgres://user@127.0.0.1:5432/db"``). The bar columns, ``symbols``
    and the time range are pushed down as one Ibis select/filter; the
    result is fetched as Arrow.

    Examples
    --------
    >>> feed = sb.feeds.from_table("duckdb:///bars.db", "bars", start="2024-01-01")  # doctest: +SKIP
    """
    from .table import TableFeed

    return TableFeed(
        source,
        table,
        symbol,
        symbols=symbols,
        **options,
    )


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

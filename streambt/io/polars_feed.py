"""Polars frames as feeds: a LazyFrame gets the bar columns and the time range pushed into its plan."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow as pa

from ..errors import DataError
from .feeds import DEFAULT_SYMBOL, Feed, table_digest
from .schema import bar_columns


class PolarsFeed(Feed):
    """Bars from a polars DataFrame or LazyFrame; a LazyFrame gets the columns and range pushed down."""

    pushdown = True

    def __init__(self, frame: Any, symbol: str | None = None, **options: Any) -> None:
        try:
            import polars as pl
        except ImportError as exc:  # pragma: no cover - polars is a dev dependency
            raise DataError('from_polars needs polars: pip install "streambt[polars]"') from exc
        if not isinstance(frame, pl.DataFrame | pl.LazyFrame):
            raise DataError(
                f"from_polars expects a polars DataFrame or LazyFrame, got {type(frame).__name__}"
            )
        self.frame = frame
        self.symbol = symbol
        self._configure(**options)

    def _describe(self) -> dict[str, Any]:
        import polars as pl

        if self.symbol:
            syms = [self.symbol]
        elif isinstance(self.frame, pl.DataFrame):
            col = next((c for c in self.frame.columns if c.lower() == "symbol"), None)
            syms = (
                sorted(map(str, self.frame.get_column(col).unique().to_list()))
                if col is not None
                else [DEFAULT_SYMBOL]
            )
        else:
            syms = ["lazy"]
        return {"kind": "polars", "symbols": syms}

    def _content_digest(self) -> str:
        return table_digest(self._read(self.start, self.end))

    def _read(self, lo: pd.Timestamp | None = None, hi: pd.Timestamp | None = None) -> pa.Table:
        return self._scan(lo, hi, times_only=False)

    def _read_times(self, lo: pd.Timestamp | None, hi: pd.Timestamp | None) -> pa.Table:
        return self._scan(lo, hi, times_only=True)

    def _scan(self, lo: pd.Timestamp | None, hi: pd.Timestamp | None, times_only: bool) -> pa.Table:
        import polars as pl

        lf = self.frame.lazy()
        schema = lf.collect_schema()
        names = bar_columns(list(schema.names()), times_only)
        if names is None:  # let normalization name what is missing
            return lf.head(0).collect().to_arrow()
        lf = lf.select(names)
        ts_name = names[1] if names[0].lower() == "symbol" else names[0]
        dtype = schema[ts_name]
        if isinstance(dtype, pl.Datetime):
            for bound, op in ((lo, "ge"), (hi, "lt")):
                if bound is None:
                    continue
                value = bound.to_pydatetime()
                if dtype.time_zone is None:
                    value = value.replace(tzinfo=None)
                lit = pl.lit(value).cast(dtype)
                col = pl.col(ts_name)
                lf = lf.filter(col.ge(lit) if op == "ge" else col.lt(lit))
        return lf.collect().to_arrow(compat_level=pl.CompatLevel.oldest())
